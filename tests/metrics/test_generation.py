"""FID, KID, precision/recall, attribute classifier, named feature network, HTML report."""

from __future__ import annotations

import doctest
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from conftest import shared_path
from productstudio.errors import InvalidParamsError, WeightsNotFoundError
from productstudio.metrics import generation as gen_mod
from productstudio.metrics.generation import (
    AttributeClassifier,
    FeatureNetwork,
    PixelAttributeClassifier,
    fid,
    kid,
    precision_recall,
)
from productstudio.metrics.generation_eval import (
    baseline_class_mean,
    baseline_other_class,
    write_html_report,
)
from productstudio.models.data import ProductData, ProductRecord


def test_doctests() -> None:
    assert doctest.testmod(gen_mod).failed == 0


def test_fid_of_a_set_with_itself_is_zero() -> None:
    """FID(X, X) = 0 even when N < D (singular covariance)."""
    x = np.random.default_rng(0).normal(size=(50, 64))
    assert abs(fid(x, x)) < 1e-6


@given(st.floats(-5, 5), st.integers(0, 1000))
@settings(max_examples=20, deadline=None)
def test_fid_of_a_shifted_set_is_the_squared_shift(shift: float, seed: int) -> None:
    """Same covariance, means apart by c → FID = ‖c‖² (closed form)."""
    x = np.random.default_rng(seed).normal(size=(300, 4))
    c = np.array([shift, 0.0, -shift, 1.0])
    assert fid(x, x + c) == pytest.approx(float(c @ c), rel=1e-6, abs=1e-6)


def test_fid_gaussians_closed_form() -> None:
    """Isotropic Gaussians N(0, I) vs N(0, 4I) in 3-d: FID = 3·(1 + 4 − 2·2) = 3."""
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(20000, 3)), 2 * rng.normal(size=(20000, 3))
    assert fid(a, b) == pytest.approx(3.0, abs=0.15)


