"""AI product scenes that keep the product exact: the compositing half (no model here).

A diffusion model paints a new scene around a product (the model call lives in
:mod:`productstudio.models.pipelines.scene`); plain diffusion inpainting also changes the
product itself, because the whole picture passes through the model's VAE. This module does
everything around that call so that it cannot:

1. :func:`scene_mask` — what the model may repaint: everything but the product, grown
   ``grow_px`` into the product's border so the model draws the scene right up to (and under)
   the soft edge instead of continuing the old background;
2. :func:`scene_input` — the picture the model sees: the product over a flat fill;
3. :func:`composite_scene` — the product's original pixels back over the generated scene:
   the scene under the product's soft edge is refilled from the scene around it, a contact
   shadow darkens the floor under it, and the soft edge is **harmonised** with the new
   scene (its foreground colour re-estimated from the product next to it, optionally a light
   wrap of scene light); then the product is alpha-composited.

Exact promise (tested, also with Hypothesis): every pixel where the product's alpha is 255
comes back **bit-identical** to the product's RGB, whatever the background; pixels where
alpha is 0 are the background (darkened by the shadow, never otherwise changed).

:func:`edge_band_difference` measures the halo this avoids: the mean CIEDE2000 distance of
the soft-edge pixels from a clean blend ``a·P + (1 − a)·S`` of the product colour ``P`` and
the scene colour ``S`` right next to them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np
from numpy.typing import NDArray

from productstudio.errors import InvalidParamsError
from productstudio.imaging.color import delta_e2000, parse_color, rgb_to_lab
from productstudio.imaging.types import Mask, RGBAImage, RGBImage, check_image, to_uint8
from productstudio.ops.composite import composite
from productstudio.ops.shadow import ContactShadowParams, contact_shadow_map, darken


def _default_shadow() -> ContactShadowParams:
    return ContactShadowParams(opacity=0.45)


@dataclass(frozen=True, slots=True)
class SceneParams:
    """How the product goes back over a generated scene.

    Attributes:
        grow_px: the repaint mask reaches this many px into the product's border
            (:func:`scene_mask`).
        band_px: reach (px) of the local colour estimates at the soft edge, for the
            harmonisation and for :func:`edge_band_difference`.
        harmonise: 0..1, how strongly the soft edge is made consistent with the new scene:
            the scene under it is refilled from around the product and its foreground colour
            is pulled towards the product's own colour next to it (most where alpha is low,
            where the old background lingers). 0 = a plain alpha composite.
        light_wrap: 0..1, scene light spilling over the product's soft edge (a look; it
            adds scene colour to the edge, so it raises :func:`edge_band_difference`).
        shadow: contact shadow under the product (``None``: no shadow).
        fill: colour the model sees in the area it repaints (:func:`scene_input`).
    """

    grow_px: int = 3
    band_px: int = 4
    harmonise: float = 1.0
    light_wrap: float = 0.0
    shadow: ContactShadowParams | None = field(default_factory=_default_shadow)
    fill: str = "#808080"

    def __post_init__(self) -> None:
        if not 0 <= self.grow_px <= 64:
            raise InvalidParamsError(f"SceneParams.grow_px must be in 0..64, got {self.grow_px}")
        if not 1 <= self.band_px <= 64:
            raise InvalidParamsError(f"SceneParams.band_px must be in 1..64, got {self.band_px}")
        for name in ("harmonise", "light_wrap"):
            v = getattr(self, name)
            if not (math.isfinite(v) and 0.0 <= v <= 1.0):
                raise InvalidParamsError(f"SceneParams.{name} must be in [0, 1], got {v}")
        parse_color(self.fill)


def _check_product(product: np.ndarray) -> NDArray[np.uint8]:
    check_image(product, name="product", channels=(4,))
    img = to_uint8(product)
    if not (img[..., 3] > 0).any():
        raise InvalidParamsError(
            "the product has no visible pixel (alpha is empty): cut it out first"
        )
    return img


def _disk(r: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))


def scene_mask(product: RGBAImage, grow_px: int = 3) -> Mask:
    """Where the model may repaint: 1 where the product is not fully opaque, grown
    ``grow_px`` into it; 0 on the product's opaque core.

    Args:
        product: (H, W, 4) uint8 RGBA, the product placed on its canvas.
        grow_px: growth into the product (px).

    Returns:
        (H, W) float32 of 0 and 1.

    Example:
        >>> p = np.zeros((20, 20, 4), np.uint8); p[5:15, 5:15, 3] = 255
        >>> m = scene_mask(p, 2)
        >>> float(m[0, 0]), float(m[10, 10]), float(m[5, 10]), float(m[8, 10])
        (1.0, 0.0, 1.0, 0.0)
    """
    img = _check_product(product)
    hole: np.ndarray = (img[..., 3] < 255).astype(np.uint8)
    if grow_px > 0:
        hole = cv2.dilate(hole, _disk(grow_px))
    return hole.astype(np.float32)


def scene_input(product: RGBAImage, fill: str = "#808080") -> RGBImage:
    """The picture an inpainting model gets: the product over a flat ``fill`` colour."""
    img = _check_product(product)
    return composite(img, fill)


_FAST_SIGMA = 8.0


def _blur(x: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur; wide ones run on a downscaled copy (they only feed smooth local means)."""
    if sigma <= _FAST_SIGMA:
        return cv2.GaussianBlur(x, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    h, w = x.shape[:2]
    f = _FAST_SIGMA / sigma
    size = (max(2, round(w * f)), max(2, round(h * f)))
    small = cv2.resize(x, size, interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), _FAST_SIGMA, borderType=cv2.BORDER_REFLECT)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def _local_mean(
    values: NDArray[np.float32],
    weight: NDArray[np.float32],
    sigma: float,
    where: NDArray[np.bool_],
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Weighted Gaussian mean of ``values`` (H, W, C) at the ``where`` pixels, and the total
    weight there (normalised convolution; where the weight vanishes the mean is meaningless).

    Computed on the box around ``where`` plus 3 sigma only. Returns ``(N, C)`` and ``(N,)``.
    """
    ys, xs = np.nonzero(where)
    if ys.size == 0:
        return np.zeros((0, values.shape[2]), np.float32), np.zeros(0, np.float32)
    h, w = where.shape
    m = math.ceil(3 * sigma) + 1
    y0, y1 = max(0, int(ys.min()) - m), min(h, int(ys.max()) + 1 + m)
    x0, x1 = max(0, int(xs.min()) - m), min(w, int(xs.max()) + 1 + m)
    wt = weight[y0:y1, x0:x1].astype(np.float32)
    num = _blur(values[y0:y1, x0:x1] * wt[..., None], sigma)
    den = _blur(wt, sigma)
    sub = where[y0:y1, x0:x1]
    d = den[sub].astype(np.float32)
    mean = num[sub] / np.maximum(d, 1e-6)[:, None]
    return mean.astype(np.float32), d


def refill_under(
    background: RGBImage,
    covered: NDArray[np.bool_],
    sigma: float,
    target: NDArray[np.bool_] | None = None,
) -> RGBImage:
    """``background`` with the ``target`` pixels (default: all ``covered`` ones) replaced by
    the scene around them, taken from pixels that are not ``covered``.

    Normalised convolutions of growing width: each target pixel takes the Gaussian-weighted
    mean of uncovered pixels at the smallest scale that reaches any; all other pixels are
    returned bit-identical.
    """
    check_image(background, name="background", channels=(3,))
    tgt = covered if target is None else (target & covered)
    if not tgt.any():
        return background.copy()
    f = background.astype(np.float32)
    keep = (~covered).astype(np.float32)
    if not keep.any():
        return background.copy()
    out = f.copy()
    todo = tgt.copy()
    s = max(1.0, float(sigma))
    while todo.any():
        mean, den = _local_mean(f, keep, s, todo)
        ok = den > 1e-3
        idx = np.flatnonzero(todo.ravel())[ok]
        out.reshape(-1, 3)[idx] = mean[ok]
        todo.ravel()[idx] = False
        if s > 4 * max(background.shape[:2]):
            out[todo] = f[~covered].mean(axis=0)
            break
        s *= 2.0
    res = background.copy()
    res[tgt] = np.clip(np.rint(out[tgt]), 0, 255).astype(np.uint8)
    return res


def harmonise_edge(product: RGBAImage, strength: float = 1.0, band_px: int = 4) -> RGBAImage:
    """Re-estimate the foreground colour of the soft edge (0 < alpha < 255).

    Each soft-edge pixel's colour moves towards the mean of the opaque product pixels next to
    it, by ``strength × (1 − alpha)``: where alpha is low the cut-out's colour estimate is
    mostly old background, where it is high the pixel is kept. Pixels with alpha 0 or 255
    are returned bit-identical.
    """
    img = _check_product(product)
    a8 = img[..., 3]
    soft = (a8 > 0) & (a8 < 255)
    out = img.copy()
    if strength <= 0 or not soft.any():
        return out
    opaque = (a8 == 255).astype(np.float32)
    if not opaque.any():
        return out
    rgb = img[..., :3].astype(np.float32)
    mean, den = _local_mean(rgb, opaque, float(band_px), soft)
    ok = den > 1e-3
    use = soft.copy()
    use[soft] = ok
    a = a8[use].astype(np.float32)[:, None] / 255.0
    k = strength * (1.0 - a)
    mixed = rgb[use] * (1 - k) + mean[ok] * k
    out[..., :3][use] = np.clip(np.rint(mixed), 0, 255).astype(np.uint8)
    return out


def composite_scene(
    product: RGBAImage, background: np.ndarray, params: SceneParams | None = None
) -> RGBImage:
    """Put the product's own pixels back over a generated scene (see the module docstring).

    Args:
        product: (H, W, 4) uint8 RGBA, the product placed on its canvas.
        background: (H, W, 3|4) uint8, the generated scene at the same size.
        params: see :class:`SceneParams`.

    Returns:
        (H, W, 3) uint8. **Exact promise**: where the product's alpha is 255 the output is
        bit-identical to the product's RGB.

    Raises:
        InvalidParamsError: sizes differ, the product is empty, bad params.

    Example:
        >>> p = np.zeros((32, 32, 4), np.uint8); p[8:24, 10:22] = (200, 30, 30, 255)
        >>> p[8:24, 9, 3] = 128
        >>> bg = np.full((32, 32, 3), 90, np.uint8)
        >>> out = composite_scene(p, bg)
        >>> bool((out[p[..., 3] == 255] == p[p[..., 3] == 255][:, :3]).all())
        True
    """
    p = params or SceneParams()
    img = _check_product(product)
    check_image(background, name="background")
    if background.shape[:2] != img.shape[:2]:
        raise InvalidParamsError(
            f"background is {background.shape[1]}x{background.shape[0]} but the product canvas "
            f"is {img.shape[1]}x{img.shape[0]}: generate (or resize) the scene at the canvas size"
        )
    a8 = img[..., 3]
    bg = np.ascontiguousarray(to_uint8(background)[..., :3])
    prod = img
    if p.harmonise > 0:
        # only the scene under the soft edge ever shows: refill it from the pure scene
        covered = a8 > 0
        soft = covered & (a8 < 255)
        refilled = refill_under(bg, covered, float(p.band_px), target=soft)
        k = np.float32(p.harmonise)
        mixed = bg.astype(np.float32) * (1 - k) + refilled.astype(np.float32) * k
        bg = bg.copy()
        bg[soft] = np.clip(np.rint(mixed[soft]), 0, 255).astype(np.uint8)
        prod = harmonise_edge(img, p.harmonise, p.band_px) if soft.any() else img
    if p.shadow is not None and (a8 > 8).any():  # a faint product casts no shadow
        bg = darken(bg, contact_shadow_map(img, p.shadow), p.shadow.color)
    out = composite(prod, bg)
    if p.light_wrap > 0:
        out = _light_wrap(out, a8, bg, p.light_wrap, p.band_px)
    return out


def _light_wrap(
    image: RGBImage, alpha8: NDArray[np.uint8], background: RGBImage, amount: float, band: int
) -> RGBImage:
    """Blend blurred scene light into soft-edge pixels (0 < alpha < 255) only."""
    soft = (alpha8 > 0) & (alpha8 < 255)
    if not soft.any():
        return image
    outside = (alpha8 == 0).astype(np.float32)
    light, den = _local_mean(background.astype(np.float32), outside, float(band), soft)
    ok = den > 1e-3
    use = soft.copy()
    use[soft] = ok
    a = alpha8[use].astype(np.float32)[:, None] / 255.0
    k = amount * 4.0 * a * (1.0 - a)  # strongest at half coverage, 0 at both ends
    out = image.copy()
    mixed = image[use].astype(np.float32) * (1 - k) + light[ok] * k
    out[use] = np.clip(np.rint(mixed), 0, 255).astype(np.uint8)
    return out


def edge_band_difference(image: np.ndarray, product: RGBAImage, band_px: int = 4) -> float:
    """Mean CIEDE2000 of the soft-edge pixels from a clean product/scene blend (a halo score).

    For each pixel with 0 < alpha < 255, the expected colour is ``a·P + (1 − a)·S``, with
    ``P`` the Gaussian-weighted mean (sigma ``band_px``) of the opaque product pixels of
    ``image`` next to it and ``S`` that of its pure-scene pixels (alpha 0). Pixels with no
    such neighbours are skipped. Lower is better; 0 when there is no soft edge.
    """
    img = _check_product(product)
    check_image(image, name="image")
    if image.shape[:2] != img.shape[:2]:
        raise InvalidParamsError("image and product differ in size")
    a8 = img[..., 3]
    soft = (a8 > 0) & (a8 < 255)
    if not soft.any():
        return 0.0
    rgb = to_uint8(image)[..., :3].astype(np.float32)
    pm, pd = _local_mean(rgb, (a8 == 255).astype(np.float32), float(band_px), soft)
    sm, sd = _local_mean(rgb, (a8 == 0).astype(np.float32), float(band_px), soft)
    ok = (pd > 1e-3) & (sd > 1e-3)
    if not ok.any():
        return 0.0
    a = a8[soft][ok].astype(np.float32)[:, None] / 255.0
    expected = np.clip(a * pm[ok] + (1 - a) * sm[ok], 0, 255) / 255.0
    got = rgb[soft][ok] / 255.0
    de = delta_e2000(rgb_to_lab(got[None]), rgb_to_lab(expected[None]))
    return float(np.mean(de))


def changed_share(before: np.ndarray, after: np.ndarray, where: NDArray[np.bool_]) -> float:
    """Share of the ``where`` pixels whose RGB differs between ``before`` and ``after``.

    Example:
        >>> a = np.zeros((2, 2, 3), np.uint8); b = a.copy(); b[0, 0, 1] = 1
        >>> changed_share(a, b, np.ones((2, 2), bool))
        0.25
    """
    if before.shape[:2] != after.shape[:2] or where.shape != before.shape[:2]:
        raise InvalidParamsError("changed_share: images and mask differ in size")
    n = int(where.sum())
    if n == 0:
        return 0.0
    diff = (to_uint8(before)[..., :3] != to_uint8(after)[..., :3]).any(axis=2)
    return float(diff[where].sum()) / n


__all__ = [
    "SceneParams",
    "changed_share",
    "composite_scene",
    "edge_band_difference",
    "harmonise_edge",
    "refill_under",
    "scene_input",
    "scene_mask",
]
