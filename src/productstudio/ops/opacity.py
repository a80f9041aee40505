"""Opaque products: turn a segmenter's soft map into a solid alpha with a thin soft outline.

Salient-object networks answer "how sure am I", not "how transparent is it": on hand-held and
in-store photos they return ghost values (0.2–0.8) over whole cartons and over the hand that
holds them, which a plain cut-out shows as a see-through product with a white ghost hand.
A packshot product is opaque, so :func:`solid_alpha` decides every region:

1. **Decision.** Product = probability > ``threshold``, plus weaker pixels (> ``weak``) that
   are connected to it (hysteresis).
2. **Hands and arms.** Skin-coloured parts of the decision where it meets the photo's edge are
   an arm; its colour (a Gaussian in Lab, learnt in this photo) finds the whole hand connected
   to it. When the rest is a substantial product of other colours the hand is removed as a
   whole, with the fragments it cut off; when it cannot be told apart (the product itself has
   the hand's colour) it is kept as a whole. It is never left half-transparent.
3. **Specks.** Separate blobs far from the product, small and not confident, are dropped
   (the segmenter's ghosts of shelves and other packs).
4. **Holes.** An enclosed hole is filled when the segmenter half-believes it (mean probability
   > ``hole_min_prob``) *and* its colours look like the product's rather than the
   background's (histogram colour models learnt from the confident parts of this photo); real
   holes — handles, gaps between chair legs — show the background's colours and stay.
5. **Outline.** Alpha is 0 or 1 everywhere except a band of ``edge_px`` px along the decided
   outline, where the segmenter's own soft edge is kept (rescaled so it cannot cross the
   decision).

The evidence thresholds were measured on real photos (DIS5K product photos with ground truth:
IoU and boundary-F within 0.002 of the raw map; 12 hand-held in-store photos: the soft
interior share drops from 43 % to 0): see ``benchmarks/cutout.py``.

Use :class:`Opacity.SOFT <productstudio.ops.opacity.Opacity>` for objects that really are
partly transparent (glass, mesh, hair, veils): the segmenter's map is then kept as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import cv2
import numpy as np
from numpy.typing import NDArray

from productstudio.errors import InvalidParamsError
from productstudio.imaging.types import Image, Mask, as_mask, check_image, to_uint8

# -- measured constants (see the module docstring) ------------------------------------------
# Skin in CIELAB: hue angle atan2(b*, a*) of hands under shop and daylight white balance lies in
# 42–68° (measured on the hand-held GroceryStoreDataset photos: 50–59° mean per hand); wood,
# brass and cymbals that also touch the edge in DIS5K photos were at 35°, 50° and 71°.
SKIN_HUE_DEG = (42.0, 68.0)
SKIN_CHROMA = (9.0, 48.0)
SKIN_LIGHTNESS = (20.0, 92.0)
SKIN_MIN_A = 6.0


class Opacity(StrEnum):
    """How transparent a cut-out product may be."""

    SOLID = "solid"  # opaque product: alpha is 0/1 except a thin band at the outline (default)
    SOFT = "soft"  # keep the segmenter's soft alpha everywhere (glass, mesh, hair, veils)


class HandDecision(StrEnum):
    """What happened to a hand or arm found holding the product."""

    NONE = "none"  # no hand found
    REMOVED = "removed"  # removed completely
    KEPT = "kept"  # could not be told apart from the product: kept completely


@dataclass(frozen=True, slots=True)
class SolidParams:
    """Evidence thresholds of :func:`solid_alpha`.

    Attributes:
        threshold: probability above which a pixel is surely product.
        weak: weaker pixels (> ``weak``) join when connected to sure ones (hysteresis).
        remove_hands: look for a hand or arm holding the product and remove it.
        hole_min_prob: an enclosed hole is filled only when its mean probability is above this
            and its colours match the product's.
        edge_px: half-width of the soft outline band (None: 0.2 % of the long side, ≥ 1).
        work_size: long side (px) at which hands and colour models are analysed.
    """

    threshold: float = 0.5
    weak: float = 0.4
    remove_hands: bool = True
    hole_min_prob: float = 0.35
    edge_px: int | None = None
    work_size: int = 512

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold < 1.0:
            raise InvalidParamsError(
                f"SolidParams.threshold must be in (0, 1), got {self.threshold}"
            )
        if not 0.0 < self.weak <= self.threshold:
            raise InvalidParamsError(
                f"SolidParams.weak must be in (0, threshold={self.threshold}], got {self.weak}"
            )
        if not 0.0 <= self.hole_min_prob < 1.0:
            raise InvalidParamsError(
                f"SolidParams.hole_min_prob must be in [0, 1), got {self.hole_min_prob}"
            )
        if self.edge_px is not None and not 0 <= self.edge_px <= 64:
            raise InvalidParamsError(f"SolidParams.edge_px must be in 0..64, got {self.edge_px}")
        if self.work_size < 64:
            raise InvalidParamsError(f"SolidParams.work_size must be ≥ 64, got {self.work_size}")


@dataclass(frozen=True, slots=True)
class SolidReport:
    """What :func:`solid_alpha` decided, as shares of the decided product area (0..1).

    Attributes:
        soft_before: soft-interior share of the segmenter's own map (what a plain cut-out
            would show as see-through; see :func:`soft_interior_share`).
        hand: what happened to a hand holding the product.
        hand_share: area of the removed or kept hand.
        specks: area of the blobs dropped as specks.
        holes: area of the holes filled.
        changed: pixels whose side differs from thresholding the map at ``threshold``.
    """

    soft_before: float
    hand: HandDecision
    hand_share: float
    specks: float
    holes: float
    changed: float


def _disk(r: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))


def edge_band_px(shape: tuple[int, int], edge_px: int | None = None) -> int:
    """Half-width (px) of the soft outline band for an image of ``shape``."""
    if edge_px is not None:
        return edge_px
    return max(1, round(0.002 * max(shape)))


def soft_interior_share(alpha: np.ndarray, band_px: int | None = None) -> float:
    """Share of the product area that is see-through away from its outline.

    Product area: alpha ≥ 0.1. Soft interior: 0.1 < alpha < 0.9 farther than ``band_px``
    from the outline of alpha ≥ 0.5 (default 0.5 % of the long side, ≥ 2 px), i.e. soft
    values that are not anti-aliasing of the edge. A solid product scores 0.

    Example:
        >>> a = np.zeros((40, 40), np.float32); a[10:30, 10:30] = 1.0
        >>> soft_interior_share(a)
        0.0
        >>> a[15:25, 15:25] = 0.5
        >>> soft_interior_share(a)  # 100 half-transparent pixels of 400
        0.25
    """
    a = as_mask(alpha, name="alpha")
    area = int((a >= 0.1).sum())
    if area == 0:
        return 0.0
    d = band_px if band_px is not None else max(2, round(0.005 * max(a.shape)))
    fg = (a >= 0.5).astype(np.uint8)
    edge = cv2.morphologyEx(fg, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))
    near = cv2.dilate(edge, _disk(d)) > 0 if d > 0 else edge > 0
    soft = (a > 0.1) & (a < 0.9) & ~near
    return float(soft.sum()) / area


def skin_mask(rgb: np.ndarray) -> NDArray[np.bool_]:
    """Pixels whose colour can be human skin (a wide CIELAB hue/chroma window).

    Colour alone is weak evidence (wood, leather and warm packaging match too); callers add
    shape evidence, as :func:`solid_alpha` does.

    Example:
        >>> px = np.array([[[205, 150, 125], [40, 90, 200], [250, 250, 250]]], np.uint8)
        >>> skin_mask(px).tolist()
        [[True, False, False]]
    """
    lab = cv2.cvtColor(to_uint8(rgb)[..., :3].astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    lightness, a, b = lab[..., 0], lab[..., 1], lab[..., 2]
    hue = np.degrees(np.arctan2(b, a))
    chroma = np.hypot(a, b)
    return np.asarray(
        (hue >= SKIN_HUE_DEG[0])
        & (hue <= SKIN_HUE_DEG[1])
        & (chroma >= SKIN_CHROMA[0])
        & (chroma <= SKIN_CHROMA[1])
        & (lightness >= SKIN_LIGHTNESS[0])
        & (lightness <= SKIN_LIGHTNESS[1])
        & (a >= SKIN_MIN_A)
    )


def _hysteresis(prob: Mask, strong: float, weak: float) -> NDArray[np.bool_]:
    if weak >= strong or not ((prob > weak) & (prob <= strong)).any():
        return np.asarray(prob > strong)
    n, labels, _, _ = cv2.connectedComponentsWithStats(
        (prob > weak).astype(np.uint8), connectivity=8
    )
    hit = np.zeros(n, bool)
    hit[np.unique(labels[prob > strong])] = True
    hit[0] = False
    return np.asarray(hit[labels])


# A pixel belongs to the hand when its Lab colour is within this squared Mahalanobis distance
# of the hand's own colour (learnt from the arm where it enters the frame): χ² 99 % for 3 dof.
HAND_CHI2 = 11.3
HAND_CHI2_LOOSE = 25.0  # next to the hand found with HAND_CHI2 (about 99.99 %)
HAND_MAX_SHARE = 0.55  # of the decided area; above it the "hand" is kept whole
HAND_MIN_CHROMA = 15.0  # mean Lab chroma of a hand
HAND_MAX_TEXTURE = 0.45  # the hand's mean |Laplacian| of L, relative to the product's


def _find_hand(small: np.ndarray, fg: NDArray[np.bool_]) -> tuple[NDArray[np.bool_], bool]:
    """The hand or arm holding the product, and whether it can be removed.

    The arm enters from the photo's edge: skin-coloured product pixels there are its seeds,
    and they teach this photo's hand colour (a Gaussian in Lab) — so shadowed and lit skin
    both count, and warm-white packaging that only the wide skin window accepts does not.
    The hand is the hand-coloured part of the product connected to those seeds.
    """
    h, w = fg.shape
    hand = np.zeros_like(fg)
    area = int(fg.sum())
    if area == 0:
        return hand, False
    lab = cv2.cvtColor(small.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    m = max(2, round(0.03 * max(h, w)))
    edge = np.zeros_like(fg)
    edge[:m] = edge[-m:] = True
    edge[:, :m] = edge[:, -m:] = True
    seeds = cv2.morphologyEx(
        (fg & edge & skin_mask(small)).astype(np.uint8), cv2.MORPH_OPEN, _disk(1)
    )
    seeds_b = seeds.astype(bool)
    if seeds_b.sum() < max(20, 0.005 * area):
        return hand, False
    x = lab[seeds_b].astype(np.float64)
    inv = np.linalg.inv(np.cov(x.T) + np.eye(3) * 4.0)  # + 2 ΔE of slack per axis
    d = lab.reshape(-1, 3) - x.mean(axis=0)
    dist2 = np.einsum("ij,jk,ik->i", d, inv, d).reshape(h, w)
    like = (fg & (dist2 < HAND_CHI2)).astype(np.uint8)
    like = cv2.morphologyEx(
        cv2.morphologyEx(like, cv2.MORPH_CLOSE, _disk(2)), cv2.MORPH_OPEN, _disk(2)
    )
    _, labels = cv2.connectedComponents(like & fg.astype(np.uint8), connectivity=8)
    ids = np.unique(labels[seeds_b])
    hand = np.isin(labels, ids[ids > 0])
    if hand.sum() < 0.03 * area:
        return np.zeros_like(fg), False
    # hysteresis: knuckles and shadowed skin next to the hand join at a looser distance
    reach = cv2.dilate(hand.astype(np.uint8), _disk(max(2, round(0.03 * max(h, w))))) > 0
    loose = (fg & reach & (dist2 < HAND_CHI2_LOOSE)).astype(np.uint8)
    _, labels = cv2.connectedComponents(loose | hand.astype(np.uint8), connectivity=8)
    ids = np.unique(labels[hand])
    hand = np.isin(labels, ids[ids > 0])
    rest = fg & ~cv2.dilate(hand.astype(np.uint8), _disk(2)).astype(bool)
    if not rest.any():
        return hand, False
    # Skin is coloured and smooth next to printed packaging: grey wood, brass or a balloon that
    # reach the edge are not hands (measured: hands have chroma 25-40 and a third of the
    # product's texture; the false arms in DIS5K photos had chroma 8 or half the texture).
    texture = np.abs(cv2.Laplacian(lab[..., 0], cv2.CV_32F))
    smooth = float(texture[hand].mean()) <= HAND_MAX_TEXTURE * float(texture[rest].mean())
    chroma = float(np.hypot(*lab[hand][:, 1:].mean(axis=0)))
    if not smooth or chroma < HAND_MIN_CHROMA:
        return np.zeros_like(fg), False
    # A product that itself has the hand's colour cannot be told apart; nor can a "hand" that
    # would be most of the object (an axe's wooden handle entering the frame looks like an arm).
    removable = (
        hand.sum() <= HAND_MAX_SHARE * area and float((dist2[rest] < HAND_CHI2).mean()) < 0.3
    )
    return hand, removable


def _drop_hand_remnants(fg: NDArray[np.bool_], hand: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """After removing a hand: parts cut off from the product that touched the hand (fingertips,
    shadowed skin) go too."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(fg.astype(np.uint8), connectivity=8)
    if n <= 2:
        return fg
    main = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    ring = cv2.dilate(hand.astype(np.uint8), _disk(2)).astype(bool)
    touching = np.zeros(n, bool)
    touching[np.unique(labels[ring])] = True
    touching[0] = touching[main] = False
    return np.asarray(fg & ~touching[labels])


