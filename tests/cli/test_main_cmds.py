"""End to end: `productstudio run`, `cutout` and `models` through Typer's CliRunner."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from productstudio.cli import app
from productstudio.imaging import load_image

runner = CliRunner()


def _photo(path: Path, k: int = 1) -> None:
    img = np.full((150 * k, 200 * k, 3), 240, np.uint8)
    img[40 * k : 110 * k, 60 * k : 140 * k] = (200, 40, 40)
    Image.fromarray(img).save(path)


def test_run_folder_main_job(tmp_path: Path) -> None:
    """A folder with a good photo, a bad file and a subfolder: exit 1, outputs for the good ones,
    a red line naming the bad file, and a resumable second run."""
    src = tmp_path / "photos"
    (src / "sub").mkdir(parents=True)
    _photo(src / "shoe.jpg")
    _photo(src / "sub" / "bag.png")
    (src / "notes.jpg").write_text("not an image")
    out = tmp_path / "out"
    r = runner.invoke(
        app, ["run", str(src), "-o", str(out), "--size", "300", "--model", "classical"]
    )
    assert r.exit_code == 1, r.output
    assert "notes.jpg" in r.stderr
    shoe = load_image(out / "shoe.jpg")
    assert shoe.size == (300, 300) and shoe.format == "JPEG"
    assert (out / "sub" / "bag.jpg").is_file()
    assert not (out / "notes.jpg").exists()
    px = shoe.pixels
    assert (px[0, 0] >= 254).all() and (px[-1, -1] >= 254).all()
    r2 = runner.invoke(
        app, ["run", str(src), "-o", str(out), "--size", "300", "--model", "classical"]
    )
    assert "skipped" in r2.stdout and r2.exit_code == 1


def test_run_amazon_defaults_and_preset(tmp_path: Path) -> None:
    src = tmp_path / "one.jpg"
    _photo(src, k=5)
    out = tmp_path / "o"
    r = runner.invoke(app, ["run", str(src), "-o", str(out), "--model", "classical"])
    assert r.exit_code == 0, r.output
    img = load_image(out / "one.jpg")
    assert img.size == (2000, 2000)
    a = img.pixels.min(axis=2) < 250
    ys, xs = np.nonzero(a)
    assert abs((xs.max() - xs.min() + 1) - 1700) <= 6  # 85 % of 2000 along the long side
    assert (
        abs((xs.max() + xs.min()) / 2 - 999.5) <= 2 and abs((ys.max() + ys.min()) / 2 - 999.5) <= 2
    )
    r = runner.invoke(app, ["run", str(src), "-o", str(tmp_path / "p"), "--preset", "etsy"])
    assert r.exit_code == 0, r.output


def test_run_bad_options(tmp_path: Path) -> None:
    _photo(tmp_path / "x.jpg")
    r = runner.invoke(
        app, ["run", str(tmp_path / "x.jpg"), "-o", str(tmp_path / "o"), "--model", "nope"]
    )
    assert r.exit_code == 2 and "unknown segmenter 'nope'" in r.stderr
    r = runner.invoke(
        app, ["run", str(tmp_path / "x.jpg"), "-o", str(tmp_path / "o"), "--preset", "nope"]
    )
    assert r.exit_code == 2
    r = runner.invoke(app, ["run", str(tmp_path / "missing"), "-o", str(tmp_path / "o")])
    assert r.exit_code == 2 and "missing" in r.stderr


def test_cutout_file_and_stdin_stdout(tmp_path: Path) -> None:
    src = tmp_path / "p.jpg"
    _photo(src)
    out = tmp_path / "p.png"
    r = runner.invoke(app, ["cutout", str(src), "-o", str(out), "--model", "classical"])
    assert r.exit_code == 0, r.output
    rgba = load_image(out).pixels
    assert rgba.shape == (150, 200, 4)
    assert rgba[75, 100, 3] == 255 and rgba[5, 5, 3] == 0
    r = runner.invoke(
        app, ["cutout", "-", "-o", "-", "--model", "classical"], input=src.read_bytes()
    )
    assert r.exit_code == 0
    assert load_image(r.stdout_bytes).pixels.shape == (150, 200, 4)
    r = runner.invoke(app, ["cutout", str(src), "-o", str(tmp_path / "x.jpg")])
    assert r.exit_code == 2 and "transparency" in r.stderr


def test_models_list_and_verify(monkeypatch: pytest.MonkeyPatch, weights_dir: Path) -> None:
    from productstudio.settings import get_settings

    r = runner.invoke(app, ["models", "list"])
    assert r.exit_code == 0 and "classical" in r.stdout
    monkeypatch.setenv("PRODUCTSTUDIO_MODELS", str(weights_dir))
    get_settings.cache_clear()
    r = runner.invoke(app, ["models", "list"])
    assert "u2netp" in r.stdout and "isnet-general-use" in r.stdout
    r = runner.invoke(app, ["models", "verify", "u2netp", "classical"])
    assert r.exit_code == 0, r.output
    assert "ok" in r.stdout
