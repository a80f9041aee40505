"""ops/upscale: resampling by a factor (alpha apart, 16-bit safe) and overlapped tiling."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from productstudio.errors import InvalidParamsError
from productstudio.ops.upscale import Resample, UpscaleParams, resize_scale, tiled
from rgba_photos import real_rgba


def _nearest2(t: np.ndarray) -> np.ndarray:
    return np.repeat(np.repeat(t, 2, axis=0), 2, axis=1)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("channels", [3, 4])
def test_shapes_dtypes_and_channels(dtype: type, channels: int) -> None:
    img = (np.random.default_rng(0).random((13, 17, channels)) * np.iinfo(dtype).max).astype(dtype)
    out = resize_scale(img, UpscaleParams(scale=3))
    assert out.shape == (39, 51, channels) and out.dtype == dtype


def test_alpha_is_resampled_without_ringing() -> None:
    """Alpha uses a linear filter: a hard 0/255 edge never overshoots or undershoots."""
    img = np.zeros((20, 20, 4), np.uint8)
    img[:, 10:, 3] = 255
    img[:, 10:, :3] = 255
    out = resize_scale(img, UpscaleParams(scale=4))
    a = out[..., 3].astype(int)
    assert a.min() == 0 and a.max() == 255
    row = a[40]
    assert np.all(np.diff(row) >= 0)  # monotonic: no ringing halo


def test_uint16_keeps_precision() -> None:
    """A smooth 16-bit ramp keeps more than 256 distinct levels after upscaling."""
    ramp = np.tile(np.linspace(1000, 1500, 64, dtype=np.float64)[None, :, None], (8, 1, 3))
    out = resize_scale(ramp.astype(np.uint16), UpscaleParams(scale=2, resample=Resample.BICUBIC))
    assert out.dtype == np.uint16 and len(np.unique(out[..., 0])) > 100  # 8-bit would give 2


def test_identity_at_scale_one_and_bad_params() -> None:
    img = np.arange(48, dtype=np.uint8).reshape(4, 4, 3)
    assert np.array_equal(resize_scale(img, UpscaleParams(scale=1)), img)
    for s in (0, -1, 17):
        with pytest.raises(InvalidParamsError):
            UpscaleParams(scale=s)
    with pytest.raises(InvalidParamsError):
        resize_scale(np.zeros((4, 4), np.uint8), UpscaleParams())


@settings(max_examples=20, deadline=None)
@given(h=st.integers(9, 70), w=st.integers(9, 70), tile=st.integers(16, 40), ov=st.integers(0, 7))
def test_property_tiling_a_pointwise_fn_equals_running_it_whole(
    h: int, w: int, tile: int, ov: int
) -> None:
    """Tiles blend back seamlessly: for nearest x2 the tiled result equals the whole one."""
    img = np.random.default_rng(h * w).random((h, w, 3)).astype(np.float32)
    out = tiled(img, _nearest2, 2, tile=tile, overlap=ov)
    np.testing.assert_allclose(out, _nearest2(img), atol=1e-5)


def test_tiling_reports_progress_and_rejects_bad_tiles() -> None:
    seen: list[tuple[int, int]] = []
    tiled(
        np.zeros((50, 50, 3), np.float32),
        _nearest2,
        2,
        tile=20,
        overlap=4,
        on_progress=lambda d, t: seen.append((d, t)),
    )
    assert seen[-1][0] == seen[-1][1] > 1
    with pytest.raises(InvalidParamsError):
        tiled(np.zeros((5, 5, 3), np.float32), _nearest2, 2, tile=8, overlap=4)


def test_real_photo_lanczos_beats_nearest() -> None:
    """Downscale a real photo, upscale back: Lanczos is closer to the truth than nearest."""
    img = np.ascontiguousarray(real_rgba(long_side=320)[..., :3])
    h, w = (img.shape[0] // 4) * 4, (img.shape[1] // 4) * 4
    img = img[:h, :w]
    small = cv2.resize(img, (w // 4, h // 4), interpolation=cv2.INTER_AREA)
    lz = resize_scale(small, UpscaleParams(scale=4))
    nn = resize_scale(small, UpscaleParams(scale=4, resample=Resample.NEAREST))

    def err(x: np.ndarray) -> float:
        return float(np.abs(x.astype(int) - img).mean())

    assert err(lz) < err(nn)
