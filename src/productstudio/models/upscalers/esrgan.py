"""Real-ESRGAN general x4 v3 (SRVGGNetCompact) from a local ONNX file.

Input ``input`` float32 [1, 3, H, W] RGB in [0, 1], any size; output [1, 3, 4H, 4W]. A
perceptual model: sharper than bicubic to the eye, usually *lower* PSNR.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from productstudio.errors import BackendError
from productstudio.models.onnx_runtime import get_session, run
from productstudio.models.upscalers.base import Upscaler


class OnnxUpscaler(Upscaler):
    """A fixed-factor ONNX super-resolution graph (NCHW float in [0, 1])."""

    tile = 192
    overlap = 12

    def __init__(self, name: str, path: str | Path, scale: int = 4) -> None:
        self.name = name
        self.path = Path(path)
        self.native_scales = (scale,)
        self.session = get_session(self.path)
        self.input_name = self.session.get_inputs()[0].name
        self.output_name = self.session.get_outputs()[0].name

    def run(self, tile: NDArray[np.float32], scale: int) -> NDArray[np.float32]:
        x = np.ascontiguousarray(tile.transpose(2, 0, 1)[None], np.float32)
        y = run(self.session, {self.input_name: x}, model=self.path, outputs=[self.output_name])[0]
        out = np.asarray(y, np.float32)[0].transpose(1, 2, 0)
        h, w = tile.shape[:2]
        if out.shape != (h * scale, w * scale, 3):
            raise BackendError(f'upscaler "{self.path}" returned {out.shape} for {tile.shape}')
        return np.clip(out, 0.0, 1.0)
