"""OpenCV's classical inpainters (Telea fast marching, Navier-Stokes) as registry backends."""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

from productstudio.models.inpainters.base import Inpainter
from productstudio.ops.inpaint import InpaintMethod


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
        flag = cv2.INPAINT_TELEA if self.method is InpaintMethod.TELEA else cv2.INPAINT_NS
        m8 = hole.astype(np.uint8) * 255
        # OpenCV's float32 path assumes 0..255 values; 16-bit channels are exact for 8 and 16 bit
        u16 = np.clip(np.rint(rgb * 65535.0), 0, 65535).astype(np.uint16)
        chans = [
            cv2.inpaint(np.ascontiguousarray(u16[..., i]), m8, self.radius, flag) for i in range(3)
        ]
        return np.dstack(chans).astype(np.float32) / np.float32(65535.0)
