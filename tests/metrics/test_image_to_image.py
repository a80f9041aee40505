"""Photo → image evaluation helpers: colour-transfer baseline, title edits, charts, scorer guard."""

from __future__ import annotations

import doctest

import numpy as np
import pytest

from productstudio.errors import InvalidParamsError
from productstudio.metrics import image_to_image as mod
from productstudio.metrics.generation import PixelAttributeClassifier, PixelCNNFeatures
from productstudio.metrics.generation_eval import EvalParams, report_charts
from productstudio.metrics.image_to_image import TranslationEvalParams, _swap_word, colour_transfer


def test_doctests() -> None:
    assert doctest.testmod(mod).failed == 0


def test_colour_transfer_matches_channel_statistics() -> None:
    """After the transfer each channel's mean and std over the set equal the reference's (up to
    rounding), and the order of pixel values within a channel is kept."""
    rng = np.random.default_rng(0)
    a = rng.integers(40, 120, (5, 8, 8, 3)).astype(np.uint8)
    ref = rng.integers(150, 230, (4, 8, 8, 3)).astype(np.uint8)
    out = colour_transfer(a, ref)
    assert out.shape == a.shape and out.dtype == np.uint8
    np.testing.assert_allclose(out.mean((0, 1, 2)), ref.mean((0, 1, 2)), atol=0.5)
    np.testing.assert_allclose(out.std((0, 1, 2)), ref.std((0, 1, 2)), atol=0.5)
    flat_a, flat_o = a[..., 0].ravel(), out[..., 0].ravel().astype(int)
    assert (np.diff(flat_o[np.argsort(flat_a, kind="stable")]) >= 0).all()


@pytest.mark.parametrize(
    ("title", "old", "new", "want"),
    [
        ("Nike Men Black Shoe", "Black", "Red", "Nike Men Red Shoe"),
        ("nike men black shoe", "Black", "Red", "nike men Red shoe"),
        ("Blackberry Phone Case", "Black", "Red", "Red Blackberry Phone Case"),
        ("", "Black", "Red", "Red"),
    ],
)
def test_swap_word(title: str, old: str, new: str, want: str) -> None:
    """The attribute word is replaced as a whole word, else the new value is prefixed."""
    assert _swap_word(title, old, new) == want


def test_charts_accept_negative_kid() -> None:
    """KID is unbiased and can be slightly negative; the chart draws it as 0 and says so."""
    charts = report_charts({"a": {"kid": -0.001, "fid": 3.0}, "b": {"kid": 0.2, "fid": 4.0}}, {})
    assert "values &lt; 0 drawn as 0" in charts[0] or "values < 0 drawn as 0" in charts[0]


def test_params_validation() -> None:
    with pytest.raises(InvalidParamsError):
        TranslationEvalParams(cnn_epochs=0)
    with pytest.raises(InvalidParamsError, match="cnn_epochs"):
        EvalParams(scorer="pixel-cnn", cnn_epochs=0)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        EvalParams(scorer="inception")  # type: ignore[arg-type]


def test_pixel_cnn_features_need_a_fitted_classifier() -> None:
    """The independent scorer is the fitted classifier's body: 128-d, deterministic."""
    with pytest.raises(InvalidParamsError, match="not fitted"):
        PixelCNNFeatures(PixelAttributeClassifier())
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (40, 16, 16, 3), dtype=np.uint8)
    clf = PixelAttributeClassifier(epochs=1, batch_size=8).fit(x, {"a": rng.integers(0, 2, 40)})
    net = PixelCNNFeatures(clf)
    f = net(x[:5])
    assert f.shape == (5, 128) and f.dtype == np.float32
    np.testing.assert_array_equal(f, net(x[:5]))
    with pytest.raises(InvalidParamsError):
        net(x[0])
