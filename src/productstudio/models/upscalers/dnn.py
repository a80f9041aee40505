"""OpenCV ``dnn_superres`` models (FSRCNN, FSRCNN-small, ESPCN, LapSRN TensorFlow graphs).

The graphs upscale the luma channel; chroma is upscaled bicubically, as OpenCV's
``DnnSuperResImpl`` does. Running the graph ourselves on float luma (instead of
``DnnSuperResImpl.upsample`` on uint8) keeps 16-bit input 16-bit. A backend is given one
weights file (e.g. ``FSRCNN_x2.pb``) and finds its other factors beside it.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from productstudio.errors import BackendError, MissingDependencyError, WeightsNotFoundError
from productstudio.models.upscalers.base import Upscaler

# registry name -> (file prefix, native factors)
DNN_MODELS: dict[str, tuple[str, tuple[int, ...]]] = {
    "fsrcnn": ("FSRCNN", (2, 3, 4)),
    "fsrcnn-small": ("FSRCNN-small", (2, 3, 4)),
    "espcn": ("ESPCN", (2, 3, 4)),
    "lapsrn": ("LapSRN", (2, 4, 8)),
}


def dnn_file_names(name: str) -> tuple[str, ...]:
    prefix, scales = DNN_MODELS[name]
    return tuple(f"{prefix}_x{s}.pb" for s in scales)


def _register_layers() -> None:
    """Creating a ``DnnSuperResImpl`` registers the custom layers (DepthToSpace) the graphs use."""
    sr = getattr(cv2, "dnn_superres", None)
    if sr is None:
        raise MissingDependencyError(
            "OpenCV's dnn_superres module is missing: another package replaced "
            "opencv-contrib-python-headless. Fix: pip uninstall -y opencv-python "
            "opencv-python-headless && pip install --force-reinstall -c constraints.txt "
            "opencv-contrib-python-headless"
        )
    sr.DnnSuperResImpl_create()


class DnnSuperRes(Upscaler):
    """One OpenCV super-resolution family; see the module docstring.

    Args:
        name: ``fsrcnn``, ``fsrcnn-small``, ``espcn`` or ``lapsrn``.
        path: any one of the family's ``.pb`` files; the others are looked up beside it.
    """

    def __init__(self, name: str, path: str | Path) -> None:
        self.name = name
        prefix, scales = DNN_MODELS[name]
        p = Path(path)
        m = re.search(r"_x(\d+)\.pb$", p.name)
        self.files: dict[int, Path] = {}
        for s in scales:
            f = p.with_name(f"{prefix}_x{s}.pb")
            if f.is_file():
                self.files[s] = f
        if m and p.is_file():
            self.files[int(m.group(1))] = p
        if not self.files:
            raise WeightsNotFoundError(f'no {prefix}_x*.pb found beside "{p}"')
        self.native_scales = tuple(sorted(self.files))
        self._nets: dict[int, Any] = {}
        self._lock = threading.Lock()

    def _net(self, scale: int) -> Any:
        _register_layers()
        with self._lock:
            net = self._nets.get(scale)
            if net is None:
                try:
                    net = cv2.dnn.readNetFromTensorflow(
                        str(self.files[scale]), "", cv2.dnn.ENGINE_CLASSIC
                    )
                except cv2.error as exc:
                    raise BackendError(f'OpenCV cannot read "{self.files[scale]}": {exc}') from exc
                self._nets[scale] = net
            return net

    def run(self, tile: NDArray[np.float32], scale: int) -> NDArray[np.float32]:
        ycc = cv2.cvtColor(np.ascontiguousarray(tile, np.float32), cv2.COLOR_RGB2YCrCb)
        h, w = tile.shape[:2]
        net = self._net(scale)
        with self._lock:  # cv2.dnn.Net is not safe to share between threads
            net.setInput(cv2.dnn.blobFromImage(np.ascontiguousarray(ycc[..., 0])))
            names = list(net.getUnconnectedOutLayersNames())
            outs = net.forward(names)
        ys = [o for o in outs if o.shape[-2:] == (h * scale, w * scale)]
        if not ys:
            raise BackendError(f"{self.name} x{scale} returned {[o.shape for o in outs]}")
        y = ys[-1][0, 0]
        crcb = cv2.resize(ycc[..., 1:], (w * scale, h * scale), interpolation=cv2.INTER_CUBIC)
        rgb = cv2.cvtColor(np.dstack([y, crcb]).astype(np.float32), cv2.COLOR_YCrCb2RGB)
        return np.clip(rgb, 0.0, 1.0)
