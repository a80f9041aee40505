"""Auto-adjust and retouch: white balance, exposure/levels, contrast, saturation, sharpening,
denoising, an ``auto`` a seller can trust, and dust/spot removal.

Colour work happens in linear light (white balance, exposure) or CIELAB (contrast,
saturation, sharpening on lightness only). Every op keeps the dtype (uint8/uint16) and alpha.
Neutral parameters return an exact copy.

:func:`auto_adjust` only corrects what it measures to be wrong beyond a tolerance (a colour
cast on neutral/background pixels, clipped-short tonal range, visible noise); on an already
good photo it returns the input unchanged, bit for bit.

Example:
    >>> import numpy as np
    >>> img = np.full((16, 16, 3), 128, np.uint8)
    >>> bool((adjust(img, AdjustParams()) == img).all())
    True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import cv2
import numpy as np
from numpy.typing import NDArray

from productstudio.errors import InvalidParamsError
from productstudio.imaging.color import (
    lab_to_rgb_cv,
    linear_to_srgb,
    rgb_to_lab_cv,
    srgb_to_linear,
)
from productstudio.imaging.types import Image, as_mask, check_image, from_float, to_float
from productstudio.ops.inpaint import InpaintParams, inpaint


class WhiteBalance(StrEnum):
    """Where the illuminant is measured."""

    NONE = "none"
    AUTO = "auto"  # background if the photo has a plain one, else neutral pixels
    BACKGROUND = "background"  # border / outside the product mask
    NEUTRAL = "neutral"  # low-chroma mid/high-lightness pixels
    GRAY_WORLD = "gray-world"  # the whole image averages to grey


@dataclass(frozen=True, slots=True)
class AdjustParams:
    """Manual adjustments (neutral defaults do nothing).

    Attributes:
        white_balance: how to neutralise a colour cast.
        exposure_ev: exposure change in stops (-4..4).
        black, white: input levels mapped to 0 and 1 (0 <= black < white <= 1).
        gamma: mid-tone gamma (> 1 brightens).
        contrast: -1..1, S-curve on lightness.
        saturation: 0..3, chroma multiplier (1 = unchanged).
        sharpen: 0..3, unsharp-mask amount on lightness; ``sharpen_radius`` its sigma in px.
        denoise: 0..1, non-local-means strength.
    """

    white_balance: WhiteBalance = WhiteBalance.NONE
    exposure_ev: float = 0.0
    black: float = 0.0
    white: float = 1.0
    gamma: float = 1.0
    contrast: float = 0.0
    saturation: float = 1.0
    sharpen: float = 0.0
    sharpen_radius: float = 1.0
    denoise: float = 0.0

    def __post_init__(self) -> None:
        checks = [
            (-4.0 <= self.exposure_ev <= 4.0, "exposure_ev must be in [-4, 4]"),
            (0.0 <= self.black < self.white <= 1.0, "black: levels need 0 <= black < white <= 1"),
            (0.1 <= self.gamma <= 10.0, "gamma must be in [0.1, 10]"),
            (-1.0 <= self.contrast <= 1.0, "contrast must be in [-1, 1]"),
            (0.0 <= self.saturation <= 3.0, "saturation must be in [0, 3]"),
            (0.0 <= self.sharpen <= 3.0, "sharpen must be in [0, 3]"),
            (0.3 <= self.sharpen_radius <= 10.0, "sharpen_radius must be in [0.3, 10]"),
            (0.0 <= self.denoise <= 1.0, "denoise must be in [0, 1]"),
        ]
        for ok, msg in checks:
            if not ok:
                raise InvalidParamsError(f"AdjustParams.{msg}")
        WhiteBalance(self.white_balance)

    @property
    def is_neutral(self) -> bool:
        return self == AdjustParams()


def _border(shape: tuple[int, int], frac: float = 0.04) -> NDArray[np.bool_]:
    h, w = shape
    b = max(1, round(frac * min(h, w)))
    m = np.zeros((h, w), bool)
    m[:b] = m[-b:] = True
    m[:, :b] = m[:, -b:] = True
    return m


def _plain_background(
    lab: np.ndarray, bg: NDArray[np.bool_], image: Image
) -> NDArray[np.bool_] | None:
    """The background pixels near the background's dominant colour, when they are the
    majority of ``bg`` and nearly uniform (a studio sweep); parts of the product that touch
    the border are left out. None when the background is not plain."""
    cand = bg & (lab[..., 0] > 15)  # a clipped white background is neutral evidence too
    if image.shape[2] == 4:
        cand &= image[..., 3] > 0
    if cand.sum() < 50:
        return None
    px = lab[cand]
    med = np.median(px, axis=0)
    close_px = np.sqrt(((px - med) ** 2).sum(axis=1)) < 10.0
    if close_px.mean() < 0.5:
        return None
    sel = px[close_px]
    if float(np.sqrt(sel[:, 1:].var(axis=0).sum())) > 4.0 or float(sel[:, 0].std()) > 6.0:
        return None
    out = np.zeros(bg.shape, bool)
    out[cand] = close_px
    return out


def estimate_gains(
    image: Image, method: WhiteBalance = WhiteBalance.AUTO, mask: np.ndarray | None = None
) -> NDArray[np.float32]:
    """Per-channel linear gains (r, g, b) that make the reference pixels neutral.

    Args:
        image: (H, W, 3|4) uint8/uint16.
        method: where to measure (see :class:`WhiteBalance`).
        mask: optional product mask; ``BACKGROUND`` then uses the pixels outside it.

    Returns:
        float32 (3,) gains >= 1 (the reference's brightest channel is kept); ones when
        nothing usable was found.
    """
    check_image(image)
    rgb = to_float(image[..., :3])
    lin = srgb_to_linear(rgb)
    lab = rgb_to_lab_cv(rgb)
    chroma = np.hypot(lab[..., 1], lab[..., 2])
    L = lab[..., 0]
    usable = (L > 15) & (L < 99.5)
    if image.shape[2] == 4:
        usable &= image[..., 3] > 0
    m = WhiteBalance(method)
    if m is WhiteBalance.NONE:
        return np.ones(3, np.float32)
    ref = np.zeros(L.shape, bool)
    if m in (WhiteBalance.BACKGROUND, WhiteBalance.AUTO):
        bg = (as_mask(mask, shape=L.shape) < 0.5) if mask is not None else _border(L.shape)
        plain = _plain_background(lab, bg, image)
        if plain is not None:
            ref = plain
        elif m is WhiteBalance.BACKGROUND:
            ref = bg & (L > 15)
    if not ref.any() and m in (WhiteBalance.NEUTRAL, WhiteBalance.AUTO):
        cand = usable & (chroma < 25.0) & (L > 40)
        if cand.sum() >= 0.05 * L.size:
            ab = lab[..., 1:]
            med = np.median(ab[cand], axis=0)
            ref = cand & (np.hypot(ab[..., 0] - med[0], ab[..., 1] - med[1]) < 8.0)
            if ref.sum() < 0.03 * L.size:
                ref = np.zeros_like(ref)
    if not ref.any() and m is WhiteBalance.GRAY_WORLD:
        ref = usable
    if ref.sum() < 20:
        return np.ones(3, np.float32)
    mean = lin[ref].mean(axis=0).astype(np.float64)
    gains = float(mean.max()) / np.maximum(mean, 1e-6)  # white-patch: the brightest channel stays
    return np.clip(gains, 0.25, 4.0).astype(np.float32)


def adjust(image: Image, params: AdjustParams, mask: np.ndarray | None = None) -> Image:
    """Apply manual adjustments in a fixed order: denoise → white balance → exposure →
    levels/gamma → contrast → saturation → sharpen.

    Args:
        image: (H, W, 3|4) uint8/uint16; alpha is unchanged.
        params: :class:`AdjustParams`; neutral params return an exact copy.
        mask: product mask for ``WhiteBalance.BACKGROUND``.
    """
    check_image(image)
    if params.is_neutral:
        return image.copy()
    dtype = np.uint16 if image.dtype == np.uint16 else np.uint8
    rgb = to_float(image[..., :3])
    if params.denoise > 0:
        rgb = _denoise(rgb, params.denoise, image.dtype == np.uint8)
    if params.white_balance is not WhiteBalance.NONE or params.exposure_ev != 0.0:
        lin = srgb_to_linear(rgb)
        if params.white_balance is not WhiteBalance.NONE:
            lin = lin * estimate_gains(image, params.white_balance, mask)
        if params.exposure_ev != 0.0:
            lin = lin * np.float32(2.0**params.exposure_ev)
        rgb = linear_to_srgb(np.clip(lin, 0.0, 1.0))
    if (params.black, params.white, params.gamma) != (0.0, 1.0, 1.0):
        x = np.clip((rgb - params.black) / (params.white - params.black), 0.0, 1.0)
        rgb = np.power(x, 1.0 / params.gamma).astype(np.float32)
    if params.contrast or params.saturation != 1.0 or params.sharpen:
        lab = rgb_to_lab_cv(np.ascontiguousarray(rgb, np.float32))
        if params.contrast:
            t = lab[..., 0] / 100.0
            k = params.contrast
            s = t + k * t * (1 - t) * (2 * t - 1)  # S-curve (k>0) or flatten (k<0), monotonic
            lab[..., 0] = np.clip(s, 0, 1) * 100.0
        if params.saturation != 1.0:
            lab[..., 1:] *= params.saturation
        if params.sharpen:
            L = lab[..., 0]
            blur = cv2.GaussianBlur(L, (0, 0), params.sharpen_radius)
            lab[..., 0] = np.clip(L + params.sharpen * (L - blur), 0.0, 100.0)
        rgb = lab_to_rgb_cv(lab)
    out: np.ndarray = from_float(rgb, dtype)
    if image.shape[2] == 4:
        out = np.dstack([out, image[..., 3]])
    return out


def _denoise(rgb: NDArray[np.float32], strength: float, is8: bool) -> NDArray[np.float32]:
    h = 3.0 + 12.0 * strength
    if is8:
        u8 = from_float(rgb, np.uint8)
        out = cv2.fastNlMeansDenoisingColored(np.ascontiguousarray(u8), None, h, h, 5, 15)
        return to_float(out)
    res: np.ndarray = cv2.bilateralFilter(rgb, 5, h / 255.0 * 3.0, 3.0)
    return res.astype(np.float32, copy=False)


def noise_sigma(image: Image) -> float:
    """Robust noise estimate (std, in 0..255 units) from the finest wavelet band of luma."""
    rgb = to_float(image[..., :3])
    y = (rgb @ np.array([0.299, 0.587, 0.114], np.float32)) * 255.0
    if min(y.shape) < 8:
        return 0.0
    # Immerkær's fast noise estimator (Laplacian difference kernel)
    k = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)
    conv = cv2.filter2D(y, -1, k)[1:-1, 1:-1]
    return float(np.sqrt(np.pi / 2.0) * np.abs(conv).mean() / 6.0)


@dataclass(frozen=True, slots=True)
class AutoParams:
    """Tolerances of :func:`auto_adjust`: below them nothing is changed.

    Attributes:
        cast_tolerance: colour cast (max |gain - 1|) left alone.
        range_tolerance: how far below white a plain studio background may sit (0..0.5).
        noise_tolerance: noise std (0..255) left alone.
        white_balance, levels, denoise: which corrections may run.
    """

    cast_tolerance: float = 0.06
    range_tolerance: float = 0.06
    noise_tolerance: float = 6.0
    white_balance: bool = True
    levels: bool = True
    denoise: bool = True

    def __post_init__(self) -> None:
        if not 0 <= self.cast_tolerance <= 1 or not 0 <= self.range_tolerance <= 0.5:
            raise InvalidParamsError("AutoParams tolerances out of range")
        if self.noise_tolerance < 0:
            raise InvalidParamsError("AutoParams.noise_tolerance must be >= 0")


def _grey_background_level(image: Image, mask: np.ndarray | None) -> float | None:
    """The level of a plain, bright, near-neutral background (a studio sweep), else None."""
    rgb = to_float(image[..., :3])
    bg = (as_mask(mask, shape=rgb.shape[:2]) < 0.5) if mask is not None else _border(rgb.shape[:2])
    lab = rgb_to_lab_cv(rgb)
    plain = _plain_background(lab, bg, image)
    if plain is None or float(np.hypot(*np.median(lab[plain][:, 1:], axis=0))) > 8.0:
        return None
    level = float(np.percentile(rgb[plain].max(axis=1), 50))
    return level if level > 0.55 else None


@dataclass(frozen=True, slots=True)
class AutoResult:
    """What :func:`auto_adjust` did."""

    image: Image
    params: AdjustParams
    changed: bool
    notes: tuple[str, ...] = field(default_factory=tuple)


def auto_adjust(
    image: Image, mask: np.ndarray | None = None, params: AutoParams | None = None
) -> AutoResult:
    """Measure and fix only what is off; a good photo comes back bit-identical.

    Args:
        image: (H, W, 3|4) uint8/uint16.
        mask: optional product mask (the background is then used for white balance).
        params: :class:`AutoParams`.
    """
    p = params or AutoParams()
    check_image(image)
    notes: list[str] = []
    kw: dict[str, object] = {}
    if p.white_balance:
        g = estimate_gains(image, WhiteBalance.AUTO, mask)
        cast = float(np.abs(g / g.mean() - 1.0).max())
        if cast > p.cast_tolerance:
            kw["white_balance"] = WhiteBalance.AUTO
            notes.append(f"colour cast of {cast:.0%} neutralised")
    if p.levels:
        white = _grey_background_level(image, mask)
        if white is not None and white < 1.0 - p.range_tolerance:
            kw["white"] = white
            notes.append(f"grey studio background ({white:.0%}) lifted to white")
    if p.denoise:
        sigma = noise_sigma(image)
        if sigma > p.noise_tolerance:
            kw["denoise"] = float(min(1.0, (sigma - p.noise_tolerance) / 12.0 + 0.2))
            notes.append(f"noise (σ≈{sigma:.1f}) reduced")
    if not kw:
        return AutoResult(image.copy(), AdjustParams(), False, ("no correction needed",))
    ap = AdjustParams(**kw)  # type: ignore[arg-type]
    return AutoResult(adjust(image, ap, mask), ap, True, tuple(notes))


@dataclass(frozen=True, slots=True)
class SpotParams:
    """Options of :func:`remove_spots`.

    Attributes:
        max_size: largest spot diameter in px.
        sensitivity: spots must differ from their surround by this many noise stds.
        min_contrast: ... and by at least this much (0..255 luma).
        dark, bright: look for dark spots (dust), bright spots (specks), or both.
    """

    max_size: int = 9
    sensitivity: float = 5.0
    min_contrast: float = 18.0
    dark: bool = True
    bright: bool = True

    def __post_init__(self) -> None:
        if not 1 <= self.max_size <= 101:
            raise InvalidParamsError("SpotParams.max_size must be in 1..101")
        if self.sensitivity <= 0 or self.min_contrast < 0:
            raise InvalidParamsError(
                "SpotParams.sensitivity must be > 0 and SpotParams.min_contrast >= 0"
            )


def find_spots(
    image: Image, mask: np.ndarray | None = None, params: SpotParams | None = None
) -> NDArray[np.bool_]:
    """Small isolated dark/bright blobs (dust, specks) on the product (alpha or ``mask``)."""
    p = params or SpotParams()
    check_image(image)
    y = (to_float(image[..., :3]) @ np.array([0.299, 0.587, 0.114], np.float32)) * 255.0
    k = 2 * p.max_size + 1
    se = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    sigma = max(noise_sigma(image), 1.0)
    thr = max(p.min_contrast, p.sensitivity * sigma)
    cand = np.zeros(y.shape, bool)
    if p.dark:
        cand |= cv2.morphologyEx(y, cv2.MORPH_BLACKHAT, se) > thr
    if p.bright:
        cand |= cv2.morphologyEx(y, cv2.MORPH_TOPHAT, se) > thr
    region: NDArray[np.bool_] | None = None
    if mask is not None:
        region = as_mask(mask, shape=y.shape) >= 0.5
    elif image.shape[2] == 4:
        region = image[..., 3] >= 128
    if region is not None:
        inner = cv2.erode(region.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
        cand &= inner
    n, labels, stats, _ = cv2.connectedComponentsWithStats(cand.astype(np.uint8), connectivity=8)
    keep = np.zeros(n, bool)
    max_area = np.pi * (p.max_size / 2.0 + 1) ** 2
    H, W = y.shape
    ring_tol = max(8.0, 3.0 * sigma)
    for i in range(1, n):
        x0, y0 = int(stats[i, cv2.CC_STAT_LEFT]), int(stats[i, cv2.CC_STAT_TOP])
        w, h = int(stats[i, cv2.CC_STAT_WIDTH]), int(stats[i, cv2.CC_STAT_HEIGHT])
        if max(w, h) > p.max_size + 1 or stats[i, cv2.CC_STAT_AREA] > max_area:
            continue
        # isolated: the ring around the blob is smooth (not a product edge or texture)
        ya, yb, xa, xb = max(0, y0 - 4), min(H, y0 + h + 4), max(0, x0 - 4), min(W, x0 + w + 4)
        blob = (labels[ya:yb, xa:xb] == i).astype(np.uint8)
        outer = cv2.dilate(blob, np.ones((7, 7), np.uint8)).astype(bool)
        inner = cv2.dilate(blob, np.ones((3, 3), np.uint8)).astype(bool)
        vals = y[ya:yb, xa:xb][outer & ~inner]
        if vals.size >= 8 and float(vals.std()) <= ring_tol:
            keep[i] = True
    spots: NDArray[np.bool_] = keep[labels]
    return spots


def remove_spots(
    image: Image, mask: np.ndarray | None = None, params: SpotParams | None = None
) -> tuple[Image, NDArray[np.bool_]]:
    """Find and inpaint dust/spots; pixels outside the (2 px grown) spots are bit-identical.

    Returns:
        (cleaned image, the spot mask that was filled).
    """
    spots = find_spots(image, mask, params)
    if not spots.any():
        return image.copy(), spots
    grown = cv2.dilate(spots.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    return inpaint(image, grown, InpaintParams(radius=3)), grown


__all__ = [
    "AdjustParams",
    "AutoParams",
    "AutoResult",
    "SpotParams",
    "WhiteBalance",
    "adjust",
    "auto_adjust",
    "estimate_gains",
    "find_spots",
    "noise_sigma",
    "remove_spots",
]
