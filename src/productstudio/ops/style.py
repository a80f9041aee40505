"""A catalogue look from a reference photo: colour and tone transfer in CIELAB.

* ``LAB_STATS`` (Reinhard et al. 2001): match the mean and spread of L*, a*, b*.
* ``HISTOGRAM``: match each Lab channel's full distribution (quantile mapping).

Either can be applied to the product, the background or both (``Region``); the product is
the image's alpha or a given mask, and the reference's statistics come from its own product
or background when it has an alpha/mask, else from all of it. Pixels outside the region are
bit-identical; ``strength`` blends with the original. Also the blend helper the neural style
backends use (:func:`blend_region`).

Example:
    >>> import numpy as np
    >>> img = np.full((8, 8, 3), (90, 120, 160), np.uint8)
    >>> ref = np.full((8, 8, 3), (200, 150, 90), np.uint8)
    >>> out = transfer_style(img, ref, StyleParams())
    >>> bool(abs(int(out[0, 0, 0]) - 200) <= 2)
    True
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import cv2
import numpy as np
from numpy.typing import NDArray

from productstudio.errors import InvalidParamsError
from productstudio.imaging.types import Image, Mask, as_mask, check_image, from_float, to_float


class StyleMethod(StrEnum):
    """Colour/tone transfer methods."""

    LAB_STATS = "lab-stats"
    HISTOGRAM = "histogram"


class Region(StrEnum):
    """Where a look is applied."""

    PRODUCT = "product"
    BACKGROUND = "background"
    BOTH = "both"


@dataclass(frozen=True, slots=True)
class StyleParams:
    """Options of :func:`transfer_style`.

    Attributes:
        method: :class:`StyleMethod`.
        region: :class:`Region`.
        strength: 0..1 blend with the original.
        lightness: also transfer lightness (False: colour only, the tones stay).
    """

    method: StyleMethod = StyleMethod.LAB_STATS
    region: Region = Region.BOTH
    strength: float = 1.0
    lightness: bool = True

    def __post_init__(self) -> None:
        StyleMethod(self.method)
        Region(self.region)
        if not 0.0 <= self.strength <= 1.0:
            raise InvalidParamsError(f"StyleParams.strength must be in [0, 1], got {self.strength}")


def region_weight(image: Image, region: Region, mask: np.ndarray | None = None) -> Mask:
    """Float32 (H, W) weight of ``region``: 1 everywhere for BOTH, the product mask (alpha or
    ``mask``) for PRODUCT, its complement for BACKGROUND.

    Raises:
        InvalidParamsError: PRODUCT/BACKGROUND asked without a mask or alpha.
    """
    r = Region(region)
    h, w = image.shape[:2]
    if r is Region.BOTH:
        return np.ones((h, w), np.float32)
    if mask is not None:
        m = as_mask(mask, shape=(h, w), name="mask")
    elif image.shape[2] == 4:
        m = as_mask(image[..., 3])
    else:
        raise InvalidParamsError(
            f"region '{r.value}' needs the product mask: pass a mask or an RGBA cut-out"
        )
    return m if r is Region.PRODUCT else (1.0 - m).astype(np.float32)


def _lab(rgb: NDArray[np.float32]) -> NDArray[np.float32]:
    out: np.ndarray = cv2.cvtColor(np.ascontiguousarray(rgb, np.float32), cv2.COLOR_RGB2Lab)
    return out.astype(np.float32, copy=False)


def _rgb(lab: NDArray[np.float32]) -> NDArray[np.float32]:
    out: np.ndarray = cv2.cvtColor(np.ascontiguousarray(lab, np.float32), cv2.COLOR_Lab2RGB)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def _quantile_map(src: np.ndarray, ref: np.ndarray, values: np.ndarray) -> np.ndarray:
    q = np.linspace(0.0, 100.0, 257)
    sq = np.percentile(src, q)
    rq = np.percentile(ref, q)
    sq = np.maximum.accumulate(sq + np.arange(len(sq)) * 1e-6)
    return np.interp(values, sq, rq)


def blend_region(image: Image, styled: NDArray[np.float32], weight: Mask, strength: float) -> Image:
    """Blend float RGB ``styled`` into ``image`` by ``weight * strength``; exact where 0."""
    a = (weight * strength)[..., None]
    touched = a[..., 0] > 0
    out = image.copy()
    if not touched.any():
        return out
    base = to_float(image[..., :3])
    mix = base[touched] * (1.0 - a[touched]) + styled[touched] * a[touched]
    region = out[..., :3]
    region[touched] = from_float(mix, np.uint16 if image.dtype == np.uint16 else np.uint8)
    return out


def transfer_style(
    image: Image,
    reference: Image,
    params: StyleParams | None = None,
    mask: np.ndarray | None = None,
    reference_mask: np.ndarray | None = None,
) -> Image:
    """Give ``image`` the colour/tone statistics of ``reference``.

    Args:
        image: (H, W, 3|4) uint8/uint16.
        reference: any size (H', W', 3|4) uint8/uint16.
        params: :class:`StyleParams`.
        mask: product mask of ``image`` (default: its alpha).
        reference_mask: product mask of ``reference`` (default: its alpha, else all of it).

    Returns:
        Same shape/dtype; pixels outside the region are bit-identical, alpha unchanged.
    """
    p = params or StyleParams()
    check_image(image)
    check_image(reference, name="reference")
    wgt = region_weight(image, p.region, mask)
    sel = wgt >= 0.5
    if not sel.any():
        raise InvalidParamsError(f"the '{p.region}' region is empty: nothing to restyle")
    ref_rgb = to_float(reference[..., :3])
    ref_sel: np.ndarray | None = None
    if p.region is not Region.BOTH:
        rm: np.ndarray | None = None
        if reference_mask is not None:
            rm = as_mask(reference_mask, shape=reference.shape[:2], name="reference_mask")
        elif reference.shape[2] == 4:
            rm = as_mask(reference[..., 3])
        if rm is not None:
            ref_sel = (rm >= 0.5) if p.region is Region.PRODUCT else (rm < 0.5)
            if not ref_sel.any():
                ref_sel = None
    ref_lab = _lab(ref_rgb)
    ref_px = ref_lab[ref_sel] if ref_sel is not None else ref_lab.reshape(-1, 3)
    lab = _lab(to_float(image[..., :3]))
    src_px = lab[sel]
    out = lab.copy()
    chans = range(3) if p.lightness else range(1, 3)
    for c in chans:
        if p.method is StyleMethod.LAB_STATS:
            ms, ss = float(src_px[:, c].mean()), float(src_px[:, c].std())
            mr, sr = float(ref_px[:, c].mean()), float(ref_px[:, c].std())
            out[..., c] = (lab[..., c] - ms) * (sr / max(ss, 1e-3)) + mr
        else:
            out[..., c] = _quantile_map(src_px[:, c], ref_px[:, c], lab[..., c])
    out[..., 0] = np.clip(out[..., 0], 0.0, 100.0)
    return blend_region(image, _rgb(out), wgt, p.strength)


__all__ = [
    "Region",
    "StyleMethod",
    "StyleParams",
    "blend_region",
    "region_weight",
    "transfer_style",
]
