"""The neural-style interface: the base class converts, resizes to the working size, blends
with ``strength`` only inside the chosen region, and keeps alpha; a backend implements
:meth:`NeuralStyle.run` on one float RGB image."""

from __future__ import annotations

from abc import ABC, abstractmethod
from enum import StrEnum

import cv2
import numpy as np
from numpy.typing import NDArray

from productstudio.errors import InvalidParamsError
from productstudio.imaging.types import Image, check_image, to_float
from productstudio.ops.style import Region, StyleMethod, blend_region, region_weight


class LookMethod(StrEnum):
    """How a reference photo's look is transferred: the colour/tone ops of
    :mod:`productstudio.ops.style` (no weights) or the ``arbitrary`` neural style model."""

    LAB_STATS = "lab-stats"
    HISTOGRAM = "histogram"
    NEURAL = "neural"

    @property
    def op_method(self) -> StyleMethod | None:
        """The colour-transfer op's method, or ``None`` for the neural model."""
        return None if self is LookMethod.NEURAL else StyleMethod(self.value)


class NeuralStyle(ABC):
    """Base class of the style-transfer backends.

    Attributes:
        max_side: the image is processed with its long side at most this (then upsampled).
        fixed: the model takes exactly this square size (the image is resized to it).
    """

    name: str = "style"
    max_side: int = 768
    fixed: int | None = None

    def stylize(
        self,
        image: Image,
        *,
        strength: float = 1.0,
        region: Region = Region.BOTH,
        mask: np.ndarray | None = None,
    ) -> Image:
        """Restyle ``image`` ((H, W, 3|4) uint8/uint16); pixels outside ``region`` unchanged."""
        check_image(image)
        if not 0.0 <= strength <= 1.0:
            raise InvalidParamsError(f"strength must be in [0, 1], got {strength}")
        wgt = region_weight(image, region, mask)
        rgb = to_float(image[..., :3])
        h, w = rgb.shape[:2]
        if self.fixed is not None:
            tw = th = self.fixed
        else:
            s = min(1.0, self.max_side / max(h, w))
            tw, th = max(16, round(w * s)), max(16, round(h * s))
        x = rgb if (tw, th) == (w, h) else cv2.resize(rgb, (tw, th), interpolation=cv2.INTER_AREA)
        y: np.ndarray = self.run(np.ascontiguousarray(x, np.float32))
        if y.shape[:2] != (h, w):
            y = cv2.resize(y, (w, h), interpolation=cv2.INTER_CUBIC)
        return blend_region(image, np.clip(y, 0.0, 1.0).astype(np.float32), wgt, strength)

    @abstractmethod
    def run(self, rgb: NDArray[np.float32]) -> NDArray[np.float32]:
        """Stylise a float32 (h, w, 3) RGB image in [0, 1]; same size out."""
