"""The text-detector interface: an image in, a list of :class:`TextBox` out."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from productstudio.imaging.types import Image, RGBImage, check_image, to_uint8
from productstudio.ops.text import TextBox


class TextDetector(ABC):
    """Base class: validates and converts; a backend implements only :meth:`detect_rgb`."""

    name: str = "text-detector"

    def detect(self, image: Image) -> list[TextBox]:
        """Text boxes in ``image`` ((H, W, 3|4) uint8/uint16; alpha is composited on white)."""
        check_image(image)
        img = to_uint8(image)
        if img.shape[2] == 4:
            a = img[..., 3:4].astype(np.float32) / 255.0
            img = np.clip(img[..., :3] * a + 255.0 * (1 - a), 0, 255).astype(np.uint8)
        return self.detect_rgb(np.ascontiguousarray(img[..., :3]))

    @abstractmethod
    def detect_rgb(self, rgb: RGBImage) -> list[TextBox]:
        """Text boxes in an (H, W, 3) uint8 RGB image, in pixel coordinates."""
