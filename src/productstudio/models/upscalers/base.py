"""The upscaler interface: a backend upscales one float tile by one of its native factors.

The base class does the shared work: validation, float conversion (uint8 and uint16 alike),
tiling with overlap and feathered seams (:func:`productstudio.ops.upscale.tiled`), running a
native factor and resampling to the exact requested one with Lanczos, and upscaling alpha
separately (bilinear, so edges do not ring).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

import cv2
import numpy as np
from numpy.typing import NDArray

from productstudio.errors import InvalidParamsError
from productstudio.imaging.types import Image, check_image, to_float
from productstudio.ops.upscale import Resample, float_to_dtype, target_size, tiled


class Upscaler(ABC):
    """Base class; a backend sets ``native_scales`` and implements :meth:`run`.

    Attributes:
        native_scales: factors :meth:`run` supports (sorted).
        tile: tile side in input px; overlap: px shared by neighbouring tiles.
    """

    name: str = "upscaler"
    native_scales: tuple[int, ...] = (2,)
    tile: int = 256
    overlap: int = 16

    def pick_scale(self, scale: float) -> int:
        """The native factor to run for ``scale``: the smallest >= it, else the largest."""
        for s in sorted(self.native_scales):
            if s >= scale - 1e-6:
                return s
        return max(self.native_scales)

    def upscale(
        self,
        image: Image,
        scale: float = 2.0,
        *,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> Image:
        """Upscale ``image`` by ``scale``.

        Args:
            image: (H, W, 3|4) uint8/uint16.
            scale: factor in (1, 16]; a non-native factor runs the next native one and is
                resampled (Lanczos) to exactly ``round(scale * H) x round(scale * W)``.
            on_progress: ``(done, total)`` tiles.

        Returns:
            Same dtype and channels; alpha upscaled apart with bilinear filtering.
        """
        check_image(image)
        if not 1.0 < float(scale) <= 16.0:
            raise InvalidParamsError(f"scale must be in (1, 16], got {scale}")
        th, tw = target_size(image.shape, scale)
        native = self.pick_scale(scale)
        rgb = to_float(image[..., :3])
        out: np.ndarray = tiled(
            rgb,
            lambda t: self.run(t, native),
            native,
            tile=self.tile,
            overlap=self.overlap,
            on_progress=on_progress,
        )
        if out.shape[:2] != (th, tw):
            interp = cv2.INTER_AREA if out.shape[0] > th else cv2.INTER_LANCZOS4
            out = cv2.resize(out, (tw, th), interpolation=interp)
        res: np.ndarray = float_to_dtype(out, image.dtype)
        if image.shape[2] == 4:
            a = cv2.resize(
                np.ascontiguousarray(image[..., 3]),
                (tw, th),
                interpolation=Resample.BILINEAR.cv2_flag,
            )
            res = np.dstack([res, a])
        return res

    @abstractmethod
    def run(self, tile: NDArray[np.float32], scale: int) -> NDArray[np.float32]:
        """Upscale one float32 (h, w, 3) tile in [0, 1] by ``scale`` (one of ``native_scales``)."""


__all__ = ["Upscaler"]
