"""Shadows and reflections under a cut-out product, computed in linear light.

Every op takes the RGBA product (already laid out on its canvas), a background (a colour or an
(H, W, 3|4) image of the same size) and typed params, and returns the composited RGB picture.

Exact promises (tested):

* **Product pixels are untouched**: where the product's alpha is 255 the output RGB is
  bit-identical to the product's RGB.
* **Shadows darken, never lighten** (contact, drop, cast): every output pixel is ≤ the same
  pixel of the plain composite (:func:`productstudio.ops.composite.composite`) in each
  channel. The shadow multiplies the background in linear light by
  ``1 − s · (1 − colour)``, with ``s`` the shadow strength in [0, 1].
* **Floor side only** (contact, cast, reflection, and drop with ``floor_only=True``): no pixel
  above :func:`floor_row` changes. The floor is what lies below the product's contact line
  (the bottom of its alpha box), plus a thin band ``floor_band`` × product height above it
  where the floor shows between feet and legs. A cast shadow that would fall behind the
  product (light from the front) is therefore hidden, as it is in a front-on packshot.
* A **reflection** is a mirrored copy of the product, so it can lighten a dark floor; it keeps
  the first and third promises.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from productstudio.errors import InvalidParamsError
from productstudio.imaging.color import linear_to_srgb, parse_color, srgb_to_linear
from productstudio.imaging.types import Color, Mask, RGBAImage, RGBImage, check_image, to_uint8
from productstudio.ops.composite import background_array, composite, over

BackgroundLike = Color | str | np.ndarray


def _check_unit(name: str, value: float, lo: float = 0.0, hi: float = 1.0) -> None:
    if not (math.isfinite(value) and lo <= value <= hi):
        raise InvalidParamsError(f"{name} must be in [{lo}, {hi}], got {value}")


@dataclass(frozen=True, slots=True)
class ContactShadowParams:
    """Soft occlusion right under the product's ground contact.

    Attributes:
        opacity: darkness at the contact line, 0..1.
        spread: how far the shadow reaches below the contact, as a fraction of product height.
        softness: horizontal blur, as a fraction of product width.
        contact_band: rows at the product's bottom that count as touching the floor
            (fraction of product height).
        floor_band: see :func:`floor_row`.
        color: shadow colour (black by default).
    """

    opacity: float = 0.55
    spread: float = 0.04
    softness: float = 0.04
    contact_band: float = 0.03
    floor_band: float = 0.02
    color: str = "#000000"

    def __post_init__(self) -> None:
        _check_unit("ContactShadowParams.opacity", self.opacity)
        _check_unit("ContactShadowParams.spread", self.spread, 0.001, 1.0)
        _check_unit("ContactShadowParams.softness", self.softness, 0.0, 1.0)
        _check_unit("ContactShadowParams.contact_band", self.contact_band, 0.001, 1.0)
        _check_unit("ContactShadowParams.floor_band", self.floor_band, 0.0, 0.5)
        parse_color(self.color)


@dataclass(frozen=True, slots=True)
class DropShadowParams:
    """A classic offset, blurred silhouette.

    Attributes:
        offset_x, offset_y: offset as fractions of the product's longer side (+x right, +y down).
        blur: Gaussian sigma as a fraction of the product's longer side.
        opacity: 0..1.
        color: shadow colour.
        floor_only: clip to the floor side (:func:`floor_row`). Off by default: a drop shadow
            models a flat-lay (camera above the backdrop), where the whole backdrop is floor.
        floor_band: see :func:`floor_row`.
    """

    offset_x: float = 0.02
    offset_y: float = 0.03
    blur: float = 0.02
    opacity: float = 0.45
    color: str = "#000000"
    floor_only: bool = False
    floor_band: float = 0.02

    def __post_init__(self) -> None:
        _check_unit("DropShadowParams.offset_x", self.offset_x, -1.0, 1.0)
        _check_unit("DropShadowParams.offset_y", self.offset_y, -1.0, 1.0)
        _check_unit("DropShadowParams.blur", self.blur, 0.0, 0.5)
        _check_unit("DropShadowParams.opacity", self.opacity)
        _check_unit("DropShadowParams.floor_band", self.floor_band, 0.0, 0.5)
        parse_color(self.color)


@dataclass(frozen=True, slots=True)
class ReflectionParams:
    """The product mirrored on a glossy floor, fading with distance from the contact line.

    Attributes:
        opacity: strength at the contact line, 0..1.
        length: the reflection fades to nothing after this fraction of the product height.
        blur: Gaussian sigma of the reflection (fraction of product height; glossy vs satin).
        gap_px: rows between the contact line and the mirror image.
        floor_band: see :func:`floor_row` (the reflection starts at the contact line anyway).
    """

    opacity: float = 0.3
    length: float = 0.35
    blur: float = 0.0
    gap_px: int = 0
    floor_band: float = 0.0

    def __post_init__(self) -> None:
        _check_unit("ReflectionParams.opacity", self.opacity)
        _check_unit("ReflectionParams.length", self.length, 0.01, 1.0)
        _check_unit("ReflectionParams.blur", self.blur, 0.0, 0.2)
        if not 0 <= self.gap_px <= 1000:
            raise InvalidParamsError(
                f"ReflectionParams.gap_px must be in 0..1000, got {self.gap_px}"
            )
        _check_unit("ReflectionParams.floor_band", self.floor_band, 0.0, 0.5)


@dataclass(frozen=True, slots=True)
class CastShadowParams:
    """The silhouette projected on the floor plane from a light direction.

    Attributes:
        azimuth_deg: where the light comes from, in the floor plane, clockwise seen from
            above: 0 = from behind the product (shadow falls towards the camera, down in the
            picture), 90 = from the right (shadow falls left), −90 = from the left.
        elevation_deg: light height above the floor, 5..89 (low light = long shadow).
        floor_tilt: how much floor depth shows in the picture (0 = camera at floor level,
            1 = camera straight above); scales the shadow's depth component.
        opacity: darkness at the contact line.
        penumbra: blur growth with distance from the contact line (sigma / product height
            per unit of height above the floor).
        min_blur: sigma at the contact line (fraction of product height).
        fade: 0..1, how much the shadow lightens towards its far end.
        color: shadow colour.
        floor_band: see :func:`floor_row`.
    """

    azimuth_deg: float = 30.0
    elevation_deg: float = 40.0
    floor_tilt: float = 0.35
    opacity: float = 0.45
    penumbra: float = 0.06
    min_blur: float = 0.004
    fade: float = 0.6
    color: str = "#000000"
    floor_band: float = 0.02

    def __post_init__(self) -> None:
        _check_unit("CastShadowParams.azimuth_deg", self.azimuth_deg, -360.0, 360.0)
        _check_unit("CastShadowParams.elevation_deg", self.elevation_deg, 5.0, 89.0)
        _check_unit("CastShadowParams.floor_tilt", self.floor_tilt, 0.0, 1.0)
        _check_unit("CastShadowParams.opacity", self.opacity)
        _check_unit("CastShadowParams.penumbra", self.penumbra, 0.0, 1.0)
        _check_unit("CastShadowParams.min_blur", self.min_blur, 0.0, 0.2)
        _check_unit("CastShadowParams.fade", self.fade)
        _check_unit("CastShadowParams.floor_band", self.floor_band, 0.0, 0.5)
        parse_color(self.color)


ShadowParams = ContactShadowParams | DropShadowParams | ReflectionParams | CastShadowParams


# -- geometry ------------------------------------------------------------------------------
def _box(alpha8: np.ndarray) -> tuple[int, int, int, int]:
    a = alpha8 > 8
    rows = np.flatnonzero(a.any(axis=1))
    if rows.size == 0:
        raise InvalidParamsError(
            "the product image has no visible pixel (alpha is empty): nothing casts a shadow"
        )
    cols = np.flatnonzero(a.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def floor_row(image: RGBAImage, floor_band: float = 0.02) -> int:
    """First image row of the floor side: the contact line (bottom of the product's alpha box)
    minus ``floor_band`` × product height. Floor-side shadows change no pixel above it."""
    check_image(image, channels=(4,))
    _x0, y0, _x1, y1 = _box(to_uint8(image)[..., 3])
    return max(0, y1 - round(floor_band * (y1 - y0)))


def _gauss(m: np.ndarray, sx: float, sy: float | None = None) -> np.ndarray:
    """Gaussian blur; wide blurs run on a downscaled copy (shadows are smooth), so the cost
    stays flat however soft the shadow is."""
    sy = sx if sy is None else sy
    if sx <= 0.05 and sy <= 0.05:
        return m
    big = max(sx, sy)
    h, w = m.shape[:2]
    if big > _FAST_SIGMA and min(h, w) > 16:
        f = _FAST_SIGMA / big
        sw, sh = max(2, round(w * f)), max(2, round(h * f))
        small = cv2.resize(m, (sw, sh), interpolation=cv2.INTER_AREA)
        small = cv2.GaussianBlur(
            small,
            (0, 0),
            sigmaX=max(sx * sw / w, 0.05),
            sigmaY=max(sy * sh / h, 0.05),
            borderType=cv2.BORDER_CONSTANT,
        )
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    return cv2.GaussianBlur(
        m, (0, 0), sigmaX=max(sx, 0.05), sigmaY=max(sy, 0.05), borderType=cv2.BORDER_CONSTANT
    )


_FAST_SIGMA = 6.0


def contact_shadow_map(image: RGBAImage, params: ContactShadowParams | None = None) -> Mask:
    """Shadow strength (H, W) float32 in [0, 1] of a contact shadow (before colour)."""
    p = params or ContactShadowParams()
    check_image(image, channels=(4,))
    a = to_uint8(image)[..., 3].astype(np.float32) / 255.0
    h, w = a.shape
    x0, y0, x1, y1 = _box(to_uint8(image)[..., 3])
    ph, pw = y1 - y0, x1 - x0
    band = max(1, round(p.contact_band * ph))
    foot = a[max(y0, y1 - band) : y1].max(axis=0)
    reach = max(1.0, p.spread * ph)
    m = np.zeros((h, w), np.float32)
    top = max(0, y1 - band)
    rows = np.arange(top, min(h, y1 + math.ceil(3 * reach)), dtype=np.float32)
    fall = np.exp(-np.maximum(rows - (y1 - 1), 0.0) / reach)
    m[top : top + rows.size] = fall[:, None] * foot[None, :]
    m = _gauss(m, p.softness * pw, 0.35 * reach)
    peak = float(m.max())
    if peak > 0:
        m = m / peak
    m *= p.opacity
    m[: floor_row(image, p.floor_band)] = 0.0
    return np.clip(m, 0.0, 1.0).astype(np.float32)


def drop_shadow_map(image: RGBAImage, params: DropShadowParams | None = None) -> Mask:
    """Shadow strength (H, W) float32 in [0, 1] of a drop shadow (before colour)."""
    p = params or DropShadowParams()
    check_image(image, channels=(4,))
    a8 = to_uint8(image)[..., 3]
    x0, y0, x1, y1 = _box(a8)
    size = max(x1 - x0, y1 - y0)
    h, w = a8.shape
    a = a8.astype(np.float32) / 255.0
    mat = np.array([[1, 0, p.offset_x * size], [0, 1, p.offset_y * size]], np.float32)
    shifted = cv2.warpAffine(a, mat, (w, h), flags=cv2.INTER_LINEAR, borderValue=0.0)
    m = _gauss(shifted, p.blur * size) * p.opacity
    if p.floor_only:
        m[: floor_row(image, p.floor_band)] = 0.0
    return np.clip(m, 0.0, 1.0).astype(np.float32)


def cast_shadow_map(image: RGBAImage, params: CastShadowParams | None = None) -> Mask:
    """Shadow strength (H, W) float32 in [0, 1] of a cast shadow (before colour).

    The silhouette is projected on the floor plane (an affine map of the picture, since every
    silhouette point's height above the floor is its distance above the contact line); each
    point is blurred by ``min_blur + penumbra × height``, so the penumbra widens away from the
    contact line.
    """
    p = params or CastShadowParams()
    check_image(image, channels=(4,))
    a8 = to_uint8(image)[..., 3]
    h, w = a8.shape
    _x0, y0, _x1, y1 = _box(a8)
    ph = float(y1 - y0)
    cy = float(y1 - 1)
    az, el = math.radians(p.azimuth_deg), math.radians(p.elevation_deg)
    length = 1.0 / math.tan(el)
    kx = (
        math.sin(az) * length
    )  # x' = x + kx (y - cy): y < cy is height, light from the right → left
    ky = -math.cos(az) * length * p.floor_tilt  # y' = cy + ky (y - cy)
    mat = np.array([[1.0, kx, -kx * cy], [0.0, ky, cy - ky * cy]], np.float32)
    a = a8.astype(np.float32) / 255.0
    height = np.clip((cy - np.arange(h, dtype=np.float32)) / max(ph, 1.0), 0.0, None)
    hmap = np.broadcast_to(height[:, None], (h, w)).astype(np.float32) * a
    if abs(ky) < 1e-3:  # light along the picture plane: the shadow is a line on the floor
        ky_eff = 1e-3 if ky >= 0 else -1e-3
        mat[1, 1], mat[1, 2] = ky_eff, cy - ky_eff * cy
    proj = cv2.warpAffine(a, mat, (w, h), flags=cv2.INTER_LINEAR, borderValue=0.0)
    projh = cv2.warpAffine(hmap, mat, (w, h), flags=cv2.INTER_LINEAR, borderValue=0.0)
    t = np.where(proj > 1e-3, projh / np.maximum(proj, 1e-3), 0.0).astype(np.float32)
    # blend a few blur levels by distance from the contact (height of the source point)
    levels = np.linspace(0.0, 1.0, 5, dtype=np.float32)
    blurred = [_gauss(proj, (p.min_blur + p.penumbra * lv) * ph) for lv in levels]
    tb = _gauss(t * proj, 2 * p.penumbra * ph + 1) / np.maximum(
        _gauss(proj, 2 * p.penumbra * ph + 1), 1e-4
    )
    tb = np.clip(tb, 0.0, 1.0)
    idx = tb * (len(levels) - 1)
    m = np.zeros((h, w), np.float32)
    for i, level in enumerate(blurred):  # linear interpolation between neighbouring levels
        m += np.clip(1.0 - np.abs(idx - i), 0.0, 1.0) * level
    m = m * (1.0 - p.fade * tb) * p.opacity
    m[: floor_row(image, p.floor_band)] = 0.0
    return np.clip(m, 0.0, 1.0).astype(np.float32)


# -- compositing ---------------------------------------------------------------------------
def _background(background: BackgroundLike, shape: tuple[int, int]) -> np.ndarray | None:
    """Opaque RGB background array, or None for a fully transparent one."""
    bg = background_array(background, shape)
    if bg.shape[2] == 4:
        if (bg[..., 3] == 0).all():
            return None
        if not (bg[..., 3] == 255).all():
            raise InvalidParamsError(
                "shadows need an opaque or fully transparent background; flatten it first "
                "(a colour without alpha, or ops.composite.over)"
            )
        bg = bg[..., :3]
    return np.ascontiguousarray(bg) if isinstance(background, np.ndarray) else bg.copy()


def darken(background: RGBImage, strength: Mask, color: str | Color = "#000000") -> RGBImage:
    """Multiply ``background`` in linear light by ``1 − s·(1 − colour)``; never lightens.

    Pixels with strength below 1/1024 (invisible in 8 bits) are returned bit-identical.
    """
    check_image(background, name="background", channels=(3,))
    s = np.asarray(strength, np.float32)
    col = np.asarray(parse_color(color)[:3], np.float32) / 255.0
    col_lin = srgb_to_linear(col)
    out = background.copy()
    on = s > _MIN_STRENGTH
    rows = np.flatnonzero(on.any(axis=1))
    if rows.size == 0:
        return out
    cols = np.flatnonzero(on.any(axis=0))
    roi = (slice(int(rows[0]), int(rows[-1]) + 1), slice(int(cols[0]), int(cols[-1]) + 1))
    bg = background[roi]
    sr = np.clip(s[roi], 0.0, 1.0)[..., None]
    v = np.minimum(_encode(_TO_LINEAR[bg] * (1.0 - sr * (1.0 - col_lin))), bg)
    out[roi] = np.where(on[roi][..., None], v, bg)
    return out


_MIN_STRENGTH = 1.0 / 1024.0


# sRGB ↔ linear by table: 8-bit sRGB → linear float32, and linear quantised to 1/65535 →
# 8-bit sRGB (within ±1 code value of the exact formula; the minimum() above keeps
# "never lightens" exact).
_TO_LINEAR = srgb_to_linear(np.arange(256, dtype=np.float32) / 255.0)
_TO_SRGB8 = np.clip(
    np.rint(linear_to_srgb(np.linspace(0.0, 1.0, 65536, dtype=np.float32)) * 255.0), 0, 255
).astype(np.uint8)


def _encode(linear: np.ndarray) -> np.ndarray:
    """Linear light in [0, 1] → 8-bit sRGB through the table."""
    idx = np.rint(np.clip(linear, 0.0, 1.0) * 65535.0).astype(np.int32)
    return np.asarray(_TO_SRGB8[idx])


def _apply(image: RGBAImage, background: BackgroundLike, strength: Mask, color: str) -> np.ndarray:
    img = to_uint8(image)
    bg = _background(background, img.shape[:2])
    if bg is None:  # transparent: the shadow becomes a translucent layer under the product
        rgb = np.asarray(parse_color(color)[:3], np.uint8)
        layer = np.zeros(img.shape, np.uint8)
        layer[..., :3] = rgb
        layer[..., 3] = np.clip(np.rint(strength * 255.0), 0, 255).astype(np.uint8)
        return over(img, layer)
    return composite(img, darken(bg, strength, color))


def contact_shadow(
    image: RGBAImage,
    background: BackgroundLike = "#ffffff",
    params: ContactShadowParams | None = None,
) -> np.ndarray:
    """Composite the product over ``background`` with a contact shadow.

    Args:
        image: (H, W, 4) uint8 RGBA product on its canvas.
        background: colour or (H, W, 3|4) image; fully transparent gives an RGBA result.
        params: see :class:`ContactShadowParams`.

    Returns:
        (H, W, 3) uint8 (or (H, W, 4) on a transparent background). See the module's promises.

    Example:
        >>> img = np.zeros((40, 40, 4), np.uint8); img[10:30, 15:25] = (200, 0, 0, 255)
        >>> out = contact_shadow(img, "#ffffff")
        >>> bool((out[10:30, 15:25] == (200, 0, 0)).all()), bool(out[31, 20, 0] < 255)
        (True, True)
    """
    p = params or ContactShadowParams()
    check_image(image, channels=(4,))
    return _apply(image, background, contact_shadow_map(image, p), p.color)


def drop_shadow(
    image: RGBAImage, background: BackgroundLike = "#ffffff", params: DropShadowParams | None = None
) -> np.ndarray:
    """Composite the product over ``background`` with a drop shadow (see :func:`contact_shadow`)."""
    p = params or DropShadowParams()
    check_image(image, channels=(4,))
    return _apply(image, background, drop_shadow_map(image, p), p.color)


def cast_shadow(
    image: RGBAImage, background: BackgroundLike = "#ffffff", params: CastShadowParams | None = None
) -> np.ndarray:
    """Composite the product over ``background`` with a cast shadow (see :func:`contact_shadow`)."""
    p = params or CastShadowParams()
    check_image(image, channels=(4,))
    return _apply(image, background, cast_shadow_map(image, p), p.color)


def reflection(
    image: RGBAImage, background: BackgroundLike = "#ffffff", params: ReflectionParams | None = None
) -> np.ndarray:
    """Composite the product over ``background`` with its mirror image on a glossy floor.

    The mirror is blended in linear light with weight ``alpha × opacity × fade``, where the
    fade runs linearly from 1 at the contact line to 0 after ``length`` × product height.
    Pixels above the contact line (and product pixels with alpha 255) do not change.
    """
    p = params or ReflectionParams()
    check_image(image, channels=(4,))
    img = to_uint8(image)
    h, w = img.shape[:2]
    _x0, y0, _x1, y1 = _box(img[..., 3])
    ph = y1 - y0
    bg = _background(background, (h, w))
    start = y1 + p.gap_px  # first row of the mirror image
    mirror = np.zeros((h, w, 4), np.uint8)
    n = min(ph, h - start)
    if n > 0:
        src = img[y1 - n : y1][::-1]
        mirror[start : start + n] = src
    a = mirror[..., 3].astype(np.float32) / 255.0
    if p.blur > 0:
        sig = p.blur * ph
        pre = mirror[..., :3].astype(np.float32) * a[..., None]
        pre = _gauss(pre, sig)
        a = _gauss(a, sig)
        rgb = pre / np.maximum(a, 1e-4)[..., None]
    else:
        rgb = mirror[..., :3].astype(np.float32)
    rows = np.arange(h, dtype=np.float32)
    fade = np.clip(1.0 - (rows - start) / max(p.length * ph, 1.0), 0.0, 1.0)
    fade[: max(start, floor_row(img, p.floor_band))] = 0.0
    weight = np.clip(a * fade[:, None] * p.opacity, 0.0, 1.0)
    if bg is None:
        layer = np.dstack([np.clip(np.rint(rgb), 0, 255), np.rint(weight * 255.0)]).astype(np.uint8)
        return over(img, layer)
    sel = weight > 0
    new_bg = bg.copy()
    if sel.any():
        b = _TO_LINEAR[bg[sel]]
        m = srgb_to_linear(np.clip(rgb[sel] / 255.0, 0.0, 1.0))
        wsel = weight[sel][:, None]
        new_bg[sel] = _encode(b * (1.0 - wsel) + m * wsel)
    return composite(img, new_bg)


def apply_shadow(image: RGBAImage, background: BackgroundLike, params: ShadowParams) -> np.ndarray:
    """Dispatch on the params type: contact, drop, cast shadow or reflection."""
    if isinstance(params, ContactShadowParams):
        return contact_shadow(image, background, params)
    if isinstance(params, DropShadowParams):
        return drop_shadow(image, background, params)
    if isinstance(params, CastShadowParams):
        return cast_shadow(image, background, params)
    if isinstance(params, ReflectionParams):
        return reflection(image, background, params)
    raise InvalidParamsError(f"unknown shadow params {type(params).__name__}")


__all__ = [
    "CastShadowParams",
    "ContactShadowParams",
    "DropShadowParams",
    "ReflectionParams",
    "ShadowParams",
    "apply_shadow",
    "cast_shadow",
    "cast_shadow_map",
    "contact_shadow",
    "contact_shadow_map",
    "darken",
    "drop_shadow",
    "drop_shadow_map",
    "floor_row",
    "reflection",
]
