"""ops/style: Lab statistics and histogram transfer on product, background or both."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from productstudio.errors import InvalidParamsError
from productstudio.ops.style import Region, StyleMethod, StyleParams, transfer_style
from rgba_photos import real_rgba


def _lab_mean(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb.astype(np.float32) / 255, cv2.COLOR_RGB2Lab).reshape(-1, 3).mean(axis=0)


@pytest.mark.parametrize("method", list(StyleMethod))
def test_statistics_move_to_the_reference(method: StyleMethod) -> None:
    rng = np.random.default_rng(0)
    img = (rng.random((40, 40, 3)) * 80 + 40).astype(np.uint8)
    ref = (rng.random((30, 50, 3)) * 60 + np.array([180, 120, 40])).clip(0, 255).astype(np.uint8)
    out = transfer_style(img, ref, StyleParams(method=method))
    assert np.abs(_lab_mean(out) - _lab_mean(ref)).max() < 2.5
    assert np.abs(_lab_mean(img) - _lab_mean(ref)).max() > 20


@pytest.mark.parametrize("region", [Region.PRODUCT, Region.BACKGROUND])
def test_region_outside_is_bit_identical(region: Region) -> None:
    rgba = real_rgba(long_side=160)
    ref = np.full((20, 20, 3), (30, 90, 200), np.uint8)
    out = transfer_style(rgba, ref, StyleParams(region=region))
    a = rgba[..., 3]
    untouched = (a == 0) if region is Region.PRODUCT else (a == 255)
    assert np.array_equal(out[untouched], rgba[untouched])
    assert not np.array_equal(out, rgba)
    assert np.array_equal(out[..., 3], a)


def test_strength_zero_identity_and_errors() -> None:
    img = np.full((8, 8, 3), 120, np.uint8)
    ref = np.full((8, 8, 3), 10, np.uint8)
    assert np.array_equal(transfer_style(img, ref, StyleParams(strength=0.0)), img)
    with pytest.raises(InvalidParamsError):
        transfer_style(img, ref, StyleParams(region=Region.PRODUCT))  # no mask, no alpha
    with pytest.raises(InvalidParamsError):
        StyleParams(strength=1.5)
    with pytest.raises(InvalidParamsError):
        transfer_style(img, np.zeros((4, 4), np.uint8), StyleParams())
    with pytest.raises(InvalidParamsError):
        transfer_style(img, ref, StyleParams(region=Region.PRODUCT), np.zeros((8, 8), np.float32))


def test_uint16_and_colour_only() -> None:
    """A 16-bit photo stays 16-bit (not rounded to 8-bit steps); ``lightness=False`` moves
    a*/b* to the reference's and leaves every pixel's L* where it was."""
    rgb = real_rgba(long_side=64)[..., :3].astype(np.uint16)
    img = rgb * 257 + np.random.default_rng(1).integers(0, 257, rgb.shape).astype(np.uint16)
    ref = np.full((6, 6, 3), (150, 110, 80), np.uint8)

    def lab16(x: np.ndarray) -> np.ndarray:
        return cv2.cvtColor(x.astype(np.float32) / 65535, cv2.COLOR_RGB2Lab).reshape(-1, 3)

    out = transfer_style(img, ref, StyleParams(lightness=False))
    assert out.dtype == np.uint16 and out.shape == img.shape
    assert (out % 257 != 0).mean() > 0.9  # 16-bit values, not 8-bit ones scaled up
    before, after = lab16(img), lab16(out)
    assert np.abs(after[:, 0] - before[:, 0]).max() < 1.0  # measured 0.32
    np.testing.assert_allclose(after[:, 1:].mean(axis=0), _lab_mean(ref)[1:], atol=1.0)
    assert np.abs(before[:, 1:].mean(axis=0) - _lab_mean(ref)[1:]).min() > 10  # it had to move
    full = lab16(transfer_style(img, ref, StyleParams()))
    assert abs(full[:, 0].mean() - _lab_mean(ref)[0]) < 1.0  # with lightness, L* moves too
