"""The product on a plain background: the border's colour, and what differs from it.

A finished main image (white sweep) or a studio packshot has a plain border; there the
product is everything that differs from that colour (minus specks). The compliance checker
and the text classification of ``erase-text``/``check`` both use this, so they agree on
where the product is.

Example:
    >>> img = np.full((40, 40, 3), 255, np.uint8); img[10:30, 12:28] = (20, 40, 200)
    >>> plain_border_color(img)
    (255, 255, 255)
    >>> m = difference_mask(img, (255, 255, 255))
    >>> int(m.sum()), bool(m[20, 20]), bool(m[0, 0])
    (320, True, False)
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

from productstudio.imaging.types import check_image, to_uint8


def _deviation(rgb: np.ndarray, color: tuple[int, int, int]) -> NDArray[np.int16]:
    col = np.asarray(color, np.int16)
    return np.asarray(np.abs(rgb.astype(np.int16) - col).max(axis=2))


def _border(a: np.ndarray) -> np.ndarray:
    """The outer 2 px of a 2-D (or (H, W, C)) array, as rows of values."""
    tail = a.shape[2:]
    parts = [a[:2], a[-2:], a[:, :2], a[:, -2:]]
    return np.concatenate([part.reshape(-1, *tail) for part in parts])


def border_is(
    image: np.ndarray, color: tuple[int, int, int], tolerance: int = 8, share: float = 0.6
) -> bool:
    """At least ``share`` of the picture's outer 2 px are within ``tolerance`` of ``color``."""
    check_image(image)
    dev = _deviation(to_uint8(image)[..., :3], color)
    return bool((_border(dev) <= tolerance).mean() >= share)


def plain_border_color(
    image: np.ndarray, tolerance: int = 8, share: float = 0.6
) -> tuple[int, int, int] | None:
    """The colour of a plain border (the median of the outer 2 px) when at least ``share`` of
    it is within ``tolerance`` of that colour, else ``None``."""
    check_image(image)
    rgb = to_uint8(image)[..., :3]
    med = np.median(_border(rgb), axis=0)
    color = (int(med[0]), int(med[1]), int(med[2]))
    return color if border_is(rgb, color, tolerance, share) else None


def difference_mask(
    image: np.ndarray,
    color: tuple[int, int, int],
    tolerance: int = 8,
    *,
    min_part: float = 0.01,
) -> NDArray[np.bool_]:
    """The product: pixels differing from ``color`` by more than ``tolerance`` (largest channel
    difference), closed with a 5 px square, without specks (parts under max(50 px,
    ``min_part`` of the largest part)) and without patches that touch the frame (other than
    the largest part): those are marks on the background, not product."""
    check_image(image)
    raw = (_deviation(to_uint8(image)[..., :3], color) > tolerance).astype(np.uint8)
    differs = np.asarray(cv2.morphologyEx(raw, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8)))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(differs, connectivity=8)
    if n <= 1:
        return np.zeros(differs.shape, bool)
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = np.zeros(n, bool)
    keep[1:] = areas >= max(50.0, min_part * float(areas.max()))
    h, w = differs.shape
    x, y = stats[:, cv2.CC_STAT_LEFT], stats[:, cv2.CC_STAT_TOP]
    bw, bh = stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT]
    touches = (x == 0) | (y == 0) | (x + bw == w) | (y + bh == h)
    touches[1 + int(np.argmax(areas))] = False
    keep &= ~touches
    return np.asarray(keep[labels])


__all__ = ["border_is", "difference_mask", "plain_border_color"]
