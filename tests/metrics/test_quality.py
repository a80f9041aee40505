"""Image-quality metrics: closed forms, masks, edge cases, properties and a real photo."""

from __future__ import annotations

import builtins
import doctest
import math
import subprocess
import sys
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

import productstudio.metrics.quality as quality
from conftest import shared_path
from productstudio.errors import InvalidParamsError, MissingDependencyError
from productstudio.metrics import MS_SSIM_MIN_SIDE, DeltaEStats, delta_e, ms_ssim, psnr, ssim
from strategies import rgb_images


def noisy(shape: tuple[int, ...], sigma: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    ref = rng.integers(40, 216, shape, dtype=np.uint8)
    out = np.clip(ref + rng.normal(0, sigma, shape), 0, 255).astype(np.uint8)
    return out, ref


def real_photo() -> np.ndarray:
    """The first NYU indoor scene of ../shared/data/backgrounds (640x480 RGB); skips if absent."""
    folder = shared_path("data", "backgrounds", "images")
    paths = sorted(folder.glob("nyu_*.jpg"))
    if not paths:
        pytest.skip(f"no nyu_*.jpg in {folder}")
    with Image.open(paths[0]) as im:
        return np.asarray(im.convert("RGB"))


def test_doctests() -> None:
    """The docstring examples run and hold."""
    result = doctest.testmod(quality)
    assert result.attempted > 5
    assert result.failed == 0


def test_import_does_not_load_torch() -> None:
    """Importing the metrics package leaves torch unloaded (fast CLI start)."""
    code = "import sys, productstudio.metrics; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --- PSNR ------------------------------------------------------------------------------------


def test_psnr_closed_form() -> None:
    """A constant error of d on every pixel gives 20*log10(255/d)."""
    ref = np.full((16, 16, 3), 100, np.uint8)
    for d in (1, 5, 50):
        assert psnr(ref + np.uint8(d), ref) == pytest.approx(20 * math.log10(255 / d), abs=1e-12)


def test_psnr_sparse_error_closed_form() -> None:
    """One pixel off by 255 in 100 (grey) gives 10*log10(100) = 20 dB."""
    a = np.zeros((10, 10), np.uint8)
    b = a.copy()
    b[3, 7] = 255
    assert psnr(a, b) == pytest.approx(20.0)


def test_psnr_identical_is_inf_and_dtypes() -> None:
    """Identical images give inf; uint16 and float use 65535 and 1.0 as peaks."""
    a, ref = noisy((20, 20, 3), 5.0)
    assert psnr(ref, ref) == math.inf
    v8 = psnr(a, ref)
    assert psnr(a.astype(np.uint16) * 257, ref.astype(np.uint16) * 257) == pytest.approx(v8)
    assert psnr(a / 255.0, ref / 255.0) == pytest.approx(v8)
    assert psnr(a.astype(np.float32), ref.astype(np.float32), data_range=255) == pytest.approx(v8)


def test_psnr_matches_skimage() -> None:
    """Without a mask the value equals scikit-image's PSNR."""
    a, ref = noisy((30, 40, 3), 12.0)
    assert psnr(a, ref) == pytest.approx(peak_signal_noise_ratio(ref, a, data_range=255))


def test_psnr_mask_scores_only_masked_pixels() -> None:
    """Errors outside the mask are ignored; inside, the closed form holds."""
    ref = np.full((20, 20, 3), 128, np.uint8)
    out = ref.copy()
    out[:10] += 10  # top half off by 10
    out[10:] += 1  # bottom half off by 1
    mask = np.zeros((20, 20), np.uint8)
    mask[10:] = 255
    assert psnr(out, ref, mask=mask) == pytest.approx(20 * math.log10(255))
    assert psnr(out, ref, mask=mask > 0) == pytest.approx(20 * math.log10(255))
    top = np.zeros((20, 20), bool)
    top[:10] = True
    assert psnr(out, ref, mask=top) == pytest.approx(20 * math.log10(25.5))
    assert psnr(out, ref, mask=np.ones((20, 20), bool)) == pytest.approx(psnr(out, ref))
    # Identical inside the mask: inf even though the rest differs.
    assert psnr(ref, np.where(top[..., None], ref, 0).astype(np.uint8), mask=top) == math.inf


@pytest.mark.parametrize(
    ("a", "b", "kw", "match"),
    [
        (np.zeros((4, 4), np.uint8), np.zeros((4, 5), np.uint8), {}, "resize"),
        (np.zeros((4, 4), np.uint8), np.zeros((4, 4), np.uint16), {}, "dtype"),
        (np.zeros((0, 4), np.uint8), np.zeros((0, 4), np.uint8), {}, "non-empty"),
        (np.zeros((4, 4), np.int32), np.zeros((4, 4), np.int32), {}, "data_range"),
        (np.zeros((4, 4), np.uint8), np.zeros((4, 4), np.uint8), {"data_range": 0}, "positive"),
        (
            np.zeros((4, 4), np.uint8),
            np.zeros((4, 4), np.uint8),
            {"mask": np.zeros((4, 4))},
            "empty",
        ),
        (
            np.zeros((4, 4), np.uint8),
            np.zeros((4, 4), np.uint8),
            {"mask": np.ones((3, 4))},
            "resize",
        ),
        ("not", np.zeros((4, 4), np.uint8), {}, "numpy array"),
    ],
)
def test_psnr_bad_inputs(a: Any, b: np.ndarray, kw: dict[str, Any], match: str) -> None:
    """Mismatched or invalid inputs raise InvalidParamsError with a helpful message."""
    with pytest.raises(InvalidParamsError, match=match):
        psnr(a, b, **kw)


# --- SSIM ------------------------------------------------------------------------------------


def test_ssim_identical_and_matches_skimage() -> None:
    """Identical images give 1.0; otherwise the value is scikit-image's."""
    a, ref = noisy((40, 50, 3), 15.0)
    assert ssim(ref, ref) == 1.0
    expected = structural_similarity(a, ref, channel_axis=-1, data_range=255)
    assert ssim(a, ref) == pytest.approx(expected)
    g_a, g_ref = a[..., 0], ref[..., 0]
    assert ssim(g_a, g_ref) == pytest.approx(structural_similarity(g_a, g_ref, data_range=255))


def test_ssim_full_mask_equals_unmasked_and_mask_localises() -> None:
    """An all-ones mask reproduces the plain value; a mask on a clean region gives 1.0."""
    ref = noisy((60, 60, 3), 0.0)[1]
    out = ref.copy()
    out[:, 30:] = noisy((60, 30, 3), 25.0, seed=1)[0]  # damage the right half only
    assert ssim(out, ref, mask=np.ones((60, 60), np.uint8) * 255) == pytest.approx(ssim(out, ref))
    left = np.zeros((60, 60), bool)
    left[:, :20] = True  # 20 px: beyond the 3 px window reach of the damaged half
    assert ssim(out, ref, mask=left) == pytest.approx(1.0)
    right = ~left
    assert ssim(out, ref, mask=right) < ssim(out, ref) < 1.0


def test_ssim_decreases_with_noise() -> None:
    """More noise, lower SSIM."""
    values = [ssim(*noisy((48, 48, 3), s)) for s in (2.0, 10.0, 40.0)]
    assert values[0] > values[1] > values[2]


def test_ssim_too_small_and_border_only_mask() -> None:
    """Images under 7 px and masks that only cover the undefined border are rejected."""
    with pytest.raises(InvalidParamsError, match="7x7"):
        ssim(np.zeros((6, 30), np.uint8), np.zeros((6, 30), np.uint8))
    border = np.zeros((20, 20), bool)
    border[0, :] = True
    with pytest.raises(InvalidParamsError, match="border"):
        ssim(np.zeros((20, 20), np.uint8), np.zeros((20, 20), np.uint8), mask=border)


# --- MS-SSIM ---------------------------------------------------------------------------------


def test_ms_ssim_identical_noise_and_size_rule() -> None:
    """MS-SSIM is ~1 for identical images, falls with noise, and needs >= 176 px sides."""
    pytest.importorskip("torchmetrics")
    ref = real_photo()[:200, :200]
    assert ms_ssim(ref, ref) == pytest.approx(1.0, abs=1e-5)
    rng = np.random.default_rng(0)
    light = np.clip(ref + rng.normal(0, 5, ref.shape), 0, 255).astype(np.uint8)
    heavy = np.clip(ref + rng.normal(0, 30, ref.shape), 0, 255).astype(np.uint8)
    v_light, v_heavy = ms_ssim(light, ref), ms_ssim(heavy, ref)
    assert 1.0 > v_light > v_heavy > 0.0
    assert ms_ssim(ref, light) == pytest.approx(v_light, abs=1e-6)  # symmetric
    small = ref[: MS_SSIM_MIN_SIDE - 1]
    with pytest.raises(InvalidParamsError, match="176"):
        ms_ssim(small, small)
    ok = ref[:MS_SSIM_MIN_SIDE, :MS_SSIM_MIN_SIDE]
    assert ms_ssim(ok, ok) == pytest.approx(1.0, abs=1e-5)


def test_ms_ssim_missing_torch_names_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without torchmetrics the error is MissingDependencyError with the pip command."""
    real_import = builtins.__import__

    def fake_import(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith(("torchmetrics", "torch")):
            raise ImportError(f"No module named '{name}'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    img = np.zeros((MS_SSIM_MIN_SIDE, MS_SSIM_MIN_SIDE, 3), np.uint8)
    with pytest.raises(MissingDependencyError, match=r"pip install .*productstudio\[learn\]"):
        ms_ssim(img, img)


# --- ΔE2000 ----------------------------------------------------------------------------------


def test_delta_e_identity_and_known_pair() -> None:
    """Identical images give 0; black vs white is ΔE00 = 100 (L* 0 vs 100, no chroma)."""
    black = np.zeros((4, 4, 3), np.uint8)
    white = np.full((4, 4, 3), 255, np.uint8)
    assert delta_e(black, black) == DeltaEStats(0.0, 0.0, 0.0, 0.0, 16)
    d = delta_e(black, white)
    assert d.mean == pytest.approx(100.0, abs=0.01)
    assert d.median == pytest.approx(100.0, abs=0.01)
    assert d.max == pytest.approx(100.0, abs=0.01)


def test_delta_e_mask_alpha_and_dtypes() -> None:
    """The mask selects pixels, alpha is ignored, and uint16/float agree with uint8."""
    a = np.zeros((4, 4, 4), np.uint8)
    b = a.copy()
    b[:2, :, :3] = 255  # top half differs
    b[..., 3] = 255  # alpha differs everywhere: ignored
    mask = np.zeros((4, 4), np.uint8)
    mask[2:] = 255
    assert delta_e(a, b, mask=mask).max == 0.0
    assert delta_e(a, b).n_pixels == 16 and delta_e(a, b, mask=mask).n_pixels == 8
    d8 = delta_e(a[..., :3], b[..., :3])
    d16 = delta_e(a[..., :3].astype(np.uint16) * 257, b[..., :3].astype(np.uint16) * 257)
    df = delta_e(a[..., :3] / 255.0, b[..., :3] / 255.0)
    assert d16.mean == pytest.approx(d8.mean, abs=1e-3)
    assert df.mean == pytest.approx(d8.mean, abs=1e-3)
    with pytest.raises(InvalidParamsError, match="no pixel"):
        delta_e(a, b, mask=np.zeros((4, 4), bool))
    with pytest.raises(InvalidParamsError, match="RGB"):
        delta_e(a[..., 0], b[..., 0])


# --- properties ------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(rgb_images(min_side=7, max_side=24), st.integers(0, 2**31 - 1))
def test_properties(img: np.ndarray, seed: int) -> None:
    """PSNR/SSIM are symmetric, PSNR(x, x) = inf, SSIM(x, x) = 1 and SSIM <= 1."""
    rng = np.random.default_rng(seed)
    other = rng.integers(0, 256, img.shape, dtype=np.uint8)
    assert psnr(img, img) == math.inf
    assert ssim(img, img) == pytest.approx(1.0)
    assert psnr(img, other) == psnr(other, img)
    assert ssim(img, other) == pytest.approx(ssim(other, img))
    assert -1.0 <= ssim(img, other) <= 1.0
    if not np.array_equal(img, other):
        assert 0.0 <= psnr(img, other) < math.inf


# --- a real photo ----------------------------------------------------------------------------


def test_real_photo_jpeg_quality_ordering() -> None:
    """On a real background photo, a higher JPEG quality scores higher PSNR and SSIM."""
    import io

    ref = real_photo()

    def jpeg(q: int) -> np.ndarray:
        buf = io.BytesIO()
        Image.fromarray(ref).save(buf, "JPEG", quality=q)
        return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))

    low, high = jpeg(10), jpeg(90)
    assert psnr(low, ref) < psnr(high, ref)
    assert ssim(low, ref) < ssim(high, ref) < 1.0
    assert 20.0 < psnr(low, ref) < psnr(high, ref) < 50.0
    assert delta_e(low, ref).mean > delta_e(high, ref).mean > 0.0


def test_structure_ssim_is_the_structure_term_of_skimage_ssim() -> None:
    """With luminance and contrast equal (the same image, shifted and scaled back), full SSIM
    and the structure term agree; the structure term alone equals skimage's SSIM map divided
    by its luminance and contrast terms, written out here from the paper."""
    from scipy.ndimage import uniform_filter

    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, (24, 24), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-60, 60, a.shape), 0, 255).astype(np.uint8)
    x, y = a.astype(np.float64), b.astype(np.float64)
    n = 49
    mx, my = uniform_filter(x, 7), uniform_filter(y, 7)
    vx = n / (n - 1) * (uniform_filter(x * x, 7) - mx * mx)
    vy = n / (n - 1) * (uniform_filter(y * y, 7) - my * my)
    vxy = n / (n - 1) * (uniform_filter(x * y, 7) - mx * my)
    c2 = (0.03 * 255) ** 2
    s = (vxy + c2 / 2) / (np.sqrt(np.clip(vx, 0, None) * np.clip(vy, 0, None)) + c2 / 2)
    assert quality.structure_ssim(a, b) == pytest.approx(float(s[3:-3, 3:-3].mean()), rel=1e-9)
    assert quality.structure_ssim(a, a) == pytest.approx(1.0)


def test_structure_ssim_ignores_recolouring_but_not_layout() -> None:
    """A recolour (any positive affine change of the grey levels, e.g. red → dark) keeps the
    structure near 1 while full SSIM drops; a shifted or different layout scores low."""
    rng = np.random.default_rng(2)
    img = np.full((32, 32, 3), 255, np.uint8)
    img[8:24, 10:22] = (200, 30, 30)  # a red product on white
    img[12:14, 12:20] = (120, 10, 10)  # a stripe
    dark = img.copy()
    dark[8:24, 10:22] = (40, 40, 40)
    dark[12:14, 12:20] = (10, 10, 10)
    assert quality.structure_ssim(dark, img) > 0.99
    assert ssim(dark, img) < 0.9
    moved = np.roll(img, 6, axis=1)  # most of the image is flat white in both: a mild drop
    assert quality.structure_ssim(moved, img) < 0.85
    noise = rng.integers(0, 256, img.shape, dtype=np.uint8)
    assert quality.structure_ssim(noise, img) < 0.5
    with pytest.raises(InvalidParamsError, match="at least 7x7"):
        quality.structure_ssim(img[:5, :5], img[:5, :5])


def test_grey_ssim_is_ssim_of_the_luma() -> None:
    """grey_ssim = ssim of the Rec. 601 luma images; a hue swap with similar grey levels keeps
    it high, a layout shift drops it (more than the structure term alone)."""
    rng = np.random.default_rng(3)
    a = rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-50, 50, a.shape), 0, 255).astype(np.uint8)
    luma = np.array([0.299, 0.587, 0.114])
    want = structural_similarity(a @ luma, b @ luma, data_range=255.0, win_size=7)
    assert quality.grey_ssim(a, b) == pytest.approx(want, rel=1e-9)
    img = np.full((32, 32, 3), 255, np.uint8)
    img[8:24, 10:22] = (200, 30, 30)
    moved = np.roll(img, 6, axis=1)
    assert quality.grey_ssim(moved, img) < quality.structure_ssim(moved, img) - 0.2
