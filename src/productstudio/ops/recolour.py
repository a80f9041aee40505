"""Colour variants: recolour the product to a target colour, keeping shading and texture.

How (in CIELAB, only inside the product mask):

* **Lightness** moves like a change of paint (albedo) under the same light: linear luminance
  is multiplied by ``Y_target / Y_median``, so folds and shadows keep their relative depth;
  when lightening a very dark product the gain is capped (the rest is an offset) so sensor
  noise is not blown up, and a soft shoulder keeps bright pixels below white. The product's
  median lightness lands exactly on the target's.
* **Chroma** (a*, b*) is moved so the median lands on the target; the product's own colour
  variation is kept, scaled down when going from a vivid colour to a dull one.
* **Specular highlights** (the brightest, near-neutral pixels) keep their lightness.
* Gamut clipping can pull the result off target; two correction rounds re-aim the median.

Pixels where the mask is 0 are bit-identical; soft mask values blend.

Example:
    >>> import numpy as np
    >>> img = np.zeros((8, 8, 4), np.uint8); img[..., :3] = (200, 30, 30); img[..., 3] = 255
    >>> img[:2, :, 3] = 0
    >>> out = recolour(img, RecolourParams(color="#2050c0"))
    >>> bool((out[:2] == img[:2]).all()), bool(out[5, 5, 2] > out[5, 5, 0])
    (True, True)
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from productstudio.errors import InvalidParamsError
from productstudio.imaging.color import lab_to_rgb, parse_color, rgb_to_lab
from productstudio.imaging.types import (
    Color,
    Image,
    Mask,
    as_mask,
    check_image,
    from_float,
    to_float,
)
from productstudio.ops.inpaint import mask_bbox

_EPS = 1e-6


@dataclass(frozen=True, slots=True)
class RecolourParams:
    """Options of :func:`recolour`.

    Attributes:
        color: target colour: hex (``#1f3a93``), CSS name (``navy``), ``rgb(...)`` or a tuple.
        strength: 0..1 blend between the original (0) and the full recolour (1).
        keep_highlights: keep the lightness of specular highlights.
        max_gain: cap of the luminance gain when lightening (noise control).
        corrections: re-aiming rounds after gamut clipping (0..4).
    """

    color: str | Color = "#1f3a93"
    strength: float = 1.0
    keep_highlights: bool = True
    max_gain: float = 8.0
    corrections: int = 3

    def __post_init__(self) -> None:
        parse_color(self.color)  # raises InvalidParamsError for non-colours
        if not 0.0 <= self.strength <= 1.0:
            raise InvalidParamsError(
                f"RecolourParams.strength must be in [0, 1], got {self.strength}"
            )
        if not 1.0 <= self.max_gain <= 100.0:
            raise InvalidParamsError("RecolourParams.max_gain must be in [1, 100]")
        if not 0 <= self.corrections <= 4:
            raise InvalidParamsError("RecolourParams.corrections must be in 0..4")

    @property
    def rgb(self) -> tuple[int, int, int]:
        c = parse_color(self.color)
        return int(c[0]), int(c[1]), int(c[2])


def target_lab(color: str | Color) -> NDArray[np.float32]:
    """CIELAB of a colour (hex, CSS name or tuple)."""
    c = parse_color(color)
    return rgb_to_lab(np.asarray([[c[:3]]], np.uint8))[0, 0]


def _product_mask(image: Image, mask: np.ndarray | None) -> Mask:
    if mask is not None:
        return as_mask(mask, shape=image.shape[:2], name="mask")
    if image.shape[2] == 4:
        return as_mask(image[..., 3])
    raise InvalidParamsError(
        "recolour needs to know where the product is: pass a mask, or an RGBA cut-out "
        "(run `productstudio cutout` first)"
    )


def median_lab(image: Image, mask: np.ndarray | None = None) -> NDArray[np.float32]:
    """Per-channel median CIELAB of the pixels where the mask (or alpha) is >= 0.5."""
    check_image(image)
    m = _product_mask(image, mask) >= 0.5
    if not m.any():
        raise InvalidParamsError("the product mask is empty (no pixel >= 0.5)")
    lab = rgb_to_lab(to_float(image[..., :3][m]))
    return np.median(lab, axis=0).astype(np.float32)


def _l_to_y(L: np.ndarray) -> np.ndarray:
    f = (L + 16.0) / 116.0
    return np.where(f > 6.0 / 29.0, f**3, (f - 4.0 / 29.0) * 3.0 * (6.0 / 29.0) ** 2)


def _y_to_l(Y: np.ndarray) -> np.ndarray:
    Y = np.clip(Y, 0.0, 1.0)
    f = np.where(Y > (6.0 / 29.0) ** 3, np.cbrt(Y), Y / (3.0 * (6.0 / 29.0) ** 2) + 4.0 / 29.0)
    return 116.0 * f - 16.0


def _map_lightness(L: np.ndarray, l_med: float, l_tgt: float, max_gain: float) -> np.ndarray:
    y, ym, yt = _l_to_y(L), float(_l_to_y(np.asarray(l_med))), float(_l_to_y(np.asarray(l_tgt)))
    gain = yt / max(ym, _EPS)
    g = min(gain, max_gain)
    y1 = g * y + (yt - g * ym)  # the median maps exactly to the target
    knee = max(yt, 0.0) + 0.5 * (1.0 - max(yt, 0.0))
    over = y1 > knee
    span = max(1.0 - knee, _EPS)
    y1 = np.where(over, knee + span * (1.0 - np.exp(-np.maximum(y1 - knee, 0.0) / span)), y1)
    return _y_to_l(np.clip(y1, 0.0, 1.0))


def _recolour_lab(
    lab: np.ndarray, med: np.ndarray, tgt: np.ndarray, p: RecolourParams, spec: np.ndarray
) -> np.ndarray:
    out = np.empty_like(lab)
    out[:, 0] = _map_lightness(lab[:, 0], float(med[0]), float(tgt[0]), p.max_gain)
    c_src = float(np.hypot(med[1], med[2]))
    c_tgt = float(np.hypot(tgt[1], tgt[2]))
    s = min(1.0, (c_tgt + 6.0) / (c_src + 6.0))
    out[:, 1:] = tgt[1:] + (lab[:, 1:] - med[1:]) * s
    if p.keep_highlights and spec.any():
        out[spec, 0] = np.maximum(out[spec, 0], lab[spec, 0])
        out[spec, 1:] = out[spec, 1:] * 0.3
    return out


def recolour(image: Image, params: RecolourParams, mask: np.ndarray | None = None) -> Image:
    """Recolour the product in ``image`` to ``params.color``.

    Args:
        image: (H, W, 3|4) uint8/uint16.
        params: :class:`RecolourParams`.
        mask: (H, W) product/region mask; default: the alpha channel.

    Returns:
        Same shape and dtype. Pixels where the mask is 0 are bit-identical; alpha is unchanged.

    Raises:
        InvalidParamsError: no mask and no alpha, mask of the wrong size, empty mask, bad colour.
    """
    check_image(image)
    m = _product_mask(image, mask)
    core = m >= 0.5
    if not core.any():
        raise InvalidParamsError("the product mask is empty (no pixel >= 0.5)")
    y0, y1, x0, x1 = mask_bbox(m > 0)
    sub = to_float(image[y0:y1, x0:x1, :3])
    sm = m[y0:y1, x0:x1]
    touched = sm > 0
    lab = rgb_to_lab(sub[touched])
    core_sub = core[y0:y1, x0:x1][touched]
    med = np.median(lab[core_sub], axis=0)
    tgt = target_lab(params.color).astype(np.float64)
    lcore = lab[core_sub, 0]
    p97 = float(np.percentile(lcore, 97))
    chroma = np.hypot(lab[:, 1], lab[:, 2])
    spec = (lab[:, 0] > max(p97, float(med[0]) + 15.0)) & (chroma < 12.0)
    aim = tgt.copy()
    rgb_new = np.zeros_like(sub[touched])
    for _ in range(params.corrections + 1):
        new_lab = _recolour_lab(lab, med, aim, params, spec)
        with warnings.catch_warnings():  # out-of-gamut colours are clipped on purpose
            warnings.simplefilter("ignore", UserWarning)
            rgb_new = lab_to_rgb(new_lab)
        got = np.median(rgb_to_lab(rgb_new[core_sub]), axis=0)
        err = tgt - got
        if float(np.abs(err).max()) < 0.3:
            break
        aim = aim + err
        aim[0] = float(np.clip(aim[0], 0.5, 99.5))
    a = (sm[touched] * params.strength)[:, None]
    blended = sub[touched] * (1.0 - a) + rgb_new * a
    dtype = np.uint16 if image.dtype == np.uint16 else np.uint8
    out = image.copy()
    region = out[y0:y1, x0:x1, :3]
    region[touched] = from_float(blended, dtype)
    return out


def recolour_palette(
    image: Image,
    colors: Sequence[str | Color],
    mask: np.ndarray | None = None,
    *,
    strength: float = 1.0,
) -> list[Image]:
    """One recoloured image per colour of ``colors`` (same order)."""
    if not colors:
        raise InvalidParamsError("the palette is empty: give at least one colour")
    return [recolour(image, RecolourParams(color=c, strength=strength), mask) for c in colors]


def parse_palette(text: str) -> list[str]:
    """``"#ff0000,navy, #00ff00"`` → a list of colour strings (each validated)."""
    items = [t.strip() for t in str(text).replace(";", ",").split(",") if t.strip()]
    if not items:
        raise InvalidParamsError(f"'{text}' is not a palette: give colours separated by commas")
    for t in items:
        parse_color(t)
    return items


__all__ = [
    "RecolourParams",
    "median_lab",
    "parse_palette",
    "recolour",
    "recolour_palette",
    "target_lab",
]
