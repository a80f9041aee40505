"""Audience profiles and the measurable audience effect.

The training metadata labels each photo with an audience whose preferred palette matches the
photo's colour (:func:`productstudio.models.conditioning.audience.audience_for`). Here we check
that a trained generator learned it: with the title and colour left out of the prompt, changing
ONLY the audience should move the samples' colour statistics the intended way — darker (lower
L*) for the ``noir`` audience than for ``pastel``, and more saturated (higher chroma) for
``vivid`` than for ``noir``/``pastel``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from productstudio.errors import InvalidParamsError
from productstudio.imaging.color import rgb_to_lab
from productstudio.models.conditioning.audience import (
    INTERESTS,
    AudienceProfile,
    Palette,
    audience_for,
    palette_of,
)

__all__ = [
    "INTERESTS",
    "AudienceEffect",
    "AudienceProfile",
    "Palette",
    "audience_for",
    "colour_stats",
    "measure_audience_effect",
    "palette_of",
]


def colour_stats(
    images: NDArray[np.uint8], white_l: float = 92.0, white_c: float = 8.0
) -> dict[str, float]:
    """Mean L* and chroma of the product pixels (near-white background pixels excluded).

    Example:
        >>> im = np.full((1, 4, 4, 3), 255, np.uint8); im[0, :2] = (200, 0, 0)
        >>> s = colour_stats(im)
        >>> round(s["fg_fraction"], 2), bool(s["chroma"] > 50)
        (0.5, True)
    """
    if images.ndim != 4 or images.shape[-1] != 3:
        raise InvalidParamsError(f"colour_stats: need (N, H, W, 3), got {images.shape}")
    lab = rgb_to_lab(images.reshape(-1, images.shape[2], 3)).reshape(*images.shape[:3], 3)
    chroma = np.hypot(lab[..., 1], lab[..., 2])
    fg = (lab[..., 0] < white_l) | (chroma > white_c)
    if not fg.any():
        return {"L": float("nan"), "chroma": float("nan"), "fg_fraction": 0.0}
    return {
        "L": float(lab[..., 0][fg].mean()),
        "chroma": float(chroma[fg].mean()),
        "fg_fraction": float(fg.mean()),
    }


@dataclass(frozen=True)
class AudienceEffect:
    """Per-audience colour statistics and the share of prompts that moved the intended way."""

    stats: dict[str, dict[str, float]]
    dark_darker_than_light: float  # share of prompts with L*(noir) < L*(pastel)
    vivid_more_chroma_than_dark: float  # share of prompts with C*(vivid) > C*(noir)
    vivid_more_chroma_than_light: float
    delta_L_dark_minus_light: float  # mean over prompts
    delta_chroma_vivid_minus_dark: float
    n_prompts: int
    samples_per_prompt: int

    def as_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)


def measure_audience_effect(
    model: Any,
    records: Sequence[Any],
    *,
    samples_per_prompt: int = 4,
    seed: int = 0,
    drop: Sequence[str] = ("colour",),
) -> AudienceEffect:
    """Sample every record's prompt (title and the ``drop`` attributes removed) under three
    audiences that differ ONLY in their interest (noir / pastel / vivid), with the same seeds,
    and compare the colour statistics.

    Args:
        model: a trained :class:`~productstudio.models.generators.ConditionalGenerator`.
        records: product records whose other attributes (category, gender, …) are kept.
    """
    from productstudio.models.conditioning.config import Prompt

    if not records:
        raise InvalidParamsError("measure_audience_effect: no records")
    audiences = {
        p.value: AudienceProfile.preferring(p) for p in (Palette.DARK, Palette.LIGHT, Palette.VIVID)
    }
    per: dict[str, list[dict[str, float]]] = {k: [] for k in audiences}
    for i, r in enumerate(records):
        attrs = {k: v for k, v in r.attrs.items() if k not in drop}
        for name, aud in audiences.items():
            imgs = model.sample(
                [Prompt("", attrs, aud)] * samples_per_prompt, seed=seed + i, strict=False
            )
            per[name].append(colour_stats(imgs))

    def arr(name: str, key: str) -> NDArray[np.float64]:
        return np.array([s[key] for s in per[name]], np.float64)

    dl = arr("dark", "L") - arr("light", "L")
    dc = arr("vivid", "chroma") - arr("dark", "chroma")
    dcl = arr("vivid", "chroma") - arr("light", "chroma")
    stats = {
        k: {"L": float(np.nanmean(arr(k, "L"))), "chroma": float(np.nanmean(arr(k, "chroma")))}
        for k in audiences
    }
    return AudienceEffect(
        stats=stats,
        dark_darker_than_light=float(np.mean(dl < 0)),
        vivid_more_chroma_than_dark=float(np.mean(dc > 0)),
        vivid_more_chroma_than_light=float(np.mean(dcl > 0)),
        delta_L_dark_minus_light=float(np.nanmean(dl)),
        delta_chroma_vivid_minus_dark=float(np.nanmean(dc)),
        n_prompts=len(records),
        samples_per_prompt=samples_per_prompt,
    )
