"""Audience effect: colour statistics and the paired audience comparison."""

from __future__ import annotations

import doctest
from typing import Any

import numpy as np
import pytest

from productstudio.errors import InvalidParamsError
from productstudio.models.data import ProductRecord
from productstudio.personalize import audience as audience_mod
from productstudio.personalize.audience import (
    AudienceProfile,
    colour_stats,
    measure_audience_effect,
)


def test_doctests() -> None:
    assert doctest.testmod(audience_mod).failed == 0


def test_colour_stats_ignores_white_background() -> None:
    """Only product pixels count: a black square on white has L* 0 and a quarter foreground."""
    im = np.full((1, 8, 8, 3), 255, np.uint8)
    im[0, :4, :4] = 0
    s = colour_stats(im)
    assert s["L"] == pytest.approx(0.0, abs=1e-3) and s["fg_fraction"] == 0.25
    assert np.isnan(colour_stats(np.full((1, 4, 4, 3), 255, np.uint8))["L"])
    with pytest.raises(InvalidParamsError):
        colour_stats(np.zeros((4, 4, 3), np.uint8))


class _PaletteModel:
    """A stand-in generator that paints the audience's palette (or ignores it)."""

    def __init__(self, follows: bool) -> None:
        self.follows = follows
        self.prompts: list[Any] = []

    def sample(self, prompts: list[Any], seed: int = 0, strict: bool = True) -> np.ndarray:
        self.prompts += prompts
        colour = {"noir": (20, 20, 30), "pastel": (230, 200, 210), "vivid": (230, 20, 20)}
        out = np.full((len(prompts), 8, 8, 3), 255, np.uint8)
        for i, p in enumerate(prompts):
            key = p.audience.interests[0] if self.follows else "vivid"
            out[i, 2:6, 2:6] = colour[key]
        return out


def test_measure_audience_effect_detects_a_palette_following_model() -> None:
    """Changing only the audience moves L* and chroma the intended way; only the audience varies."""
    recs = [
        ProductRecord(f"p{i}", "", "T", {"category": "Shoes", "colour": "Red"}, "t")
        for i in range(3)
    ]
    m = _PaletteModel(True)
    eff = measure_audience_effect(m, recs, samples_per_prompt=2)
    assert eff.dark_darker_than_light == 1.0 and eff.vivid_more_chroma_than_dark == 1.0
    assert eff.delta_L_dark_minus_light < -50
    assert all(p.title == "" and "colour" not in p.attrs for p in m.prompts)
    assert {p.audience for p in m.prompts} == {
        AudienceProfile(interests=(i,)) for i in ("noir", "pastel", "vivid")
    }
    flat = measure_audience_effect(_PaletteModel(False), recs, samples_per_prompt=2)
    assert flat.dark_darker_than_light == 0.0 and flat.delta_L_dark_minus_light == 0.0
    with pytest.raises(InvalidParamsError):
        measure_audience_effect(m, [])
