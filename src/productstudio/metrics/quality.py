"""Full-reference image-quality metrics: PSNR, SSIM, MS-SSIM and a ΔE2000 summary.

Conventions (shared by every function here):

* ``a`` is the result (restored, generated, edited) and ``b`` the reference; every metric here
  is symmetric, so the order only matters in messages.
* Images are numpy arrays of shape ``(H, W)`` or ``(H, W, C)``, both of the same shape and
  dtype. ``uint8`` images have a data range of 255, ``uint16`` of 65535 and float images of
  1.0 (floats are expected in ``[0, 1]``); pass ``data_range`` to override.
* An optional ``mask`` (``(H, W)``, any dtype :func:`productstudio.imaging.as_mask` takes)
  restricts a metric to a region, e.g. the inpainted hole. A soft mask weights pixels by its
  value; a binary mask selects them.

Only numpy, scipy and scikit-image are imported at module level; MS-SSIM imports torch and
torchmetrics when called.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from productstudio.errors import Extra, InvalidParamsError, MissingDependencyError, install_hint
from productstudio.imaging.types import as_mask

__all__ = [
    "MS_SSIM_MIN_SIDE",
    "DeltaEStats",
    "delta_e",
    "grey_ssim",
    "ms_ssim",
    "psnr",
    "ssim",
    "structure_ssim",
]

#: MS-SSIM with its default 5 scales and an 11 px Gaussian window: torchmetrics requires
#: ``side // 16 > 11 - 1``, i.e. both sides of at least 176 pixels ("larger than 160" after
#: its integer division).
MS_SSIM_MIN_SIDE = 176

_SSIM_WIN = 7  # scikit-image's default window for structural_similarity (gaussian_weights=False)


def _check_pair(a: np.ndarray, b: np.ndarray) -> None:
    for name, x in (("a", a), ("b", b)):
        if not isinstance(x, np.ndarray):
            raise InvalidParamsError(f"{name} must be a numpy array, got {type(x).__name__}")
        if x.ndim not in (2, 3) or x.size == 0:
            raise InvalidParamsError(
                f"{name} must be a non-empty (H, W) or (H, W, C) image, got shape {x.shape}"
            )
        if not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)):
            raise InvalidParamsError(f"{name} must hold numbers, got dtype {x.dtype}")
    if a.shape != b.shape:
        raise InvalidParamsError(
            f"images differ in shape: a is {a.shape}, b is {b.shape}; resize the result to the "
            "reference size before comparing"
        )
    if a.dtype != b.dtype:
        raise InvalidParamsError(
            f"images differ in dtype: a is {a.dtype}, b is {b.dtype}; convert both to the same "
            "dtype (e.g. with productstudio.imaging.to_uint8) first"
        )


def _data_range(x: np.ndarray, data_range: float | None) -> float:
    if data_range is not None:
        if not (math.isfinite(data_range) and data_range > 0):
            raise InvalidParamsError(f"data_range must be a positive number, got {data_range}")
        return float(data_range)
    if x.dtype == np.uint8:
        return 255.0
    if x.dtype == np.uint16:
        return 65535.0
    if np.issubdtype(x.dtype, np.floating):
        return 1.0
    raise InvalidParamsError(
        f"cannot infer the data range of dtype {x.dtype}: pass data_range= (e.g. 255.0)"
    )


def _weights(mask: np.ndarray | None, shape: tuple[int, ...]) -> NDArray[np.float64] | None:
    if mask is None:
        return None
    w = as_mask(np.asarray(mask), shape=(shape[0], shape[1]), name="mask").astype(np.float64)
    if float(w.sum()) <= 0.0:
        raise InvalidParamsError(
            "mask is empty (no pixel above 0): pass a mask that selects the region to score"
        )
    return w


def psnr(
    a: np.ndarray,
    b: np.ndarray,
    data_range: float | None = None,
    mask: np.ndarray | None = None,
) -> float:
    """Peak signal-to-noise ratio in dB, ``10 * log10(data_range**2 / MSE)``.

    ``MSE`` is the mean of ``(a - b)**2`` over all pixels and channels, computed in float64.
    With a ``mask`` it is the mask-weighted mean over pixels (every channel of a pixel gets
    the pixel's weight), so a binary mask gives the PSNR of the selected pixels only.

    Args:
        a: result image, (H, W) or (H, W, C).
        b: reference image, same shape and dtype.
        data_range: peak value; default 255 for uint8, 65535 for uint16, 1.0 for floats.
        mask: optional (H, W) region; uint8 0..255, bool or float in [0, 1].

    Returns:
        PSNR in dB; ``math.inf`` when the images (or the masked pixels) are identical.

    Raises:
        InvalidParamsError: shapes/dtypes differ, empty image or mask, bad ``data_range``.

    Example:
        >>> a = np.zeros((4, 4), np.uint8); b = a.copy(); b[0, 0] = 255
        >>> round(psnr(a, b), 4)  # MSE = 255**2 / 16  ->  10*log10(16)
        12.0412
        >>> psnr(a, a)
        inf
    """
    _check_pair(a, b)
    peak = _data_range(a, data_range)
    sq = (a.astype(np.float64) - b.astype(np.float64)) ** 2
    w = _weights(mask, a.shape)
    if w is None:
        mse = float(sq.mean())
    else:
        per_pixel = sq.mean(axis=2) if sq.ndim == 3 else sq
        mse = float((per_pixel * w).sum() / w.sum())
    if mse == 0.0:
        return math.inf
    return float(10.0 * math.log10(peak * peak / mse))


def ssim(
    a: np.ndarray,
    b: np.ndarray,
    mask: np.ndarray | None = None,
    data_range: float | None = None,
) -> float:
    """Structural similarity (Wang et al. 2004) via ``skimage.metrics.structural_similarity``.

    scikit-image defaults: a 7x7 uniform window, K1 = 0.01, K2 = 0.03; colour images are
    scored per channel (``channel_axis=-1``) and averaged. The SSIM map is averaged without the
    ``3``-pixel border that the window cannot cover, exactly as scikit-image does; with a
    ``mask`` it is the mask-weighted mean of the channel-averaged map over the same interior,
    so an all-ones mask gives the unmasked value.

    Args:
        a: result image, (H, W) or (H, W, C), both sides at least 7 px.
        b: reference image, same shape and dtype.
        mask: optional (H, W) region (uint8 0..255, bool or float in [0, 1]).
        data_range: as in :func:`psnr`.

    Returns:
        SSIM in [-1, 1]; exactly 1.0 for identical images.

    Raises:
        InvalidParamsError: shapes/dtypes differ, a side below 7 px, empty mask.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> a = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
        >>> ssim(a, a)
        1.0
        >>> ssim(a, 255 - a) < 0
        True
    """
    from skimage.metrics import structural_similarity

    _check_pair(a, b)
    if min(a.shape[0], a.shape[1]) < _SSIM_WIN:
        raise InvalidParamsError(
            f"SSIM needs images of at least {_SSIM_WIN}x{_SSIM_WIN} px, got "
            f"{a.shape[1]}x{a.shape[0]}; use psnr() for tiny images"
        )
    peak = _data_range(a, data_range)
    channel_axis = -1 if a.ndim == 3 else None
    w = _weights(mask, a.shape)
    if w is None:
        value = structural_similarity(
            a, b, data_range=peak, channel_axis=channel_axis, win_size=_SSIM_WIN
        )
        return float(value)
    _, smap = structural_similarity(
        a, b, data_range=peak, channel_axis=channel_axis, win_size=_SSIM_WIN, full=True
    )
    smap = np.asarray(smap, dtype=np.float64)
    if smap.ndim == 3:
        smap = smap.mean(axis=2)
    pad = (_SSIM_WIN - 1) // 2
    inner = (slice(pad, smap.shape[0] - pad), slice(pad, smap.shape[1] - pad))
    wi = w[inner]
    total = float(wi.sum())
    if total <= 0.0:
        raise InvalidParamsError(
            f"mask selects only the {pad}-pixel border, where SSIM is undefined: "
            "grow the mask or use psnr(mask=...)"
        )
    return float((smap[inner] * wi).sum() / total)


def _grey(x: np.ndarray) -> NDArray[np.float64]:
    """Grey levels (Rec. 601 luma) of an (H, W, 3) image; (H, W) images as they are."""
    if x.ndim == 2:
        return np.asarray(x, np.float64)
    if x.shape[2] < 3:
        return np.asarray(x[..., 0], np.float64)
    return np.asarray(x[..., :3], np.float64) @ np.array([0.299, 0.587, 0.114])


def grey_ssim(a: np.ndarray, b: np.ndarray, data_range: float | None = None) -> float:
    """SSIM of the grey levels (Rec. 601 luma of RGB; (H, W) images as they are): is the
    light/dark layout of ``b`` kept in ``a``, whatever the hues?

    Same window, constants and border rule as :func:`ssim`; the data range comes from the
    dtype of the inputs (255 for uint8). It still counts brightness changes: a red product
    turned white on a white background loses most of its grey-level outline and scores low;
    :func:`structure_ssim` ignores brightness and contrast altogether.

    Example:
        >>> rgb = np.zeros((16, 16, 3), np.uint8); rgb[4:12, 4:12] = (30, 150, 60)
        >>> bgr = rgb[..., ::-1].copy()  # other hue, similar grey levels
        >>> grey_ssim(rgb, rgb), grey_ssim(bgr, rgb) > 0.9
        (1.0, True)
    """
    _check_pair(a, b)
    peak = _data_range(a, data_range)
    return ssim(_grey(a), _grey(b), data_range=peak)


def structure_ssim(a: np.ndarray, b: np.ndarray, data_range: float | None = None) -> float:
    """The structure term of SSIM on grey levels: is the layout (edges, shapes, shading
    pattern) kept, whatever the brightness and contrast?

    SSIM = luminance × contrast × structure (Wang et al. 2004); this keeps only
    ``s = (σab + C3) / (σa σb + C3)`` with ``C3 = C2 / 2`` — the local correlation of the two
    grey-level images — on the same 7×7 window, constants, sample covariances and interior as
    :func:`ssim`. A recolour that turns a red bag black changes luminance and contrast but
    keeps the layout, so it scores near 1; a different shape does not. Flat areas in both
    images count as kept (s = 1).

    Args:
        a, b: (H, W) or (H, W, C) images of the same shape and dtype (RGB → Rec. 601 luma).
        data_range: as in :func:`psnr`.

    Returns:
        Mean structure term in [-1, 1]; 1.0 for identical images and for any positive affine
        change of grey levels.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> a = rng.integers(0, 200, (32, 32), dtype=np.uint8)
        >>> round(structure_ssim(a, a // 2 + 40), 3), ssim(a, a // 2 + 40) < 0.9
        (1.0, True)
    """
    from scipy.ndimage import uniform_filter

    _check_pair(a, b)
    if min(a.shape[0], a.shape[1]) < _SSIM_WIN:
        raise InvalidParamsError(
            f"structure_ssim needs images of at least {_SSIM_WIN}x{_SSIM_WIN} px, got "
            f"{a.shape[1]}x{a.shape[0]}"
        )
    peak = _data_range(a, data_range)
    ga, gb = _grey(a), _grey(b)
    n = _SSIM_WIN**2
    cov = n / (n - 1)

    def f(x: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.asarray(uniform_filter(x, size=_SSIM_WIN), np.float64)

    ma, mb = f(ga), f(gb)
    vaa = np.clip(cov * (f(ga * ga) - ma * ma), 0, None)
    vbb = np.clip(cov * (f(gb * gb) - mb * mb), 0, None)
    vab = cov * (f(ga * gb) - ma * mb)
    c3 = (0.03 * peak) ** 2 / 2
    smap = (vab + c3) / (np.sqrt(vaa * vbb) + c3)
    pad = (_SSIM_WIN - 1) // 2
    return float(smap[pad:-pad, pad:-pad].mean())


def ms_ssim(a: np.ndarray, b: np.ndarray, data_range: float | None = None) -> float:
    """Multi-scale SSIM (Wang et al. 2003) via torchmetrics, 5 scales, 11 px Gaussian window.

    Uses ``torchmetrics.functional.image.multiscale_structural_similarity_index_measure`` with
    its defaults (sigma 1.5, betas 0.0448/0.2856/0.3001/0.2363/0.1333, ``normalize="relu"``).

    Args:
        a: result image, (H, W) or (H, W, C); both sides at least ``MS_SSIM_MIN_SIDE`` (176) px.
        b: reference image, same shape and dtype.
        data_range: as in :func:`psnr`.

    Returns:
        MS-SSIM in [0, 1]; 1.0 (up to float32 rounding) for identical images.

    Raises:
        InvalidParamsError: shapes/dtypes differ or a side is under 176 px.
        MissingDependencyError: torch/torchmetrics are not installed.
    """
    _check_pair(a, b)
    if min(a.shape[0], a.shape[1]) < MS_SSIM_MIN_SIDE:
        raise InvalidParamsError(
            f"MS-SSIM needs both sides of at least {MS_SSIM_MIN_SIDE} px (5 scales of an "
            f"11 px window), got {a.shape[1]}x{a.shape[0]}; use ssim() for smaller images"
        )
    peak = _data_range(a, data_range)
    try:
        import torch
        from torchmetrics.functional.image import (
            multiscale_structural_similarity_index_measure as _ms_ssim,
        )
    except ImportError as exc:
        raise MissingDependencyError(
            f"ms_ssim needs torch and torchmetrics ({exc}). Install them with: "
            + install_hint(Extra.LEARN)
        ) from None

    def to_tensor(x: np.ndarray) -> torch.Tensor:
        arr = x.astype(np.float32)
        arr = arr[None, None] if arr.ndim == 2 else arr.transpose(2, 0, 1)[None]
        return torch.from_numpy(np.ascontiguousarray(arr))

    with torch.no_grad():
        value = _ms_ssim(to_tensor(a), to_tensor(b), data_range=peak)
    return float(value)


@dataclass(frozen=True, slots=True)
class DeltaEStats:
    """Summary of per-pixel CIEDE2000 differences (ΔE00 units; ~1 is just noticeable).

    Attributes:
        mean: mean ΔE00 over the (masked) pixels.
        median: median ΔE00.
        p95: 95th percentile.
        max: largest ΔE00.
        n_pixels: number of pixels summarised (mask > 0.5 when a mask was given).
    """

    mean: float
    median: float
    p95: float
    max: float
    n_pixels: int


def delta_e(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> DeltaEStats:
    """Per-pixel CIEDE2000 between two sRGB images, summarised.

    Both images are converted sRGB → CIELAB (D65) with
    :func:`productstudio.imaging.rgb_to_lab`; an alpha channel, if present, is ignored.

    Args:
        a: result image (H, W, 3|4), uint8, uint16 or float in [0, 1].
        b: reference image, same shape and dtype.
        mask: optional (H, W) region; pixels with mask > 0.5 are summarised.

    Returns:
        :class:`DeltaEStats`; all zeros for identical images.

    Raises:
        InvalidParamsError: shapes/dtypes differ, not an RGB(A) image, empty mask.

    Example:
        >>> a = np.zeros((2, 2, 3), np.uint8); b = a.copy(); b[..., 0] = 255
        >>> d = delta_e(a, b)
        >>> d.median > 40 and d.n_pixels == 4
        True
        >>> delta_e(a, a).max
        0.0
    """
    from productstudio.imaging.color import delta_e2000, rgb_to_lab

    _check_pair(a, b)
    if a.ndim != 3 or a.shape[2] not in (3, 4):
        raise InvalidParamsError(f"delta_e needs (H, W, 3|4) RGB(A) images, got shape {a.shape}")

    def to_rgb(x: np.ndarray) -> np.ndarray:
        x = x[..., :3]
        if x.dtype == np.uint16:
            return x.astype(np.float32) / np.float32(65535.0)
        if x.dtype == np.uint8 or np.issubdtype(x.dtype, np.floating):
            return x
        raise InvalidParamsError(f"delta_e needs uint8, uint16 or float images, got {x.dtype}")

    de = delta_e2000(rgb_to_lab(to_rgb(a)), rgb_to_lab(to_rgb(b))).astype(np.float64)
    if mask is not None:
        sel = as_mask(np.asarray(mask), shape=a.shape[:2], name="mask") > 0.5
        if not sel.any():
            raise InvalidParamsError(
                "mask selects no pixel (none above 0.5): pass a mask that covers the region"
            )
        values = de[sel]
    else:
        values = de.ravel()
    return DeltaEStats(
        mean=float(values.mean()),
        median=float(np.median(values)),
        p95=float(np.percentile(values, 95)),
        max=float(values.max()),
        n_pixels=int(values.size),
    )
