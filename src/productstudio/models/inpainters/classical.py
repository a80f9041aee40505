"""OpenCV's classical inpainters (Telea fast marching, Navier-Stokes) as registry backends."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from productstudio.models.inpainters.base import Inpainter
from productstudio.ops.inpaint import InpaintMethod, cv_inpaint


class ClassicalInpainter(Inpainter):
    """Telea or Navier-Stokes on 16-bit channels (16-bit safe, no weights).

    Args:
        method: :class:`InpaintMethod`.
        radius: neighbourhood radius in px.
    """

    def __init__(self, method: InpaintMethod = InpaintMethod.TELEA, radius: int = 5) -> None:
        self.method = InpaintMethod(method)
        self.radius = int(radius)
        self.name = self.method.value

    def run(self, rgb: NDArray[np.float32], hole: NDArray[np.bool_]) -> NDArray[np.float32]:
        out: NDArray[np.float32] = cv_inpaint(rgb, hole, self.method, self.radius)
        return out
