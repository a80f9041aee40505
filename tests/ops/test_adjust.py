"""ops/adjust: manual adjustments, an auto that leaves good photos alone, spot removal."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings

from conftest import read_manifest, shared_path
from productstudio.errors import InvalidParamsError
from productstudio.imaging import load_image
from productstudio.ops.adjust import (
    AdjustParams,
    AutoParams,
    SpotParams,
    WhiteBalance,
    adjust,
    auto_adjust,
    estimate_gains,
    find_spots,
    noise_sigma,
    remove_spots,
)
from strategies import rgb_images


def _studio(h: int = 60, w: int = 60) -> np.ndarray:
    """A grey/blue product on a white studio background."""
    img = np.full((h, w, 3), 255, np.uint8)
    y, x = np.mgrid[0:h, 0:w]
    inside = (x - w / 2) ** 2 + (y - h / 2) ** 2 < (w / 3) ** 2
    img[inside] = np.clip(np.dstack([60 + x, 90 + y, 160 + 0 * x]), 0, 255).astype(np.uint8)[inside]
    return img


def _packshots() -> list[np.ndarray]:
    rows = [r for r in read_manifest("data", "text", "manifest.csv") if "iconic" in r["name"]]
    return [load_image(shared_path("data", "text", r["file"])).pixels for r in rows[:4]]


def test_neutral_params_are_identity() -> None:
    img = _studio()
    assert np.array_equal(adjust(img, AdjustParams()), img)


@given(img=rgb_images(min_side=4, max_side=24))
@settings(max_examples=20, deadline=None)
def test_property_manual_adjust_keeps_shape_dtype_alpha(img: np.ndarray) -> None:
    rgba = np.dstack([img, np.full(img.shape[:2], 99, np.uint8)])
    out = adjust(rgba, AdjustParams(exposure_ev=0.5, contrast=0.3, saturation=1.4, sharpen=0.5))
    assert out.shape == rgba.shape and out.dtype == np.uint8
    assert np.array_equal(out[..., 3], rgba[..., 3])


def test_each_knob_moves_the_right_way() -> None:
    img = _studio()
    lum = lambda x: float(x[..., :3].astype(float).mean())  # noqa: E731
    assert lum(adjust(img, AdjustParams(exposure_ev=1))) > lum(img)
    assert lum(adjust(img, AdjustParams(exposure_ev=-1))) < lum(img)
    grey = adjust(img, AdjustParams(saturation=0.0))
    assert np.abs(grey[..., 0].astype(int) - grey[..., 2]).max() <= 3
    img16 = img.astype(np.uint16) * 257
    assert adjust(img16, AdjustParams(gamma=1.3)).dtype == np.uint16


@pytest.mark.parametrize(
    "kw", [{"exposure_ev": 9}, {"black": 0.5, "white": 0.4}, {"saturation": -1}, {"denoise": 2}]
)
def test_bad_params(kw: dict[str, float]) -> None:
    with pytest.raises(InvalidParamsError):
        AdjustParams(**kw)  # type: ignore[arg-type]


def test_auto_is_a_noop_on_good_photos_bit_for_bit() -> None:
    """Real studio packshots and a synthetic clean one come back unchanged."""
    for img in [_studio(), *_packshots()]:
        res = auto_adjust(img)
        assert not res.changed, res.notes
        assert np.array_equal(res.image, img)


def test_auto_removes_a_warm_cast_on_real_packshots() -> None:
    for img in _packshots():
        cast = np.clip(img * np.array([1.0, 0.92, 0.8]), 0, 255).astype(np.uint8)
        res = auto_adjust(cast)
        assert res.changed and res.params.white_balance is WhiteBalance.AUTO
        before = np.abs(cast.astype(int) - img).mean()
        after = np.abs(res.image.astype(int) - img).mean()
        assert after < 0.25 * before


def test_auto_lifts_a_grey_studio_background_and_denoises() -> None:
    dim = (_studio().astype(np.float32) * 0.8).astype(np.uint8)
    res = auto_adjust(dim, params=AutoParams(denoise=False))
    assert res.changed and res.image[0, 0].min() >= 250
    noisy = np.clip(
        _studio().astype(int) + np.random.default_rng(0).normal(0, 14, (60, 60, 3)), 0, 255
    ).astype(np.uint8)
    assert noise_sigma(noisy) > noise_sigma(_studio()) + 5
    res2 = auto_adjust(noisy, params=AutoParams(white_balance=False, levels=False))
    assert res2.params.denoise > 0 and noise_sigma(res2.image) < noise_sigma(noisy)


def test_gains_from_background() -> None:
    img = _studio()
    img[..., 2] = (img[..., 2] * 0.8).astype(np.uint8)
    g = estimate_gains(img, WhiteBalance.BACKGROUND)
    assert g[2] > 1.15 and abs(g[0] - 1) < 0.02


def test_spots_are_found_and_removed_only_there() -> None:
    """Dust on a smooth product is removed; everything else is bit-identical."""
    img = np.dstack([_studio(), np.full((60, 60), 255, np.uint8)])
    clean = img.copy()
    dirty = img.copy()
    dirty[28:31, 28:31, :3] = 0
    spots = find_spots(dirty, params=SpotParams(max_size=5))
    assert spots[29, 29] and spots.sum() < 40
    out, filled = remove_spots(dirty, params=SpotParams(max_size=5))
    assert np.array_equal(out[~filled], dirty[~filled])
    assert np.abs(out[29, 29, :3].astype(int) - clean[29, 29, :3]).max() < 25
    none_out, none_mask = remove_spots(clean)
    assert not none_mask.any() and np.array_equal(none_out, clean)
    with pytest.raises(InvalidParamsError):
        SpotParams(max_size=0)
