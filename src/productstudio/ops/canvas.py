"""Place a cut-out product on a canvas: crop to its alpha, scale to a fill fraction, align."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import cv2
import numpy as np

from productstudio.errors import InvalidParamsError
from productstudio.imaging.types import RGBAImage, check_image, to_uint8


class Align(StrEnum):
    """Where the product sits on the canvas."""

    CENTER = "center"
    BOTTOM = "bottom"
    TOP = "top"


@dataclass(frozen=True, slots=True)
class CanvasParams:
    """Canvas geometry.

    Attributes:
        width, height: canvas size in px.
        fill: the product's bounding box fills this fraction of the canvas along its limiting
            side (Amazon main image: 0.85).
        align: vertical placement; horizontally the product is always centred.
        alpha_threshold: alpha (0..255) at or below which a pixel does not count for the
            bounding box (ignores faint halos and noise).
        max_upscale: never enlarge the product more than this factor (None = no limit).
    """

    width: int = 2000
    height: int = 2000
    fill: float = 0.85
    align: Align = Align.CENTER
    alpha_threshold: int = 8
    max_upscale: float | None = None

    def __post_init__(self) -> None:
        if not (1 <= self.width <= 30000 and 1 <= self.height <= 30000):
            raise InvalidParamsError(
                f"CanvasParams size must be 1..30000 px, got {self.width}x{self.height}"
            )
        if not 0.0 < self.fill <= 1.0:
            raise InvalidParamsError(f"CanvasParams.fill must be in (0, 1], got {self.fill}")
        if not 0 <= self.alpha_threshold < 255:
            raise InvalidParamsError(
                f"CanvasParams.alpha_threshold must be in 0..254, got {self.alpha_threshold}"
            )
        if self.max_upscale is not None and self.max_upscale <= 0:
            raise InvalidParamsError(
                f"CanvasParams.max_upscale must be > 0, got {self.max_upscale}"
            )


def alpha_bbox(image: RGBAImage, threshold: int = 8) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1) bounding box (exclusive end) of pixels with alpha > ``threshold``."""
    check_image(image, channels=(4,))
    a = to_uint8(image)[..., 3] > threshold
    rows = np.flatnonzero(a.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(a.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def resize_rgba(image: RGBAImage, width: int, height: int) -> RGBAImage:
    """Resize RGBA with premultiplied alpha (no dark or coloured fringes at edges)."""
    check_image(image, channels=(4,))
    h, w = image.shape[:2]
    if (w, h) == (width, height):
        return image.copy()
    down = width * height < w * h
    interp = cv2.INTER_AREA if down else cv2.INTER_LANCZOS4
    f = image.astype(np.float32) / 255.0
    a = f[..., 3:4]
    pre = np.dstack([f[..., :3] * a, a])
    r = cv2.resize(pre, (width, height), interpolation=interp)
    ra = np.clip(r[..., 3:4], 0.0, 1.0)
    rgb = np.where(ra > 1e-4, r[..., :3] / np.maximum(ra, 1e-4), 0.0)
    out = np.dstack([np.clip(rgb, 0.0, 1.0), ra])
    return np.clip(np.rint(out * 255.0), 0, 255).astype(np.uint8)


def layout(image: RGBAImage, params: CanvasParams | None = None) -> RGBAImage:
    """Crop the product to its alpha bounding box, scale it and place it on a transparent canvas.

    Args:
        image: (H, W, 4) uint8 RGBA cut-out.
        params: canvas geometry (default: 2000x2000, 85 % fill, centred).

    Returns:
        (height, width, 4) uint8 RGBA, transparent around the product. When no scaling is
        needed (scale 1) the product's pixels are copied exactly.

    Raises:
        InvalidParamsError: the image has no pixel above ``alpha_threshold``.

    Example:
        >>> img = np.zeros((10, 10, 4), np.uint8); img[2:4, 2:6] = 255
        >>> out = layout(img, CanvasParams(width=20, height=20, fill=0.2))
        >>> alpha_bbox(out)
        (8, 9, 12, 11)
    """
    p = params or CanvasParams()
    check_image(image, channels=(4,))
    img = to_uint8(image)
    box = alpha_bbox(img, p.alpha_threshold)
    if box is None:
        raise InvalidParamsError(
            "the cut-out has no visible product (alpha is empty): the segmenter found nothing. "
            "Try another --model, or check the photo."
        )
    x0, y0, x1, y1 = box
    crop = img[y0:y1, x0:x1]
    bw, bh = x1 - x0, y1 - y0
    s = min(p.fill * p.width / bw, p.fill * p.height / bh)
    if p.max_upscale is not None:
        s = min(s, p.max_upscale)
    nw = max(1, min(p.width, round(bw * s)))
    nh = max(1, min(p.height, round(bh * s)))
    scaled = crop.copy() if (nw, nh) == (bw, bh) else resize_rgba(crop, nw, nh)
    canvas = np.zeros((p.height, p.width, 4), np.uint8)
    ox = (p.width - nw) // 2
    if p.align is Align.CENTER:
        oy = (p.height - nh) // 2
    elif p.align is Align.BOTTOM:
        oy = p.height - nh - round((p.height - p.fill * p.height) / 2)
    else:
        oy = round((p.height - p.fill * p.height) / 2)
    oy = int(np.clip(oy, 0, p.height - nh))
    canvas[oy : oy + nh, ox : ox + nw] = scaled
    return canvas
