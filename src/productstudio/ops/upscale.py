"""Resampling and the tiling that every upscaler shares.

* :func:`resize_scale` — Lanczos (default), bicubic, bilinear, area or nearest resampling by a
  factor, uint8 and uint16 alike; alpha is resampled separately (linear, no ringing).
* :func:`tiled` — run a ``float32 HWC -> float32 (sH)(sW)C`` function over overlapping tiles and
  blend the seams with a linear feather, so a model never sees more than ``tile`` px.

Example:
    >>> import numpy as np
    >>> img = np.zeros((10, 20, 4), np.uint8); img[..., 3] = 255
    >>> resize_scale(img, UpscaleParams(scale=2)).shape
    (20, 40, 4)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import cv2
import numpy as np
from numpy.typing import NDArray

from productstudio.errors import InvalidParamsError
from productstudio.imaging.types import Image, check_image, from_float, to_float

TileFn = Callable[[NDArray[np.float32]], NDArray[np.float32]]


class Resample(StrEnum):
    """Resampling filters."""

    LANCZOS = "lanczos"
    BICUBIC = "bicubic"
    BILINEAR = "bilinear"
    AREA = "area"
    NEAREST = "nearest"

    @property
    def cv2_flag(self) -> int:
        return {
            Resample.LANCZOS: cv2.INTER_LANCZOS4,
            Resample.BICUBIC: cv2.INTER_CUBIC,
            Resample.BILINEAR: cv2.INTER_LINEAR,
            Resample.AREA: cv2.INTER_AREA,
            Resample.NEAREST: cv2.INTER_NEAREST,
        }[self]


@dataclass(frozen=True, slots=True)
class UpscaleParams:
    """Options of :func:`resize_scale`.

    Attributes:
        scale: factor > 0 (1 returns a copy; < 1 shrinks).
        resample: the colour filter.
        alpha_resample: the alpha filter (linear by default: no halo from ringing).
    """

    scale: float = 2.0
    resample: Resample = Resample.LANCZOS
    alpha_resample: Resample = Resample.BILINEAR

    def __post_init__(self) -> None:
        if not 0.01 <= float(self.scale) <= 16.0:
            raise InvalidParamsError(f"UpscaleParams.scale must be in 0.01..16, got {self.scale}")


def target_size(shape: tuple[int, ...], scale: float) -> tuple[int, int]:
    """(height, width) of ``shape`` scaled by ``scale``, at least 1 px each."""
    return max(1, round(shape[0] * scale)), max(1, round(shape[1] * scale))


def resize_to(image: Image, size: tuple[int, int], resample: Resample, alpha: Resample) -> Image:
    """Resize (H, W, 3|4) uint8/uint16 to ``size = (height, width)``; alpha resampled apart."""
    h, w = size
    if image.shape[:2] == (h, w):
        return image.copy()
    rgb: np.ndarray = cv2.resize(
        np.ascontiguousarray(image[..., :3]), (w, h), interpolation=resample.cv2_flag
    )
    if image.shape[2] == 3:
        return rgb
    a = cv2.resize(np.ascontiguousarray(image[..., 3]), (w, h), interpolation=alpha.cv2_flag)
    return np.dstack([rgb, a])


def resize_scale(image: Image, params: UpscaleParams | None = None) -> Image:
    """Resample ``image`` by ``params.scale``.

    Args:
        image: (H, W, 3|4) uint8 or uint16.

    Returns:
        (round(sH), round(sW), C), same dtype; Lanczos overshoot is clipped to the dtype range.
    """
    p = params or UpscaleParams()
    check_image(image)
    return resize_to(image, target_size(image.shape, p.scale), p.resample, p.alpha_resample)


def _ramp(n: int, lo: int, hi: int, overlap: int, total: int) -> NDArray[np.float32]:
    w = np.ones(n, np.float32)
    ov = min(overlap, n // 2)
    if ov <= 0:
        return w
    r = np.linspace(0.0, 1.0, ov + 2, dtype=np.float32)[1:-1]
    if lo > 0:
        w[:ov] = r
    if hi < total:
        w[n - ov :] = np.minimum(w[n - ov :], r[::-1])
    return w


def tiled(
    rgb: NDArray[np.float32],
    fn: TileFn,
    scale: int,
    *,
    tile: int = 256,
    overlap: int = 16,
    on_progress: Callable[[int, int], None] | None = None,
) -> NDArray[np.float32]:
    """Apply ``fn`` (a ``scale``-times upscaler of one tile) over overlapping tiles.

    Args:
        rgb: float32 (H, W, C) in [0, 1].
        fn: maps an (h, w, C) tile to (scale*h, scale*w, C).
        scale: the integer factor of ``fn``.
        tile: tile side in input px (the image is processed whole when it fits).
        overlap: input px shared by neighbouring tiles, blended with a linear feather.

    Returns:
        float32 (scale*H, scale*W, C).
    """
    if tile < 8 or overlap < 0 or overlap * 2 >= tile:
        raise InvalidParamsError(f"tile must be >= 8 and overlap < tile/2, got {tile}/{overlap}")
    h, w, c = rgb.shape
    if h <= tile and w <= tile:
        if on_progress:
            on_progress(0, 1)
        out = fn(rgb)
        if on_progress:
            on_progress(1, 1)
        return out.astype(np.float32)
    step = tile - overlap
    ys = list(range(0, max(h - overlap, 1), step))
    xs = list(range(0, max(w - overlap, 1), step))
    acc = np.zeros((h * scale, w * scale, c), np.float32)
    wsum = np.zeros((h * scale, w * scale, 1), np.float32)
    total = len(ys) * len(xs)
    done = 0
    for y0 in ys:
        y1 = min(h, y0 + tile)
        for x0 in xs:
            x1 = min(w, x0 + tile)
            out = fn(np.ascontiguousarray(rgb[y0:y1, x0:x1]))
            if out.shape[:2] != ((y1 - y0) * scale, (x1 - x0) * scale):
                raise InvalidParamsError(f"tile function returned {out.shape} for x{scale}")
            wy = _ramp(out.shape[0], y0, y1, overlap * scale, h)
            wx = _ramp(out.shape[1], x0, x1, overlap * scale, w)
            wt = (wy[:, None] * wx[None, :])[..., None]
            acc[y0 * scale : y1 * scale, x0 * scale : x1 * scale] += out * wt
            wsum[y0 * scale : y1 * scale, x0 * scale : x1 * scale] += wt
            done += 1
            if on_progress:
                on_progress(done, total)
    return (acc / np.maximum(wsum, 1e-8)).astype(np.float32)


def float_to_dtype(x: NDArray[np.float32], dtype: np.dtype) -> Image:
    """Float in [0, 1] to the given image dtype (uint8 or uint16)."""
    return from_float(np.clip(x, 0.0, 1.0), np.uint16 if dtype == np.uint16 else np.uint8)


__all__ = [
    "Resample",
    "TileFn",
    "UpscaleParams",
    "float_to_dtype",
    "resize_scale",
    "resize_to",
    "target_size",
    "tiled",
    "to_float",
]
