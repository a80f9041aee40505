"""ONNX inpainting models from a local file: LaMa and MI-GAN style graphs.

Expected signature (LaMa exports such as Carve/LaMa-ONNX): inputs ``image`` float32
[1, 3, H, W] RGB in [0, 1] and ``mask`` float32 [1, 1, H, W] (1 = hole), output float32
[1, 3, H, W] in [0, 1] or in [0, 255] (detected from the values). A graph with fixed H and
W (LaMa: 512) gets its crop resized to that size; a dynamic graph gets it padded to a
multiple of 8. ``uint8`` inputs (MI-GAN pipeline exports) are fed 0..255 with the mask
inverted (255 = keep), as those pipelines expect — that path is untested here because no
MI-GAN file is available on this machine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from productstudio.errors import BackendError
from productstudio.models.inpainters.base import Inpainter, SizeRule
from productstudio.models.onnx_runtime import get_session, run


def _fixed_side(shape: list[Any]) -> int | None:
    h, w = shape[-2], shape[-1]
    if isinstance(h, int) and isinstance(w, int) and h > 0 and h == w:
        return h
    return None


class OnnxInpainter(Inpainter):
    """An ONNX inpainting graph with the LaMa input/output signature.

    Args:
        name: registry name for messages (``lama``, ``migan``).
        path: the .onnx file.
    """

    def __init__(self, name: str, path: str | Path) -> None:
        self.name = name
        self.path = Path(path)
        self.session = get_session(self.path)
        inputs = self.session.get_inputs()
        if len(inputs) != 2:
            raise BackendError(
                f'"{self.path}" has {len(inputs)} inputs; an inpainting model needs two '
                "(image [1,3,H,W] and mask [1,1,H,W])"
            )
        by_rank = sorted(inputs, key=lambda i: -(i.shape[1] if isinstance(i.shape[1], int) else 0))
        self.image_input, self.mask_input = by_rank[0], by_rank[1]
        self.uint8_io = "uint8" in str(self.image_input.type)
        self.output_name = self.session.get_outputs()[0].name
        fixed = _fixed_side(list(self.image_input.shape))
        self.size = (
            SizeRule(multiple_of=8, fixed=fixed)
            if fixed
            else SizeRule(multiple_of=8, max_side=1024)
        )

    def run(self, rgb: NDArray[np.float32], hole: NDArray[np.bool_]) -> NDArray[np.float32]:
        img = rgb.transpose(2, 0, 1)[None]
        msk = hole.astype(np.float32)[None, None]
        if self.uint8_io:
            feed = {
                self.image_input.name: np.clip(np.rint(img * 255), 0, 255).astype(np.uint8),
                self.mask_input.name: ((1.0 - msk) * 255).astype(np.uint8),
            }
        else:
            feed = {
                self.image_input.name: np.ascontiguousarray(img, np.float32),
                self.mask_input.name: np.ascontiguousarray(msk, np.float32),
            }
        out = run(self.session, feed, model=self.path, outputs=[self.output_name])[0]
        res = np.asarray(out, np.float32)
        if res.ndim != 4 or res.shape[1] != 3:
            raise BackendError(f'inpainting model "{self.path}" returned shape {res.shape}')
        res = res[0].transpose(1, 2, 0)
        if self.uint8_io or float(res.max()) > 2.0:
            res = res / 255.0
        return np.clip(res, 0.0, 1.0).astype(np.float32)
