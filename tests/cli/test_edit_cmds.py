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


def test_recolour_color_and_palette(photo: Path, tmp_path: Path) -> None:
    out = tmp_path / "red.png"
    _ok(["recolour", str(photo), "-o", str(out), "--color", "#c0392b"])
    assert load_image(out).pixels.shape == load_image(photo).pixels.shape
    pat = tmp_path / "v.png"
    text = _ok(["recolour", str(photo), "-o", str(pat), "--palette", "#ff0000,navy"])
    assert (tmp_path / "v_ff0000.png").exists() and (tmp_path / "v_navy.png").exists()
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


def test_style_reference_and_errors(photo: Path, rgb_photo: Path, tmp_path: Path) -> None:
    out = tmp_path / "s.png"
    _ok(
        [
            "style",
            str(photo),
            "-o",
            str(out),
            "--reference",
            str(rgb_photo),
            "--region",
            "background",
        ]
    )
    _ok(
        [
            "style",
            str(photo),
            "-o",
            str(tmp_path / "h.png"),
            "-r",
            str(rgb_photo),
            "--method",
            "histogram",
        ]
    )
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
    assert out.exists()


def test_detect_and_erase_text(tmp_path: Path) -> None:
    pytest.importorskip("rapidocr_onnxruntime")
    src = shared_path("data", "text", "images", "grocery_iconic_alpro_blueberry_soyghurt.jpg")
    data = json.loads(_ok(["detect-text", str(src), "--json"]))
    assert data and {"bbox", "text", "kind", "overlay_score"} <= set(data[0])
    table = _ok(["detect-text", str(src)])
    assert "printed" in table
    out = tmp_path / "clean.png"
    _ok(["erase-text", str(src), "-o", str(out), "--model", "telea"])
    assert out.exists()
    _fails(
        ["erase-text", str(src), "-o", str(tmp_path / "x.png"), "--select", "bogus"],
        tmp_path / "x.png",
    )
