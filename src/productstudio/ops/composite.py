"""Alpha compositing of an RGBA product over a colour or an image."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from productstudio.errors import InvalidParamsError
from productstudio.imaging.color import linear_to_srgb, parse_color, srgb_to_linear
from productstudio.imaging.types import Color, RGBAImage, RGBImage, check_image, to_uint8


@dataclass(frozen=True, slots=True)
class CompositeParams:
    """How to blend edges.

    Attributes:
        linear: blend partially transparent pixels in linear light (physically right, slightly
            thinner dark edges) instead of in sRGB (what most tools do).
    """

    linear: bool = False


def background_array(
    background: Color | str | np.ndarray, shape: tuple[int, int]
) -> NDArray[np.uint8]:
    """A background at ``shape`` (H, W) as uint8: (H, W, 3), or (H, W, 4) when it carries
    alpha (an RGBA colour such as ``"#ffffff80"`` or an RGBA array). The one helper that turns
    a background argument into pixels (used by :func:`composite` and the shadow ops).

    Raises:
        InvalidParamsError: an array of another size, or not a colour.

    Example:
        >>> background_array("#ff000080", (2, 3)).shape
        (2, 3, 4)
    """
    h, w = shape
    if isinstance(background, np.ndarray):
        check_image(background, name="background")
        if background.shape[:2] != (h, w):
            raise InvalidParamsError(
                f"background is {background.shape[1]}x{background.shape[0]} but the product "
                f"image is {w}x{h}: resize or make the background at the product's canvas size "
                "(ops.backgrounds)"
            )
        return to_uint8(background)
    col = parse_color(background)
    return np.broadcast_to(np.asarray(col, np.uint8), (h, w, len(col)))


def composite(
    image: RGBAImage,
    background: Color | str | np.ndarray = (255, 255, 255),
    params: CompositeParams | None = None,
) -> RGBImage:
    """Put an RGBA product over an opaque background.

    Args:
        image: (H, W, 4) uint8 RGBA (straight, not premultiplied, alpha).
        background: a colour (tuple, hex or CSS name) or an (H, W, 3|4) uint8 image.
        params: blending options.

    Returns:
        (H, W, 3) uint8 RGB. **Exact promise**: pixels with alpha == 255 are bit-identical
        to the input's RGB, and pixels with alpha == 0 are bit-identical to the background.

    Example:
        >>> px = np.zeros((2, 2, 4), np.uint8); px[0, 0] = (10, 20, 30, 255)
        >>> out = composite(px, "#ffffff")
        >>> out[0, 0].tolist(), out[1, 1].tolist()
        ([10, 20, 30], [255, 255, 255])
    """
    check_image(image, channels=(4,))
    p = params or CompositeParams()
    img = to_uint8(image)
    bg = background_array(background, img.shape[:2])[..., :3]
    a8 = img[..., 3]
    out = np.empty((*img.shape[:2], 3), np.uint8)
    out[...] = bg
    # opaque pixels copied with OpenCV's masked copy (SIMD; the canvas is millions of pixels)
    cv2.copyTo(np.ascontiguousarray(img[..., :3]), (a8 == 255).view(np.uint8), out)
    part = (a8 > 0) & (a8 < 255)
    if not p.linear and part.any():
        # integer blend: exact at a = 255 (fg) and a = 0 (bg), round-half-up elsewhere
        a16 = a8[part].astype(np.uint16)[:, None]
        fg16 = img[..., :3][part].astype(np.uint16)
        mixed16 = fg16 * a16 + np.asarray(bg)[part].astype(np.uint16) * (255 - a16)
        out[part] = ((mixed16 + 127) // 255).astype(np.uint8)
    elif part.any():
        a = (a8[part].astype(np.float32) / 255.0)[:, None]
        fg = img[..., :3][part].astype(np.float32) / 255.0
        b = np.asarray(bg)[part].astype(np.float32) / 255.0
        mixed = linear_to_srgb(srgb_to_linear(fg) * a + srgb_to_linear(b) * (1.0 - a))
        out[part] = np.clip(np.rint(mixed * 255.0), 0, 255).astype(np.uint8)
    return out


def over(top: RGBAImage, bottom: RGBAImage) -> RGBAImage:
    """Porter–Duff *over* of two RGBA uint8 images of the same size (result keeps alpha).

    Pixels where ``top`` has alpha 255 are exactly ``top``; where it has alpha 0 they are
    exactly ``bottom``.
    """
    check_image(top, name="top", channels=(4,))
    check_image(bottom, name="bottom", channels=(4,))
    if top.shape != bottom.shape:
        raise InvalidParamsError(f"top {top.shape} and bottom {bottom.shape} differ in size")
    t = top.astype(np.float32) / 255.0
    b = bottom.astype(np.float32) / 255.0
    ta, ba = t[..., 3:4], b[..., 3:4]
    oa = ta + ba * (1.0 - ta)
    rgb = (t[..., :3] * ta + b[..., :3] * ba * (1.0 - ta)) / np.maximum(oa, 1e-6)
    out = np.clip(np.rint(np.dstack([rgb, oa]) * 255.0), 0, 255).astype(np.uint8)
    full = top[..., 3] == 255
    out[full] = top[full]
    none = top[..., 3] == 0
    out[none] = bottom[none]
    return out
