"""Backgrounds for a cut-out product: solid colour, gradients, a scene photo, bokeh, transparent.

Two kinds of functions:

* ``make_*`` build a background picture of a given size (pure, no product involved);
* :func:`apply_background` puts an RGBA product over the background described by
  :class:`BackgroundParams`. **Exact promise**: pixels where the product's alpha is 255 come
  back bit-identical to the product's RGB (only the background and soft edges change).

Gradients are interpolated in linear light (no muddy midpoint between saturated colours).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

import cv2
import numpy as np

from productstudio.errors import InvalidParamsError
from productstudio.imaging.color import linear_to_srgb, parse_color, srgb_to_linear
from productstudio.imaging.types import (
    Color,
    Image,
    Mask,
    RGBAImage,
    RGBImage,
    as_mask,
    check_image,
    to_uint8,
)
from productstudio.ops.composite import composite, over


class BackgroundKind(StrEnum):
    """What goes behind the product."""

    SOLID = "solid"  # one colour; a colour with alpha < 255 gives an RGBA result
    LINEAR = "linear"  # linear gradient from ``color`` to ``color2`` along ``angle_deg``
    RADIAL = "radial"  # radial gradient, ``color`` at the centre, ``color2`` at ``radius``
    IMAGE = "image"  # a scene photo, fitted with ``fit``, optionally blurred
    BOKEH = "bokeh"  # the original photo itself, product removed and strongly blurred
    TRANSPARENT = "transparent"  # keep the cut-out's alpha (PNG/WebP)


class Fit(StrEnum):
    """How a scene photo is fitted to the canvas."""

    COVER = "cover"  # fill the canvas, crop the overflow (centred)
    CONTAIN = "contain"  # whole photo visible, letterbox with ``color``


def _rgba(color: str | Color) -> tuple[int, int, int, int]:
    c = parse_color(color)
    return (c[0], c[1], c[2], c[3] if len(c) == 4 else 255)


@dataclass(frozen=True, slots=True)
class BackgroundParams:
    """A background description.

    Attributes:
        kind: see :class:`BackgroundKind`.
        color: solid colour, first gradient colour, letterbox colour (hex incl. alpha, CSS name).
        color2: second gradient colour.
        angle_deg: linear gradient direction, clockwise from "down" (0 = top → bottom).
        center: radial centre as fractions (x, y) of the canvas.
        radius: radial radius as a fraction of the canvas diagonal / 2.
        fit: scene fitting.
        blur: Gaussian blur sigma for scenes, as a fraction of the canvas' long side
            (0 = sharp). For BOKEH, 0 means the default of 0.02.
    """

    kind: BackgroundKind = BackgroundKind.SOLID
    color: str = "#ffffff"
    color2: str = "#e6e6e6"
    angle_deg: float = 0.0
    center: tuple[float, float] = (0.5, 0.45)
    radius: float = 1.0
    fit: Fit = Fit.COVER
    blur: float = 0.0

    def __post_init__(self) -> None:
        _rgba(self.color)
        _rgba(self.color2)
        if not (math.isfinite(self.angle_deg)):
            raise InvalidParamsError(
                f"BackgroundParams.angle_deg must be finite, got {self.angle_deg}"
            )
        if not all(-1.0 <= c <= 2.0 for c in self.center):
            raise InvalidParamsError(
                f"BackgroundParams.center must be fractions, got {self.center}"
            )
        if not 0.0 < self.radius <= 10.0:
            raise InvalidParamsError(
                f"BackgroundParams.radius must be in (0, 10], got {self.radius}"
            )
        if not 0.0 <= self.blur <= 0.5:
            raise InvalidParamsError(f"BackgroundParams.blur must be in [0, 0.5], got {self.blur}")


def _check_size(width: int, height: int) -> None:
    if not (1 <= width <= 30000 and 1 <= height <= 30000):
        raise InvalidParamsError(f"background size must be 1..30000 px, got {width}x{height}")


def make_solid(width: int, height: int, color: str | Color = "#ffffff") -> RGBAImage:
    """(height, width, 4) uint8 filled with ``color`` (alpha 255 unless the colour has alpha)."""
    _check_size(width, height)
    return np.broadcast_to(np.asarray(_rgba(color), np.uint8), (height, width, 4)).copy()


def _mix_linear(c1: tuple[int, ...], c2: tuple[int, ...], t: np.ndarray) -> RGBImage:
    """Colours mixed in linear light at ``t`` in [0, 1] (a 4096-entry table: fast, exact ends)."""
    a = srgb_to_linear(np.asarray(c1[:3], np.float32) / 255.0)
    b = srgb_to_linear(np.asarray(c2[:3], np.float32) / 255.0)
    steps = np.linspace(0.0, 1.0, _LUT, dtype=np.float32)[:, None]
    lut = np.clip(np.rint(linear_to_srgb(a * (1.0 - steps) + b * steps) * 255.0), 0, 255)
    idx = np.rint(np.clip(t, 0.0, 1.0) * (_LUT - 1)).astype(np.intp)
    return lut.astype(np.uint8)[idx]


_LUT = 4096


def make_linear_gradient(
    width: int, height: int, color: str | Color, color2: str | Color, angle_deg: float = 0.0
) -> RGBImage:
    """(height, width, 3) gradient from ``color`` to ``color2``, mixed in linear light.

    ``angle_deg`` turns the gradient axis ``(−sin θ, cos θ)``: 0 runs top → bottom, 90 runs
    right → left, 180 bottom → top. ``color`` sits at the axis' start.
    """
    _check_size(width, height)
    th = math.radians(angle_deg)
    dx, dy = -math.sin(th), math.cos(th)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    proj = (xs - (width - 1) / 2) * dx + (ys - (height - 1) / 2) * dy
    lo, hi = float(proj.min()), float(proj.max())
    t = (proj - lo) / max(hi - lo, 1e-6)
    return _mix_linear(_rgba(color), _rgba(color2), t)


def make_radial_gradient(
    width: int,
    height: int,
    color: str | Color,
    color2: str | Color,
    center: tuple[float, float] = (0.5, 0.45),
    radius: float = 1.0,
) -> RGBImage:
    """(height, width, 3) radial gradient: ``color`` at ``center``, ``color2`` from ``radius``
    (fraction of half the canvas diagonal) outwards, mixed in linear light."""
    _check_size(width, height)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    cx, cy = center[0] * (width - 1), center[1] * (height - 1)
    r = radius * 0.5 * math.hypot(width, height)
    t = np.clip(np.hypot(xs - cx, ys - cy) / max(r, 1e-6), 0.0, 1.0)
    return _mix_linear(_rgba(color), _rgba(color2), t)


def _blur(img: np.ndarray, sigma_frac: float) -> np.ndarray:
    if sigma_frac <= 0:
        return img
    sigma = sigma_frac * max(img.shape[:2])
    return cv2.GaussianBlur(img, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT)


def fit_image(
    scene: Image, width: int, height: int, fit: Fit = Fit.COVER, color: str | Color = "#ffffff"
) -> RGBImage:
    """Fit a scene photo to (height, width, 3): COVER crops the overflow, CONTAIN letterboxes."""
    check_image(scene, name="scene")
    _check_size(width, height)
    src = to_uint8(scene)[..., :3]
    h, w = src.shape[:2]
    if fit is Fit.COVER:
        s = max(width / w, height / h)
    else:
        s = min(width / w, height / h)
    nw, nh = max(1, round(w * s)), max(1, round(h * s))
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC
    resized = cv2.resize(src, (nw, nh), interpolation=interp) if (nw, nh) != (w, h) else src
    if fit is Fit.COVER:
        x0, y0 = (nw - width) // 2, (nh - height) // 2
        return np.ascontiguousarray(resized[y0 : y0 + height, x0 : x0 + width])
    out = np.empty((height, width, 3), np.uint8)
    out[:] = np.asarray(_rgba(color)[:3], np.uint8)
    x0, y0 = (width - nw) // 2, (height - nh) // 2
    out[y0 : y0 + nh, x0 : x0 + nw] = resized
    return out


def make_image_background(
    scene: Image,
    width: int,
    height: int,
    fit: Fit = Fit.COVER,
    blur: float = 0.0,
    color: str | Color = "#ffffff",
) -> RGBImage:
    """A scene photo fitted to the canvas and optionally blurred (``blur`` = sigma / long side)."""
    if not 0.0 <= blur <= 0.5:
        raise InvalidParamsError(f"blur must be in [0, 0.5], got {blur}")
    fitted = fit_image(scene, width, height, fit, color)
    return _blur(fitted, blur)


def make_bokeh(
    photo: Image, mask: Mask | None, width: int, height: int, blur: float = 0.02
) -> RGBImage:
    """The original photo with the product removed and blurred: a soft "bokeh" backdrop.

    The product's pixels (``mask`` > 0.5, dilated a little) are left out of the blur by
    normalised convolution, so the product's colour does not smear into the backdrop.
    """
    check_image(photo, name="photo")
    full = to_uint8(photo)[..., :3]
    h0, w0 = full.shape[:2]
    blur = blur if blur > 0 else 0.02
    # the backdrop is blurred heavily: work at a size where sigma is ~4 px (fast at any size)
    f = min(1.0, 4.0 / max(1.0, blur * max(h0, w0)))
    w, h = max(2, round(w0 * f)), max(2, round(h0 * f))
    rgb = cv2.resize(full, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32)
    sigma = max(1.0, blur * max(h0, w0) * f)
    if mask is not None:
        m = as_mask(mask, shape=(h0, w0))
        m = np.asarray(cv2.resize(m, (w, h), interpolation=cv2.INTER_AREA), np.float32)
        k = max(1, round(0.01 * max(h, w)))
        fg = cv2.dilate((m > 0.5).astype(np.uint8), np.ones((2 * k + 1, 2 * k + 1), np.uint8))
        weight = 1.0 - fg.astype(np.float32)
    else:
        weight = np.ones((h, w), np.float32)
    if not weight.any():  # the product fills the photo: nothing else to blur
        weight = np.ones((h, w), np.float32)
    out = np.zeros_like(rgb)
    todo = np.ones((h, w), bool)
    s = sigma
    while todo.any():  # holes left by a large product are filled from ever wider blurs
        num = cv2.GaussianBlur(rgb * weight[..., None], (0, 0), s, borderType=cv2.BORDER_REFLECT)
        den = cv2.GaussianBlur(weight, (0, 0), s, borderType=cv2.BORDER_REFLECT)
        ok = todo & (den > 1e-3)
        out[ok] = num[ok] / den[ok][:, None]
        todo &= ~ok
        if s > 4 * max(h, w):
            out[todo] = rgb[weight > 0].mean(axis=0)
            break
        s *= 2
    out = np.asarray(
        cv2.GaussianBlur(out, (0, 0), sigma, borderType=cv2.BORDER_REFLECT), np.float32
    )
    out8 = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    return fit_image(out8, width, height, Fit.COVER)


def make_background(
    width: int,
    height: int,
    params: BackgroundParams,
    scene: Image | None = None,
    mask: Mask | None = None,
) -> RGBAImage:
    """The background of ``params`` at (height, width) as RGBA uint8.

    Args:
        scene: the scene photo (IMAGE) or the original product photo (BOKEH).
        mask: for BOKEH, the product's mask in ``scene`` (None: blur everything).

    Raises:
        InvalidParamsError: IMAGE/BOKEH without ``scene``.
    """
    p = params
    if p.kind is BackgroundKind.TRANSPARENT:
        return np.zeros((height, width, 4), np.uint8)
    if p.kind is BackgroundKind.SOLID:
        return make_solid(width, height, p.color)
    if p.kind is BackgroundKind.LINEAR:
        rgb = make_linear_gradient(width, height, p.color, p.color2, p.angle_deg)
    elif p.kind is BackgroundKind.RADIAL:
        rgb = make_radial_gradient(width, height, p.color, p.color2, p.center, p.radius)
    else:
        if scene is None:
            raise InvalidParamsError(
                f"background kind '{p.kind.value}' needs a photo: pass scene= (the scene photo "
                "for 'image', the original product photo for 'bokeh')"
            )
        if p.kind is BackgroundKind.IMAGE:
            rgb = make_image_background(scene, width, height, p.fit, p.blur, p.color)
        else:
            rgb = make_bokeh(scene, mask, width, height, p.blur)
    return np.dstack([rgb, np.full((height, width), 255, np.uint8)])


def apply_background(
    image: RGBAImage,
    params: BackgroundParams | None = None,
    scene: Image | None = None,
    mask: Mask | None = None,
) -> Image:
    """Put the RGBA product ``image`` over the background described by ``params``.

    Args:
        image: (H, W, 4) uint8 RGBA product (straight alpha).
        params: background description (default: solid white).
        scene: photo for IMAGE/BOKEH backgrounds (any size: it is fitted to the product's canvas).
        mask: product mask inside ``scene`` for BOKEH.

    Returns:
        (H, W, 3) uint8 RGB when the background is opaque; (H, W, 4) RGBA for TRANSPARENT or a
        solid colour with alpha < 255. **Exact promise**: where the product's alpha is 255 the
        RGB is bit-identical to ``image``; where it is 0 the pixel is exactly the background.

    Example:
        >>> px = np.zeros((4, 4, 4), np.uint8); px[1, 1] = (9, 8, 7, 255)
        >>> out = apply_background(px, BackgroundParams(color="#00ff00"))
        >>> out[1, 1].tolist(), out[0, 0].tolist()
        ([9, 8, 7], [0, 255, 0])
    """
    p = params or BackgroundParams()
    check_image(image, channels=(4,))
    img = to_uint8(image)
    h, w = img.shape[:2]
    if p.kind is BackgroundKind.TRANSPARENT:
        return img.copy()
    if p.kind is BackgroundKind.SOLID and _rgba(p.color)[3] == 255:
        return composite(img, _rgba(p.color)[:3])  # no full-size colour plane needed
    bg = make_background(w, h, p, scene, mask)
    if int(bg[0, 0, 3]) < 255 and p.kind is BackgroundKind.SOLID:
        return over(img, bg)
    return composite(img, bg[..., :3])


__all__ = [
    "BackgroundKind",
    "BackgroundParams",
    "Fit",
    "apply_background",
    "fit_image",
    "make_background",
    "make_bokeh",
    "make_image_background",
    "make_linear_gradient",
    "make_radial_gradient",
    "make_solid",
]
