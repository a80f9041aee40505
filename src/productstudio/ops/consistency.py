"""Catalogue consistency: one product scale, one baseline and one white balance across a set.

A set of cut-outs laid out one by one with ``fill=0.85`` makes a thimble as tall as a
wardrobe. :func:`layout_set` instead gives every item the same **px per cm** when items carry a
physical size (``height_cm``), or, when they do not, the same bounding-box height within a
category; every product stands on the same **baseline**. :func:`match_white_balance` brings
every photo to the set's common grey point (von Kries gains in linear light).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from productstudio.errors import InvalidParamsError
from productstudio.imaging.color import linear_to_srgb, srgb_to_linear
from productstudio.imaging.types import Image, RGBAImage, check_image, to_uint8
from productstudio.ops.canvas import Align, CanvasParams, alpha_bbox, place, plan_layout


@dataclass(frozen=True, slots=True)
class ConsistencyParams:
    """How a set is made consistent.

    Attributes:
        canvas: the shared canvas (size, margins); ``fill`` is the fraction of the usable height
            that the *tallest* item of the set (or of a category) gets.
        height_key: attribute with the physical height (cm or any unit, the same for all).
        category_key: attribute used to group items that lack ``height_key``.
        baseline: row of every product's bottom, as a fraction of the canvas height.
    """

    canvas: CanvasParams = field(default_factory=CanvasParams)
    height_key: str = "height_cm"
    category_key: str = "category"
    baseline: float = 0.925

    def __post_init__(self) -> None:
        if not 0.0 < self.baseline <= 1.0:
            raise InvalidParamsError(
                f"ConsistencyParams.baseline must be in (0, 1], got {self.baseline}"
            )


def height_attribute(attrs: Mapping[str, Any], key: str) -> float | None:
    """The positive number under ``key`` (None when absent or empty).

    Raises:
        InvalidParamsError: not a number, or not > 0.
    """
    v = attrs.get(key)
    if v is None or v == "":
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise InvalidParamsError(f"attribute '{key}' must be a number, got {v!r}") from None
    if not (math.isfinite(f) and f > 0):
        raise InvalidParamsError(f"attribute '{key}' must be > 0, got {v!r}")
    return f


def target_heights(
    images: Sequence[RGBAImage],
    attributes: Sequence[Mapping[str, Any]],
    params: ConsistencyParams | None = None,
) -> list[int]:
    """Target bounding-box height in px of each product on the shared canvas.

    Items with a physical height share one px-per-unit scale, chosen so that the tallest of
    them gets ``fill`` × usable height. Items without it share, per category, one box height
    of ``fill`` × usable height (a category has no common physical scale to keep).

    Raises:
        InvalidParamsError: lengths differ, an alpha is empty, or a height is not a number.
    """
    p = params or ConsistencyParams()
    if len(images) != len(attributes):
        raise InvalidParamsError(
            f"{len(images)} images but {len(attributes)} attribute rows: give one row per image"
        )
    _, ch = p.canvas.size
    mt, _mr, mb, _ml = p.canvas.margins_px()
    usable = ch - mt - mb
    tallest = p.canvas.fill * usable
    heights = [height_attribute(a, p.height_key) for a in attributes]
    known = [h for h in heights if h is not None]
    per_unit = tallest / max(known) if known else 0.0
    out: list[int] = []
    for img, h in zip(images, heights, strict=True):
        check_image(img, channels=(4,))
        if alpha_bbox(img, p.canvas.alpha_threshold) is None:
            raise InvalidParamsError("an item of the set has an empty alpha: nothing to lay out")
        out.append(max(1, round(h * per_unit)) if h is not None else max(1, round(tallest)))
    return out


def layout_set(
    images: Sequence[RGBAImage],
    attributes: Sequence[Mapping[str, Any]] | None = None,
    params: ConsistencyParams | None = None,
) -> list[RGBAImage]:
    """Lay out a set of RGBA cut-outs on one canvas size with a shared scale and baseline.

    Args:
        images: (H, W, 4) uint8 cut-outs (any sizes).
        attributes: one mapping per image (``height_cm``, ``category`` …); None = no attributes.
        params: see :class:`ConsistencyParams`.

    Returns:
        One (height, width, 4) RGBA canvas per image. Every product's bottom sits on the row
        ``round(baseline × height)`` (unless it would not fit), and products with a physical
        height keep their size ratio (within 1 px rounding).
    """
    p = params or ConsistencyParams()
    attrs = list(attributes) if attributes is not None else [{} for _ in images]
    targets = target_heights(images, attrs, p)
    canvas = replace(p.canvas, align=Align.BASELINE, baseline=p.baseline)
    out: list[RGBAImage] = []
    for img, th in zip(images, targets, strict=True):
        box = alpha_bbox(img, canvas.alpha_threshold)
        assert box is not None
        bh = box[3] - box[1]
        plan = plan_layout(img, canvas, scale=th / bh)
        out.append(place(img, plan))
    return out


def white_point(image: Image, mask: np.ndarray | None = None) -> np.ndarray:
    """Estimated grey point (linear RGB, 3 floats) of a photo: the mean of its brightest
    5 % of pixels (inside ``mask`` > 0.5 when given; alpha 255 pixels for RGBA)."""
    check_image(image)
    img = to_uint8(image)
    sel = np.ones(img.shape[:2], bool)
    if img.shape[2] == 4:
        sel &= img[..., 3] == 255
    if mask is not None:
        sel &= np.asarray(mask) > 0.5
    px = img[..., :3][sel].astype(np.float32) / 255.0
    if px.shape[0] < 16:
        raise InvalidParamsError("too few product pixels to estimate a white balance")
    lin = srgb_to_linear(px)
    lum = lin @ np.asarray([0.2126, 0.7152, 0.0722], np.float32)
    top = lin[lum >= np.quantile(lum, 0.95)]
    return np.maximum(top.mean(axis=0), 1e-4).astype(np.float32)


def apply_gains(image: Image, gains: np.ndarray) -> Image:
    """Multiply RGB by per-channel ``gains`` in linear light; alpha is kept."""
    check_image(image)
    img = to_uint8(image)
    lin = srgb_to_linear(img[..., :3].astype(np.float32) / 255.0) * np.asarray(gains, np.float32)
    rgb = np.clip(np.rint(linear_to_srgb(lin) * 255.0), 0, 255).astype(np.uint8)
    if img.shape[2] == 4:
        return np.dstack([rgb, img[..., 3]])
    return rgb


def match_white_balance(
    images: Sequence[Image], masks: Sequence[np.ndarray | None] | None = None
) -> list[Image]:
    """Give every image of a set the set's common white balance.

    Each image's grey point (:func:`white_point`) is mapped, with per-channel gains that keep
    its luminance, onto the chromaticity of the set's mean grey point. An image already at the
    common chromaticity comes back (nearly) unchanged; alpha is never changed.
    """
    if not images:
        return []
    ms = list(masks) if masks is not None else [None] * len(images)
    if len(ms) != len(images):
        raise InvalidParamsError(f"{len(images)} images but {len(ms)} masks")
    wps = [white_point(im, m) for im, m in zip(images, ms, strict=True)]
    chroma = [w / w.sum() for w in wps]
    ref = np.mean(chroma, axis=0)
    w_lum = np.asarray([0.2126, 0.7152, 0.0722], np.float32)
    out: list[Image] = []
    for im, c in zip(images, chroma, strict=True):
        g = ref / c
        g = g / float(g @ w_lum)  # keep luminance of a neutral pixel
        out.append(apply_gains(im, g))
    return out


__all__ = [
    "ConsistencyParams",
    "apply_gains",
    "height_attribute",
    "layout_set",
    "match_white_balance",
    "target_heights",
    "white_point",
]
