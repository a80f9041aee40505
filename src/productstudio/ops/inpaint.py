"""Classical inpainting and the mask plumbing every inpainter shares.

An inpainting *hole* is where a mask is ``>= 0.5`` (after optional dilation). Every function
here promises that pixels **outside the hole come back bit-identical**: the work happens on a
crop around the hole (plus a margin of context) and only hole pixels are pasted back.

Example:
    >>> import numpy as np
    >>> img = np.full((32, 32, 3), 200, np.uint8); img[10:14, 10:20] = 0
    >>> m = np.zeros((32, 32), np.float32); m[9:15, 9:21] = 1
    >>> out = inpaint(img, m)
    >>> bool((out[m < 0.5] == img[m < 0.5]).all()), int(out[11, 15, 0]) > 150
    (True, True)
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import cv2
import numpy as np
from numpy.typing import NDArray

from productstudio.errors import InvalidParamsError
from productstudio.imaging.types import Image, Mask, as_mask, check_image

Box = tuple[int, int, int, int]  # y0, y1, x0, x1 (half-open)


class InpaintMethod(StrEnum):
    """OpenCV's classical inpainting algorithms."""

    TELEA = "telea"  # fast marching (Telea 2004)
    NS = "ns"  # Navier-Stokes (Bertalmio 2001)


@dataclass(frozen=True, slots=True)
class InpaintParams:
    """Options of :func:`inpaint`.

    Attributes:
        method: the classical algorithm.
        radius: neighbourhood radius in px that each filled pixel draws from.
        dilate: grow the hole by this many px first (covers anti-aliased edges of text/objects).
        margin: context around the hole's bounding box that the crop keeps, in px.
    """

    method: InpaintMethod = InpaintMethod.TELEA
    radius: int = 5
    dilate: int = 0
    margin: int = 32

    def __post_init__(self) -> None:
        if not 1 <= self.radius <= 64:
            raise InvalidParamsError(f"InpaintParams.radius must be in 1..64, got {self.radius}")
        if not 0 <= self.dilate <= 256:
            raise InvalidParamsError(f"InpaintParams.dilate must be in 0..256, got {self.dilate}")
        if not 0 <= self.margin <= 4096:
            raise InvalidParamsError(f"InpaintParams.margin must be in 0..4096, got {self.margin}")


def hole_mask(mask: np.ndarray, shape: tuple[int, int], *, dilate: int = 0) -> NDArray[np.bool_]:
    """The boolean hole (``mask >= 0.5``, grown by ``dilate`` px) of a mask for an image shape.

    Raises:
        InvalidParamsError: wrong size or rank, or the hole is empty.
    """
    m = as_mask(mask, shape=shape, name="mask") >= 0.5
    if dilate > 0 and m.any():
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * dilate + 1, 2 * dilate + 1))
        m = cv2.dilate(m.astype(np.uint8), k).astype(bool)
    if not m.any():
        raise InvalidParamsError(
            "the mask is empty (no pixel >= 0.5): paint the area to remove in white on black"
        )
    return m


def box_to_mask(shape: tuple[int, int], box: tuple[int, int, int, int]) -> Mask:
    """A float32 mask of ``shape`` (H, W) that is 1 inside ``box = (x, y, w, h)``.

    Raises:
        InvalidParamsError: non-positive size or a box entirely outside the image.
    """
    x, y, w, h = (int(v) for v in box)
    if w <= 0 or h <= 0:
        raise InvalidParamsError(f"box width and height must be > 0, got {w}x{h}")
    H, W = shape
    x0, y0, x1, y1 = max(0, x), max(0, y), min(W, x + w), min(H, y + h)
    if x0 >= x1 or y0 >= y1:
        raise InvalidParamsError(f"box {box} lies outside the {W}x{H} image")
    m = np.zeros((H, W), np.float32)
    m[y0:y1, x0:x1] = 1.0
    return m


def parse_box(text: str) -> tuple[int, int, int, int]:
    """Parse ``"x,y,w,h"`` into four ints.

    Raises:
        InvalidParamsError: not four comma-separated integers.
    """
    parts = [p.strip() for p in str(text).split(",")]
    try:
        vals = tuple(int(p) for p in parts)
    except ValueError:
        vals = ()
    if len(vals) != 4:
        raise InvalidParamsError(f"a box is 'x,y,w,h' (four integers), got '{text}'")
    return vals[0], vals[1], vals[2], vals[3]


