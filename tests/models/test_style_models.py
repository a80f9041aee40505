"""STYLE_MODELS: multistyle26 and arbitrary style ONNX (../shared/weights/style)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import shared_path
from productstudio.errors import InvalidParamsError, WeightsNotFoundError
from productstudio.models.style import (
    STYLE_MODELS,
    ArbitraryStyle,
    MultiStyle,
    load_style_model,
    style_weights,
)
from productstudio.ops.style import Region
from productstudio.settings import get_settings
from rgba_photos import real_rgba


@pytest.fixture
def style_dir(monkeypatch: pytest.MonkeyPatch) -> Path:
    d = shared_path("weights", "style")
    monkeypatch.setenv("PRODUCTSTUDIO_MODELS", str(d))
    get_settings.cache_clear()
    return d


def test_registry_and_missing_weights() -> None:
    assert STYLE_MODELS.names() == ["arbitrary", "multistyle26"]
    with pytest.raises(WeightsNotFoundError):
        load_style_model("multistyle26")


def test_style_weights() -> None:
    w = style_weights(3)
    assert w.shape == (26,) and w[3] == 1 and w.sum() == 1
    assert np.isclose(style_weights(np.ones(26, np.float32)).sum(), 1)
    for bad in (26, -1):
        with pytest.raises(InvalidParamsError):
            style_weights(bad)
    with pytest.raises(InvalidParamsError):
        style_weights(np.ones(5, np.float32))


def test_multistyle_changes_the_look_and_respects_region(style_dir: Path) -> None:
    m = load_style_model("multistyle26")
    assert isinstance(m, MultiStyle)
    rgba = real_rgba(long_side=200)
    out = m.with_style(19).stylize(rgba, region=Region.BACKGROUND)
    prod = rgba[..., 3] == 255
    assert out.shape == rgba.shape and np.array_equal(out[prod], rgba[prod])
    assert np.abs(out[~prod].astype(int) - rgba[~prod]).mean() > 10
    same = m.with_style(19).stylize(rgba, strength=0.0)
    assert np.array_equal(same, rgba)


def test_arbitrary_style_strength_blend(style_dir: Path) -> None:
    a = load_style_model("auto")
    assert isinstance(a, ArbitraryStyle)
    img = np.ascontiguousarray(real_rgba(long_side=160)[..., :3])
    ref = np.ascontiguousarray(img[::-1, ::-1, ::-1])  # a real photo with other colours
    full = a.with_reference(ref).stylize(img)
    half = a.with_reference(ref).stylize(img, strength=0.5)
    d_full = np.abs(full.astype(int) - img).mean()
    d_half = np.abs(half.astype(int) - img).mean()
    assert full.shape == img.shape and 0 < d_half < d_full
    with pytest.raises(InvalidParamsError):
        a.stylize(img)  # no reference yet
    with pytest.raises(InvalidParamsError):
        a.with_reference(ref, vector_strength=2.0)
