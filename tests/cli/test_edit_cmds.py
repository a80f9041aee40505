"""CLI: recolour, adjust, erase, detect-text, erase-text, upscale, style (exit codes, files)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import shared_path
from productstudio.cli import app
from productstudio.imaging import load_image, save_image
from productstudio.settings import get_settings
from rgba_photos import real_rgba

runner = CliRunner()


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    p = tmp_path / "photo.png"
    save_image(real_rgba(long_side=160), p)
    return p


@pytest.fixture
def rgb_photo(tmp_path: Path) -> Path:
    p = tmp_path / "photo.jpg"
    save_image(np.ascontiguousarray(real_rgba(long_side=160)[..., :3]), p)
    return p


def _ok(args: list[str]) -> str:
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    return r.output


def _fails(args: list[str], out: Path | None = None) -> str:
    r = runner.invoke(app, args)
    assert r.exit_code == 2, r.output
    if out is not None:
        assert not out.exists()
    return r.output


def _product_de(path: Path, src: np.ndarray, color: str) -> float:
    """ΔE2000 between ``color`` and the median colour of the product (alpha >= 250 in src)."""
    from productstudio.imaging.color import delta_e2000
    from productstudio.ops.recolour import median_lab, target_lab

    product = (src[..., 3] >= 250).astype(np.float32)
    got = load_image(path).pixels
    return float(delta_e2000(median_lab(got[..., :3], product), target_lab(color)))


def test_recolour_color_and_palette(photo: Path, tmp_path: Path) -> None:
    """The product's colour moves to the target (ΔE2000 <= 3, from 14.5) and every pixel
    outside it is bit-identical; a palette writes one file per colour, each on target."""
    src = load_image(photo).pixels
    out = tmp_path / "red.png"
    _ok(["recolour", str(photo), "-o", str(out), "--color", "#c0392b"])
    got = load_image(out).pixels
    assert got.shape == src.shape
    assert _product_de(photo, src, "#c0392b") > 10 and _product_de(out, src, "#c0392b") <= 3.0
    outside = src[..., 3] == 0
    np.testing.assert_array_equal(got[outside], src[outside])
    pat = tmp_path / "v.png"
    text = _ok(["recolour", str(photo), "-o", str(pat), "--palette", "#ff0000,navy"])
    assert _product_de(tmp_path / "v_ff0000.png", src, "#ff0000") <= 3.0
    assert _product_de(tmp_path / "v_navy.png", src, "navy") <= 3.0
    assert "v_navy.png" in text


def test_recolour_bad_inputs_write_nothing(photo: Path, tmp_path: Path) -> None:
    out = tmp_path / "x.png"
    _fails(["recolour", str(photo), "-o", str(out), "--color", "notacolour"], out)
    _fails(["recolour", str(photo), "-o", str(out)], out)
    bad_mask = tmp_path / "m.png"
    save_image(np.zeros((10, 10, 3), np.uint8), bad_mask)
    msg = _fails(
        ["recolour", str(photo), "-o", str(out), "--color", "red", "--mask", str(bad_mask)], out
    )
    assert "mask" in msg
    _fails(["recolour", str(tmp_path / "missing.png"), "-o", str(out), "--color", "red"], out)


def test_adjust_auto_and_manual(rgb_photo: Path, tmp_path: Path) -> None:
    out = tmp_path / "a.png"
    _ok(["adjust", str(rgb_photo), "-o", str(out)])
    assert out.exists()
    out2 = tmp_path / "b.png"
    _ok(["adjust", str(rgb_photo), "-o", str(out2), "--exposure", "0.5", "--spots"])
    assert load_image(out2).pixels.mean() > load_image(rgb_photo).pixels.mean()
    _fails(
        ["adjust", str(rgb_photo), "-o", str(tmp_path / "c.png"), "--exposure", "9"],
        tmp_path / "c.png",
    )


def test_erase_with_mask_and_box(rgb_photo: Path, tmp_path: Path) -> None:
    img = load_image(rgb_photo).pixels
    mask = np.zeros(img.shape[:2], np.uint8)
    mask[40:60, 30:90] = 255
    mp = tmp_path / "mask.png"
    save_image(np.dstack([mask] * 3), mp)
    out = tmp_path / "e.png"
    _ok(["erase", str(rgb_photo), "--mask", str(mp), "-o", str(out), "--model", "telea"])
    res = load_image(out).pixels
    assert np.array_equal(res[mask == 0], img[mask == 0])
    out2 = tmp_path / "e2.png"
    _ok(["erase", str(rgb_photo), "--box", "10,10,20,15", "-o", str(out2)])
    _fails(["erase", str(rgb_photo), "-o", str(tmp_path / "e3.png")], tmp_path / "e3.png")
    _fails(
        ["erase", str(rgb_photo), "--box", "1,2,3", "-o", str(tmp_path / "e4.png")],
        tmp_path / "e4.png",
    )
    empty = tmp_path / "empty.png"
    save_image(np.zeros(img.shape, np.uint8), empty)
    assert "empty" in _fails(
        ["erase", str(rgb_photo), "--mask", str(empty), "-o", str(tmp_path / "e5.png")]
    )


def test_upscale(photo: Path, tmp_path: Path) -> None:
    out = tmp_path / "u.png"
    _ok(["upscale", str(photo), "-o", str(out), "--scale", "2"])
    src = load_image(photo).pixels
    res = load_image(out).pixels
    assert res.shape == (src.shape[0] * 2, src.shape[1] * 2, 4)
    _fails(
        ["upscale", str(photo), "-o", str(tmp_path / "v.png"), "--scale", "1"], tmp_path / "v.png"
    )
    _fails(
        ["upscale", str(photo), "-o", str(tmp_path / "w.png"), "--model", "nope"],
        tmp_path / "w.png",
    )


def _mean_lab(rgb: np.ndarray) -> np.ndarray:
    from productstudio.imaging import rgb_to_lab

    return rgb_to_lab(rgb.reshape(1, -1, 3)).reshape(-1, 3).mean(axis=0)


def test_style_reference_and_errors(photo: Path, rgb_photo: Path, tmp_path: Path) -> None:
    """``--region background`` gives the background the reference's mean colour and leaves
    the product bit-identical; ``--method histogram`` on the whole image matches it too."""
    src = load_image(photo).pixels
    ref = tmp_path / "ref.png"
    rng = np.random.default_rng(0)
    noisy = rng.normal(0, 12, (40, 40, 3)) + np.array([200, 120, 40])
    save_image(noisy.clip(0, 255).astype(np.uint8), ref)
    ref_lab = _mean_lab(load_image(ref).pixels)
    out = tmp_path / "s.png"
    _ok(["style", str(photo), "-o", str(out), "--reference", str(ref), "--region", "background"])
    got = load_image(out).pixels
    bg, product = src[..., 3] == 0, src[..., 3] == 255
    assert np.abs(_mean_lab(src[..., :3][bg]) - ref_lab).max() > 20  # it had to move
    np.testing.assert_allclose(_mean_lab(got[..., :3][bg]), ref_lab, atol=1.5)
    np.testing.assert_array_equal(got[product], src[product])
    hist = tmp_path / "h.png"
    _ok(["style", str(photo), "-o", str(hist), "-r", str(ref), "--method", "histogram"])
    np.testing.assert_allclose(_mean_lab(load_image(hist).pixels[..., :3]), ref_lab, atol=1.5)
    _ok(["style", str(photo), "-o", str(tmp_path / "p.png"), "-r", str(rgb_photo)])
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    _fails(
        ["style", str(photo), "-o", str(tmp_path / "t.png"), "--reference", str(broken)],
        tmp_path / "t.png",
    )
    _fails(["style", str(photo), "-o", str(tmp_path / "t.png")], tmp_path / "t.png")
    _fails(
        ["style", str(photo), "-o", str(tmp_path / "t.png"), "-r", str(rgb_photo), "--method", "x"]
    )


def test_style_neural_needs_weights(
    photo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "n.png"
    msg = _fails(["style", str(photo), "-o", str(out), "--style", "3"], out)
    assert "PRODUCTSTUDIO_MODELS" in msg
    monkeypatch.setenv("PRODUCTSTUDIO_MODELS", str(shared_path("weights", "style")))
    get_settings.cache_clear()
    _ok(["style", str(photo), "-o", str(out), "--style", "3", "--strength", "0.5"])
    full = tmp_path / "full.png"
    _ok(["style", str(photo), "-o", str(full), "--style", "3", "--strength", "1"])
    src = load_image(photo).pixels.astype(np.float64)
    half, styled = load_image(out).pixels, load_image(full).pixels.astype(np.float64)
    assert np.abs(styled[..., :3] - src[..., :3]).mean() > 20  # the style changed it (61)
    # strength 0.5 is the midpoint of the photo and the full style (measured 0.25 levels off)
    assert np.abs(half[..., :3] - (styled[..., :3] + src[..., :3]) / 2).mean() < 1.0
    np.testing.assert_array_equal(half[..., 3], src[..., 3])


def test_detect_and_erase_text(tmp_path: Path) -> None:
    """A red "SALE -30%" drawn on a real packshot is found as an overlay and erased: the
    strokes come back to the photo (masked PSNR from 3 dB to > 30 dB), no red is left, the
    printed brand text is kept, and pixels away from the overlay are bit-identical."""
    import cv2

    from productstudio.metrics import psnr

    pytest.importorskip("rapidocr_onnxruntime")
    src = shared_path("data", "text", "images", "grocery_iconic_alpro_blueberry_soyghurt.jpg")
    photo = cv2.resize(load_image(src).pixels, (420, 420), interpolation=cv2.INTER_CUBIC)
    cov = np.zeros((420, 420), np.uint8)
    cv2.putText(cov, "SALE -30%", (8, 34), cv2.FONT_HERSHEY_SIMPLEX, 0.9, 255, 2, cv2.LINE_AA)
    a = (cov / 255.0)[..., None]
    over = np.rint(photo * (1 - a) + np.array([200, 0, 0]) * a).astype(np.uint8)
    overlaid = tmp_path / "sale.png"
    save_image(over, overlaid)
    found = json.loads(_ok(["detect-text", str(overlaid), "--json"]))
    assert {"bbox", "text", "kind", "overlay_score"} <= set(found[0])
    kinds = {d["text"].replace(" ", ""): d["kind"] for d in found}
    assert kinds.get("SALE-30%") == "overlay" and "printed" in kinds.values()
    assert "printed" in _ok(["detect-text", str(overlaid)])
    out = tmp_path / "clean.png"
    _ok(["erase-text", str(overlaid), "-o", str(out), "--model", "telea"])
    clean = load_image(out).pixels
    strokes = cov > 10
    assert psnr(over, photo, mask=strokes) < 5 and psnr(clean, photo, mask=strokes) > 30
    red = (clean[..., 0].astype(int) - clean[..., 1:].max(axis=-1)) > 80
    assert not red[strokes].any()
    far = ~cv2.dilate(strokes.astype(np.uint8), np.ones((25, 25), np.uint8)).astype(bool)
    np.testing.assert_array_equal(clean[far], over[far])
    after = json.loads(_ok(["detect-text", str(out), "--json"]))
    assert after and all(d["kind"] == "printed" for d in after)
    _fails(
        ["erase-text", str(overlaid), "-o", str(tmp_path / "x.png"), "--select", "bogus"],
        tmp_path / "x.png",
    )
