"""Interpolating upscalers (no weights): Lanczos (the default) and bicubic."""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
from numpy.typing import NDArray

from productstudio.errors import InvalidParamsError
from productstudio.imaging.types import Image, check_image
from productstudio.models.upscalers.base import Upscaler
from productstudio.ops.upscale import Resample, UpscaleParams, resize_scale


class ResampleUpscaler(Upscaler):
    """Plain resampling at any factor, in the image's own dtype (exact size, no tiling)."""

    native_scales = (1, 2, 3, 4, 8)

    def __init__(self, resample: Resample = Resample.LANCZOS) -> None:
        self.resample = Resample(resample)
        self.name = self.resample.value

    def upscale(
        self,
        image: Image,
        scale: float = 2.0,
        *,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> Image:
        check_image(image)
        if not 1.0 < float(scale) <= 16.0:
            raise InvalidParamsError(f"scale must be in (1, 16], got {scale}")
        out = resize_scale(image, UpscaleParams(scale=scale, resample=self.resample))
        if on_progress:
            on_progress(1, 1)
        return out

    def run(self, tile: NDArray[np.float32], scale: int) -> NDArray[np.float32]:
        h, w = tile.shape[:2]
        out: np.ndarray = cv2.resize(
            tile, (w * scale, h * scale), interpolation=self.resample.cv2_flag
        )
        return out.astype(np.float32)
