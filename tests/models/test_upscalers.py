"""UPSCALERS registry: Lanczos default, OpenCV dnn_superres .pb and Real-ESRGAN ONNX."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import shared_path
from productstudio.errors import InvalidParamsError, WeightsNotFoundError
from productstudio.models.upscalers import (
    UPSCALERS,
    DnnSuperRes,
    OnnxUpscaler,
    ResampleUpscaler,
    load_upscaler,
)
from productstudio.settings import get_settings
from rgba_photos import real_rgba

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(((a.astype(np.float64) - b) ** 2).mean())
    return 10 * np.log10(255.0**2 / max(mse, 1e-10))


def _real(long_side: int = 240) -> np.ndarray:
    img = np.ascontiguousarray(real_rgba(long_side=long_side)[..., :3])
    h, w = (img.shape[0] // 4) * 4, (img.shape[1] // 4) * 4
    return img[:h, :w]


def _bench_crop() -> np.ndarray:
    """A 400x400 full-resolution crop of a real DIS5K photo (a bench, wood texture)."""
    from productstudio.imaging import load_image

    p = shared_path("data", "cutout", "images", "dis_te1_bench_22653754305.jpg")
    return np.ascontiguousarray(load_image(p).pixels[:400, :400])


@pytest.fixture
def models_dir(monkeypatch: pytest.MonkeyPatch) -> Path:
    d = shared_path("weights", "superres")
    monkeypatch.setenv("PRODUCTSTUDIO_MODELS", str(d))
    get_settings.cache_clear()
    return d


def test_default_is_lanczos_and_weights_free_auto() -> None:
    assert isinstance(load_upscaler(), ResampleUpscaler) and load_upscaler().name == "lanczos"
    assert load_upscaler("auto").name == "lanczos"  # nothing in PRODUCTSTUDIO_MODELS
    assert {"fsrcnn", "espcn", "lapsrn", "fsrcnn-small", "realesr-general-x4v3"} <= set(
        UPSCALERS.names()
    )
    with pytest.raises(WeightsNotFoundError):
        load_upscaler("espcn")


@pytest.mark.parametrize("scale", [2, 3, 2.5])
def test_lanczos_exact_sizes_alpha_and_16bit(scale: float) -> None:
    img = np.dstack(
        [_real(120), np.full((120 * 0 + _real(120).shape[0], _real(120).shape[1]), 128, np.uint8)]
    )
    out = load_upscaler("lanczos").upscale(img, scale)
    assert out.shape == (round(img.shape[0] * scale), round(img.shape[1] * scale), 4)
    assert (out[..., 3] == 128).all()
    out16 = load_upscaler().upscale(img.astype(np.uint16) * 257, scale)
    assert out16.dtype == np.uint16


def test_bad_scale() -> None:
    for s in (1.0, 0.5, 20):
        with pytest.raises(InvalidParamsError):
            load_upscaler().upscale(np.zeros((8, 8, 3), np.uint8), s)


def test_auto_picks_the_best_available(models_dir: Path) -> None:
    assert load_upscaler("auto").name == "realesr-general-x4v3"


@pytest.mark.parametrize("name", ["fsrcnn", "espcn"])
def test_dnn_superres_beats_bicubic_on_a_real_photo(models_dir: Path, name: str) -> None:
    """Bicubic-downscale x2 (the models' training degradation), restore: the learned model
    is closer to the truth than bicubic."""
    img = _bench_crop()
    h, w = img.shape[:2]
    small = cv2.resize(img, (w // 2, h // 2), interpolation=cv2.INTER_CUBIC)
    up = load_upscaler(name)
    assert isinstance(up, DnnSuperRes) and up.native_scales == (2, 3, 4)
    sr = up.upscale(small, 2)
    bic = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    assert sr.shape == img.shape
    assert _psnr(sr, img) > _psnr(bic, img) + 0.5  # measured: +1.8 dB (espcn), see benchmarks


def test_dnn_matches_opencv_reference_implementation(models_dir: Path) -> None:
    """Our float-luma run equals cv2.dnn_superres.upsample within 8-bit rounding noise."""
    small = _real(160)[:40, :60]
    ours = load_upscaler("fsrcnn").upscale(small, 2)
    sr = cv2.dnn_superres.DnnSuperResImpl_create()
    sr.readModel(str(models_dir / "opencv" / "FSRCNN_x2.pb"))
    sr.setModel("fsrcnn", 2)
    ref = cv2.cvtColor(sr.upsample(cv2.cvtColor(small, cv2.COLOR_RGB2BGR)), cv2.COLOR_BGR2RGB)
    assert np.abs(ours.astype(int) - ref).mean() < 1.5


def test_tiled_equals_untiled_away_from_seams(models_dir: Path) -> None:
    """Tiling with overlap gives (nearly) the same pixels as one big tile."""
    small = _real(240)[:100, :140]
    up = load_upscaler("espcn")
    big = up.upscale(small, 2)
    up.tile, up.overlap = 48, 12
    tiled = up.upscale(small, 2)
    assert np.abs(big.astype(int) - tiled).mean() < 1.0


def test_non_native_scale_and_rgba_and_16bit(models_dir: Path) -> None:
    img = np.dstack([_real(120)[:40, :48], np.full((40, 48), 90, np.uint8)]).astype(np.uint16) * 257
    out = load_upscaler("fsrcnn").upscale(img, 2.5)
    assert out.shape == (100, 120, 4) and out.dtype == np.uint16
    assert (out[..., 3] == 90 * 257).all()


def test_realesrgan_onnx_runs_any_size(models_dir: Path) -> None:
    """Real-ESRGAN on an odd 30x21 crop of a real photo: 4x the size, aligned with the input
    (area-downscaled back it matches; a 1-px shift would cost ~5 dB), sharper than bicubic,
    and the same pixels as upscaling the whole photo (padding does not leak into the result)."""
    up = load_upscaler("realesr-general-x4v3")
    assert isinstance(up, OnnxUpscaler) and up.native_scales == (4,)
    whole = _real(120)
    img = whole[:21, :30]
    out = up.upscale(img, 4)
    assert out.shape == (84, 120, 3) and out.dtype == np.uint8
    back = cv2.resize(out, (30, 21), interpolation=cv2.INTER_AREA)
    assert _psnr(back, img) >= 33.0  # measured 35.9 dB; shifted by 1 px: 31.0 dB

    def detail(x: np.ndarray) -> float:
        gray = cv2.cvtColor(x, cv2.COLOR_RGB2GRAY).astype(np.float32)
        return float(np.abs(cv2.Laplacian(gray, cv2.CV_32F)).mean())

    bicubic = cv2.resize(img, (120, 84), interpolation=cv2.INTER_CUBIC)
    assert detail(out) >= 1.5 * detail(bicubic)  # measured 2.55 vs 1.24
    inner = (slice(8, -8), slice(8, -8))
    assert _psnr(up.upscale(whole, 4)[:84, :120][inner], out[inner]) >= 38.0  # measured 43.1