def test_kid_is_unbiased_on_shuffled_halves() -> None:
    """Two halves of one shuffled sample: KID scatters around 0 (some subsets negative) and is
    far below the KID between different distributions."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(800, 16))
    rng.shuffle(x)
    means = [kid(x[:400], x[400:], subsets=20, subset_size=100, seed=s)[0] for s in range(10)]
    shifted = kid(x[:400], x[400:] + 0.5, subsets=20, subset_size=100)[0]
    assert min(means) < 0 < max(means)
    assert abs(float(np.mean(means))) < 0.05 * shifted


def test_kid_returns_std_and_validates() -> None:
    x = np.random.default_rng(0).normal(size=(40, 8))
    m, s = kid(x, x + 1, subsets=5, subset_size=20)
    assert m > 0 and s >= 0
    with pytest.raises(InvalidParamsError):
        kid(x, x[:, :4])
    with pytest.raises(InvalidParamsError):
        kid(x, x, subsets=0)


def test_precision_recall_known_cases() -> None:
    """Identical sets → (1, 1); far-apart sets → (0, 0); a collapsed fake set → low recall."""
    rng = np.random.default_rng(0)
    r = rng.normal(size=(200, 8))
    assert precision_recall(r, r) == (1.0, 1.0)
    assert precision_recall(r, r + 100.0) == (0.0, 0.0)
    collapsed = np.repeat(r[:1], 200, axis=0) + 1e-3 * rng.normal(size=(200, 8))
    p, rec = precision_recall(r, collapsed)
    assert p == 1.0 and rec < 0.1


def test_attribute_classifier_separable_clusters() -> None:
    """Well-separated classes are classified perfectly; unknown labels (−1) are ignored."""
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 16)) * 10
    y = np.repeat(np.arange(3), 30)
    x = centres[y] + rng.normal(size=(90, 16))
    y_train = y.copy()
    y_train[::10] = -1
    clf = AttributeClassifier().fit(x, y_train)
    assert clf.accuracy(x, y) == 1.0
    with pytest.raises(InvalidParamsError):
        AttributeClassifier().predict(x)


def test_efficientnet_features_are_named_and_shaped() -> None:
    """The default feature network is EfficientNet-Lite0 (1280-d) and says so."""
    path = shared_path("weights", "features", "efficientnet_lite0_imagenet.onnx")
    net = FeatureNetwork.efficientnet_lite0(path)
    imgs = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    f = net(imgs)
    assert net.name == "efficientnet_lite0_imagenet"
    assert f.shape == (3, 1280) and f.dtype == np.float32 and np.isfinite(f).all()
    np.testing.assert_allclose(net(imgs[:1]), f[:1], atol=1e-4)
    with pytest.raises(InvalidParamsError):
        net(imgs.astype(np.float32))  # type: ignore[arg-type]


def test_feature_network_missing(tmp_path: Path) -> None:
    with pytest.raises(WeightsNotFoundError):
        FeatureNetwork.efficientnet_lite0(tmp_path / "nope.onnx")
    with pytest.raises(WeightsNotFoundError):
        FeatureNetwork.from_onnx(tmp_path / "inception.onnx")


def _data() -> tuple[ProductData, ProductData]:
    recs = [ProductRecord(f"p{i}", "", "", {"category": c}, "t") for i, c in enumerate("aabb")]
    imgs = np.stack([np.full((4, 4, 3), v, np.uint8) for v in (10, 30, 200, 220)])
    return ProductData(imgs, recs, 4), ProductData(imgs[[0, 2]], [recs[0], recs[2]], 4)


def test_baselines() -> None:
    """Class mean (+ no noise) is the category mean; 'other class' never picks the same category."""
    train, test = _data()
    m = baseline_class_mean(train, test, noise_std=0.0, seed=0)
    assert m[0, 0, 0, 0] == 20 and m[1, 0, 0, 0] == 210
    o = baseline_other_class(train, test, seed=0)
    assert o[0, 0, 0, 0] in (200, 220) and o[1, 0, 0, 0] in (10, 30)


def test_html_report(tmp_path: Path) -> None:
    """The report holds every number and the grid images."""
    p = write_html_report(
        tmp_path / "r.html",
        "T",
        {"gan": {"kid": 0.125, "family": "gan"}},
        {"gan": "g.png"},
        ["note"],
    )
    text = p.read_text()
    assert "0.125" in text and 'src="g.png"' in text and "<li>note</li>" in text


def test_pixel_classifier_learns_shape_and_colour() -> None:
    """The small CNN separates two shapes and two colours on held-out images, ignores −1 labels,
    is deterministic for a seed, and refuses bad input."""
    rng = np.random.default_rng(0)

    def make(n: int) -> tuple[NDArray[np.uint8], NDArray[np.int64], NDArray[np.int64]]:
        imgs = np.full((n, 16, 16, 3), 255, np.uint8)
        shape = rng.integers(0, 2, n)
        colour = rng.integers(0, 2, n)
        for i in range(n):
            c = (200, 30, 30) if colour[i] else (30, 30, 200)
            o = rng.integers(0, 3)
            if shape[i]:
                imgs[i, 2 + o : 14 - o, 7:9] = c  # tall bar
            else:
                imgs[i, 7:9, 2 + o : 14 - o] = c  # wide bar
        return imgs, shape, colour

    x, s, c = make(256)
    s_partly = s.copy()
    s_partly[:20] = -1
    clf = PixelAttributeClassifier(epochs=12, batch_size=32, seed=1).fit(
        x, {"shape": s_partly, "colour": c}
    )
    xt, shape_t, colour_t = make(64)
    acc = clf.accuracy(xt, {"shape": shape_t, "colour": colour_t})
    assert acc["shape"] >= 0.95 and acc["colour"] >= 0.95, acc
    again = PixelAttributeClassifier(epochs=12, batch_size=32, seed=1).fit(
        x, {"shape": s_partly, "colour": c}
    )
    for k in ("shape", "colour"):
        np.testing.assert_array_equal(clf.predict(xt)[k], again.predict(xt)[k])
    with pytest.raises(InvalidParamsError):
        PixelAttributeClassifier().predict(xt)
    with pytest.raises(InvalidParamsError):
        PixelAttributeClassifier().fit(x, {"shape": s[:3]})
    with pytest.raises(InvalidParamsError):
        PixelAttributeClassifier(epochs=0)