def _colour_log_ratio(small: np.ndarray, p_small: Mask) -> NDArray[np.float32] | None:
    """log P(colour | product) / P(colour | background) from this photo's confident pixels."""
    from scipy.ndimage import gaussian_filter

    q = (small // 16).astype(np.int32)
    idx = (q[..., 0] * 16 + q[..., 1]) * 16 + q[..., 2]
    fg = cv2.erode((p_small > 0.9).astype(np.uint8), _disk(1)).astype(bool)
    bg = cv2.erode((p_small < 0.1).astype(np.uint8), _disk(1)).astype(bool)
    if fg.sum() < 50 or bg.sum() < 50:
        return None
    hist = []
    for sel in (fg, bg):
        hst = np.bincount(idx[sel], minlength=4096).astype(np.float64).reshape(16, 16, 16)
        hst = gaussian_filter(hst, 1.0) + 1e-3
        hist.append((hst / hst.sum()).ravel())
    return np.asarray(np.log(hist[0][idx] / hist[1][idx]), np.float32)


def _drop_specks(fg: NDArray[np.bool_], prob: Mask) -> NDArray[np.bool_]:
    n, labels, stats, _ = cv2.connectedComponentsWithStats(fg.astype(np.uint8), connectivity=8)
    if n <= 2:
        return fg
    mass = np.bincount(labels.ravel(), weights=prob.ravel(), minlength=n)
    mass[0] = 0.0
    best = int(np.argmax(mass))
    mean_p = mass / np.maximum(stats[:, cv2.CC_STAT_AREA], 1)
    r = max(2, round(0.015 * max(fg.shape)))
    # distance of every pixel to the main part (one linear-time transform, not a big dilation)
    # thin structures break into nearby, often soft fragments: keep those
    keep = (mass >= 0.02 * mass[best]) | (mean_p >= 0.75)
    keep[0] = True  # the background label: not a blob
    if not keep.all():
        # distance to the main part: one linear-time transform, read in each blob's box
        dist = cv2.distanceTransform((labels != best).astype(np.uint8), cv2.DIST_L2, 3)
        for i in np.flatnonzero(~keep):
            x, y = stats[i, cv2.CC_STAT_LEFT], stats[i, cv2.CC_STAT_TOP]
            w, h = stats[i, cv2.CC_STAT_WIDTH], stats[i, cv2.CC_STAT_HEIGHT]
            box = labels[y : y + h, x : x + w] == i
            keep[i] = float(dist[y : y + h, x : x + w][box].min()) <= r
    keep[0] = False
    return np.asarray(keep[labels])


def _fill_holes(
    fg: NDArray[np.bool_],
    prob: Mask,
    log_ratio: Callable[[], NDArray[np.float32] | None],
    min_prob: float,
) -> NDArray[np.bool_]:
    inv = (~fg).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(inv, connectivity=4)
    if n <= 2:
        return fg
    lr_small = log_ratio()  # colour models only when there is a hole to judge
    if lr_small is None:
        return fg
    touches = np.zeros(n, bool)
    for side in (labels[0], labels[-1], labels[:, 0], labels[:, -1]):
        touches[np.unique(side)] = True
    size = np.maximum(stats[:, cv2.CC_STAT_AREA], 1)
    mean_p = np.bincount(labels.ravel(), weights=prob.ravel(), minlength=n) / size
    h, w = fg.shape
    lr = cv2.resize(lr_small, (w, h), interpolation=cv2.INTER_LINEAR)
    mean_lr = np.bincount(labels.ravel(), weights=lr.ravel(), minlength=n) / size
    fill = ~touches & (mean_p > min_prob) & (mean_lr > 0.0)
    fill[0] = False
    return np.asarray(fg | fill[labels])


def solid_alpha(
    image: Image, prob: Mask, params: SolidParams | None = None
) -> tuple[Mask, SolidReport]:
    """An opaque product alpha from a segmenter's probability map (see the module docstring).

    Args:
        image: (H, W, 3|4) uint8/uint16 photo (alpha ignored).
        prob: (H, W) foreground probability, same size.
        params: evidence thresholds.

    Returns:
        float32 (H, W) alpha — exactly 0 or 1 farther than ``edge_px`` from the decided
        outline — and a :class:`SolidReport`.

    Example:
        >>> img = np.full((64, 64, 3), 240, np.uint8); img[16:48, 16:48] = (30, 60, 200)
        >>> p = np.zeros((64, 64), np.float32); p[16:48, 16:48] = 0.45; p[20:44, 20:44] = 0.9
        >>> a, rep = solid_alpha(img, p)   # a ghostly map: the product comes out solid
        >>> bool((a[18:46, 18:46] == 1).all()), float(a[:8].max()), round(rep.soft_before, 2)
        (True, 0.0, 0.13)
    """
    par = params or SolidParams()
    check_image(image)
    p = as_mask(prob, shape=image.shape[:2])
    rgb = np.ascontiguousarray(to_uint8(image)[..., :3])
    h0, w0 = p.shape
    plain = p > par.threshold
    fg = _hysteresis(p, par.threshold, par.weak)
    area0 = max(1, int(fg.sum()))

    scale = min(1.0, par.work_size / max(h0, w0))
    w, h = (max(8, round(w0 * scale)), max(8, round(h0 * scale))) if scale < 1 else (w0, h0)
    small = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA) if scale < 1 else rgb
    p_small: Mask = (
        np.asarray(cv2.resize(p, (w, h), interpolation=cv2.INTER_AREA), np.float32)
        if scale < 1
        else p
    )

    def up(x: np.ndarray) -> NDArray[np.bool_]:
        out = cv2.resize(x.astype(np.float32), (w0, h0), interpolation=cv2.INTER_LINEAR)
        return np.asarray(out > 0.5)

    hand_decision, hand_share = HandDecision.NONE, 0.0
    if par.remove_hands and fg.any():
        fg_small = cv2.resize(fg.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST)
        hand, removable = _find_hand(small, fg_small.astype(bool))
        if hand.any():
            hand_full = up(cv2.dilate(hand.astype(np.uint8), _disk(1)))
            if removable:
                hand_share = float((fg & hand_full).sum()) / area0
                fg = _drop_hand_remnants(fg & ~hand_full, hand_full)
                hand_decision = HandDecision.REMOVED
            else:
                hand_full = up(hand)
                hand_share = float(hand_full.sum()) / area0
                fg = fg | hand_full
                hand_decision = HandDecision.KEPT

    before_specks = int(fg.sum())
    fg = _drop_specks(fg, p)
    specks = (before_specks - int(fg.sum())) / area0
    before_holes = int(fg.sum())
    fg = _fill_holes(fg, p, lambda: _colour_log_ratio(small, p_small), par.hole_min_prob)
    holes = (int(fg.sum()) - before_holes) / area0

    alpha = fg.astype(np.float32)
    r = edge_band_px((h0, w0), par.edge_px)
    if r > 0 and fg.any() and not fg.all():
        fg8 = fg.astype(np.uint8)
        band = (cv2.dilate(fg8, _disk(r)) > 0) & (cv2.erode(fg8, _disk(r)) == 0)
        pb = p[band]
        t = par.threshold
        inside = np.clip(0.5 + 0.5 * (pb - t) / (1.0 - t), 0.5, 1.0)
        outside = np.clip(0.5 * pb / t, 0.0, 0.5)
        alpha[band] = np.where(fg[band], inside, outside)
    alpha[alpha > 0.98] = 1.0
    alpha[alpha < 0.02] = 0.0

    union = max(1, int((fg | plain).sum()))
    report = SolidReport(
        soft_before=soft_interior_share(p),
        hand=hand_decision,
        hand_share=hand_share,
        specks=max(0.0, specks),
        holes=max(0.0, holes),
        changed=float((fg ^ plain).sum()) / union,
    )
    return alpha, report


__all__ = [
    "HandDecision",
    "Opacity",
    "SolidParams",
    "SolidReport",
    "edge_band_px",
    "skin_mask",
    "soft_interior_share",
    "solid_alpha",
]