def mask_bbox(hole: np.ndarray, margin: int = 0) -> Box:
    """Bounding box ``(y0, y1, x0, x1)`` of the True pixels, grown by ``margin`` and clipped."""
    ys = np.flatnonzero(hole.any(axis=1))
    xs = np.flatnonzero(hole.any(axis=0))
    if len(ys) == 0:
        raise InvalidParamsError("the mask is empty: nothing to crop around")
    h, w = hole.shape[:2]
    return (
        max(0, int(ys[0]) - margin),
        min(h, int(ys[-1]) + 1 + margin),
        max(0, int(xs[0]) - margin),
        min(w, int(xs[-1]) + 1 + margin),
    )


def crop_around(
    image: np.ndarray, hole: np.ndarray, margin: int
) -> tuple[np.ndarray, NDArray[np.bool_], Box]:
    """The crop of ``image`` and ``hole`` around the hole with ``margin`` px of context."""
    y0, y1, x0, x1 = box = mask_bbox(hole, margin)
    return image[y0:y1, x0:x1], hole[y0:y1, x0:x1], box


def paste_hole(original: np.ndarray, patch: np.ndarray, hole: np.ndarray, box: Box) -> np.ndarray:
    """A copy of ``original`` whose hole pixels inside ``box`` come from ``patch``.

    Pixels outside ``hole`` are bit-identical to ``original`` (only channels ``patch`` has are
    written; an alpha channel of ``original`` beyond them is kept).
    """
    y0, y1, x0, x1 = box
    out = original.copy()
    sub_hole = hole[y0:y1, x0:x1]
    c = patch.shape[2]
    region = out[y0:y1, x0:x1, :c]
    region[sub_hole] = patch[sub_hole].astype(original.dtype)
    return out


def cv_inpaint(
    rgb: np.ndarray,
    hole: np.ndarray,
    method: InpaintMethod = InpaintMethod.TELEA,
    radius: int = 3,
) -> np.ndarray:
    """OpenCV's Telea / Navier-Stokes fill: the one call to ``cv2.inpaint`` in ProductStudio.

    Args:
        rgb: (H, W, 3) uint8 (filled in one call), uint16 (channel by channel: OpenCV
            inpaints 16-bit one channel at a time) or float32 in [0, 1] (filled as 16-bit
            channels, exact for 8- and 16-bit sources: OpenCV's float path assumes 0..255).
        hole: (H, W) bool (or 0/1) — the pixels to fill.
        method: Telea (fast marching) or Navier-Stokes.
        radius: neighbourhood radius in px.

    Returns:
        The filled image, same shape and dtype as ``rgb``.
    """
    flag = cv2.INPAINT_TELEA if method is InpaintMethod.TELEA else cv2.INPAINT_NS
    m8 = np.asarray(hole).astype(bool).astype(np.uint8) * 255
    if rgb.dtype == np.uint8:
        return cv2.inpaint(np.ascontiguousarray(rgb), m8, radius, flag)
    if rgb.dtype == np.uint16:
        chans = [cv2.inpaint(np.ascontiguousarray(rgb[..., i]), m8, radius, flag) for i in range(3)]
        return np.dstack(chans)
    u16 = np.clip(np.rint(rgb * 65535.0), 0, 65535).astype(np.uint16)
    filled = cv_inpaint(u16, hole, method, radius)
    return filled.astype(np.float32) / np.float32(65535.0)


def inpaint(image: Image, mask: np.ndarray, params: InpaintParams | None = None) -> Image:
    """Fill the hole of ``mask`` with OpenCV's Telea or Navier-Stokes inpainting.

    Args:
        image: (H, W, 3|4) uint8 or uint16. Alpha (if any) is kept as is.
        mask: (H, W) mask (bool, uint8 0..255 or float 0..1); the hole is ``>= 0.5``.
        params: :class:`InpaintParams`.

    Returns:
        Same shape and dtype; pixels outside the (dilated) hole are bit-identical.

    Raises:
        InvalidParamsError: bad image, mask of the wrong size or an empty mask.
    """
    p = params or InpaintParams()
    check_image(image)
    hole = hole_mask(mask, image.shape[:2], dilate=p.dilate)
    crop, sub_hole, box = crop_around(image[..., :3], hole, p.margin + p.radius)
    filled = cv_inpaint(crop, sub_hole, p.method, p.radius)
    return paste_hole(image, filled, hole, box)


__all__ = [
    "Box",
    "InpaintMethod",
    "InpaintParams",
    "box_to_mask",
    "crop_around",
    "cv_inpaint",
    "hole_mask",
    "inpaint",
    "mask_bbox",
    "parse_box",
    "paste_hole",
]
