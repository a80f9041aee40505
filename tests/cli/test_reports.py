"""What the CLI reports: the mask file's mode, the upscaler used, small-photo warnings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from productstudio.cli import app
from productstudio.imaging import load_image, save_image

runner = CliRunner()


def _photo(path: Path, size: tuple[int, int], box: tuple[int, int, int, int]) -> Path:
    """A plain grey photo of ``size`` (w, h) with a red product at ``box`` (x0, y0, x1, y1)."""
    img = np.full((size[1], size[0], 3), 240, np.uint8)
    x0, y0, x1, y1 = box
    img[y0:y1, x0:x1] = (200, 40, 40)
    save_image(img, path)
    return path


def test_cutout_mask_is_a_single_channel_png(tmp_path: Path) -> None:
    """`cutout --mask` writes an L (grey, one channel) PNG equal to the cut-out's alpha."""
    src = _photo(tmp_path / "p.jpg", (200, 150), (60, 40, 140, 110))
    mask, rgba = tmp_path / "m.png", tmp_path / "c.png"
    for out, extra in ((mask, ["--mask"]), (rgba, [])):
        r = runner.invoke(app, ["cutout", str(src), "-o", str(out), "-m", "classical", *extra])
        assert r.exit_code == 0, r.output
    with Image.open(mask) as im:
        assert im.mode == "L"
        m = np.asarray(im)
    assert np.array_equal(m, load_image(rgba).pixels[..., 3])
    assert m[75, 100] == 255 and m[5, 5] == 0


def test_upscale_reports_the_model_it_used(tmp_path: Path) -> None:
    """`upscale` names the upscaler it ran (the resolved one for `auto`) on stderr."""
    from productstudio.models.upscalers import load_upscaler

    src = _photo(tmp_path / "p.png", (40, 30), (10, 10, 30, 20))
    for choice in ("lanczos", "auto"):
        out = tmp_path / f"{choice}.png"
        r = runner.invoke(app, ["upscale", str(src), "-o", str(out), "-m", choice])
        assert r.exit_code == 0, r.output
        name = load_upscaler(choice).name
        assert f"40x30 → 80x60 with {name}" in r.stderr, r.stderr
        assert "with auto" not in r.stderr


def test_run_warns_when_a_small_photo_is_enlarged_past_2x(tmp_path: Path) -> None:
    """A product that must be enlarged more than 2x gets a warning line; 1.4x does not."""
    src = tmp_path / "in"
    src.mkdir()
    # canvas 400, fill 0.85: the product's long side becomes 340 px
    _photo(src / "small.png", (160, 160), (30, 30, 130, 130))  # 100 px: 3.4x
    _photo(src / "fine.png", (320, 320), (35, 35, 285, 285))  # 250 px: 1.36x
    r = runner.invoke(
        app, ["run", str(src), "-o", str(tmp_path / "o"), "--size", "400", "-m", "classical"]
    )
    assert r.exit_code == 0, r.output
    lines = [ln for ln in r.stderr.splitlines() if "enlarged" in ln]
    assert len(lines) == 1 and "small.png" in lines[0], r.stderr
    assert "3.4" in lines[0]
