"""`productstudio models add/list/verify`, `scene` and `generate` end to end (CliRunner),
on tiny random-weight pipelines and real product photos."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import shared_path
from productstudio.cli import app
from productstudio.imaging import load_image, save_image
from tiny_pipelines import bulky_product_name, make_tiny_folders

pytest.importorskip("diffusers")
runner = CliRunner()


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_tiny_folders(tmp_path_factory.mktemp("tiny"))


@pytest.fixture()
def added(folders: dict[str, Path]) -> dict[str, Path]:
    """Both tiny pipelines added under names (the models file is per test)."""
    for name, key in (("tiny-inpaint", "inpaint"), ("tiny-t2i", "t2i")):
        r = runner.invoke(app, ["models", "add", name, str(folders[key])])
        assert r.exit_code == 0, r.output
        assert f"added pipeline {name}" in r.stdout
    return folders


@pytest.fixture(scope="module")
def cutout_png(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real product cut-out (DIS5K photo + its ground-truth mask) as an RGBA PNG."""
    from rgba_photos import real_rgba

    path = tmp_path_factory.mktemp("in") / "bench.png"
    save_image(real_rgba(bulky_product_name(), long_side=140), path)
    return path


def test_models_list_shows_every_kind(added: dict[str, Path]) -> None:
    r = runner.invoke(app, ["models", "list", "--json"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    kinds = {row["kind"] for row in rows}
    assert {"segmenter", "upscaler", "inpainter", "style", "pipeline"} <= kinds
    pipes = {row["name"]: row for row in rows if row["kind"] == "pipeline"}
    assert set(pipes) == {"tiny-inpaint", "tiny-t2i"} and all(
        p["available"] for p in pipes.values()
    )
    diffusion = next(
        row for row in rows if row["kind"] == "inpainter" and row["name"] == "diffusion"
    )
    assert diffusion["available"] and diffusion["where"] == str(added["inpaint"].resolve())
    r = runner.invoke(app, ["models", "list", "--kind", "nope"])
    assert r.exit_code == 2 and "unknown --kind" in r.stderr


def test_models_verify_finds_a_changed_file(added: dict[str, Path], tmp_path: Path) -> None:
    r = runner.invoke(app, ["models", "verify", "tiny-t2i"])
    assert r.exit_code == 0, r.output
    assert "0 bad" in r.stdout and "layout: ok" in r.stdout
    cfg = added["t2i"] / "scheduler" / "scheduler_config.json"
    text = cfg.read_text()
    try:
        cfg.write_text(text.replace("scaled_linear", "linear"))
        r = runner.invoke(app, ["models", "verify", "tiny-t2i"])
        assert r.exit_code == 1 and "MISMATCH" in r.stdout and "1 bad" in r.stdout
    finally:
        cfg.write_text(text)


def test_models_add_reports_an_incomplete_folder(folders: dict[str, Path], tmp_path: Path) -> None:
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(folders["t2i"], broken)
    (broken / "vae" / "diffusion_pytorch_model.safetensors").unlink()
    r = runner.invoke(app, ["models", "add", "broken", str(broken)])
    assert r.exit_code == 2
    assert "vae/diffusion_pytorch_model.safetensors (or .bin)" in r.stderr
    assert "model_index.json" in r.stderr  # the expected layout is printed


def test_scene_writes_candidates_with_settings_and_replays(
    added: dict[str, Path], cutout_png: Path, tmp_path: Path
) -> None:
    """Two candidates, each with a .json of its settings; the product's opaque pixels are
    the input's own; --replay makes the same image again."""
    out = tmp_path / "scenes"
    args = ["scene", str(cutout_png), "-o", str(out), "--scene", "wooden-table",
            "--title", "Oak garden bench", "--material", "oak", "--style", "etsy",
            "--audience", "age_band=35-49,interests=classic", "-n", "2", "--seed", "5",
            "--steps", "2", "--work-size", "64", "--model", "tiny-inpaint"]  # fmt: skip
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    paths = [Path(p) for p in r.stdout.split()]
    assert [p.name for p in paths] == ["bench-scene-s5.png", "bench-scene-s6.png"]
    rec = json.loads(paths[0].with_suffix(".json").read_text())
    assert rec["seed"] == 5 and rec["model_ref"] == "tiny-inpaint"
    assert (
        "Oak garden bench" in rec["prompt"]["prompt"]
        and "oak wooden table" in rec["prompt"]["prompt"]
    )
    assert "grown-up" in rec["prompt"]["parts"]["audience"]
    assert rec["product_pixels_changed"] == 0.0 and rec["plan"]["scale"] == 1.0
    src = load_image(cutout_png).pixels
    img = load_image(paths[0]).pixels
    x0, y0 = rec["plan"]["offset"]
    w, h = rec["plan"]["size"]
    a = src[..., 3]
    ys, xs = np.nonzero(a > 8)
    crop = src[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    assert crop.shape[:2] == (h, w)
    opaque = crop[..., 3] == 255
    assert np.array_equal(img[y0 : y0 + h, x0 : x0 + w][opaque], crop[..., :3][opaque])
    r = runner.invoke(app, ["scene", "--replay", str(paths[1].with_suffix(".json")),
                            "-o", str(tmp_path / "again.png")])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert np.array_equal(load_image(tmp_path / "again.png").pixels, load_image(paths[1]).pixels)
    r = runner.invoke(app, args)
    assert r.exit_code == 2 and "--overwrite" in r.stderr


def test_scene_cuts_out_a_photo_with_the_segmenter(added: dict[str, Path], tmp_path: Path) -> None:
    photo = shared_path("data", "products", "images", "grocery_iconic_03.jpg")
    weights = shared_path("weights", "segmentation", "u2netp.onnx")
    r = runner.invoke(app, ["scene", str(photo), "-o", str(tmp_path / "s.jpg"), "--steps", "1",
                            "--work-size", "64", "--segmenter", str(weights),
                            "--metadata", str(photo.parents[1] / "metadata.csv"),
                            "--id", "grocery_iconic_03"])  # fmt: skip
    assert r.exit_code == 0, r.output
    rec = json.loads((tmp_path / "s.json").read_text())
    assert rec["prompt"]["parts"]["subject"] == "Red Delicious (apple)"
    assert load_image(tmp_path / "s.jpg").pixels.shape[2] == 3


def test_generate_text_and_variations_and_replay(added: dict[str, Path], tmp_path: Path) -> None:
    args = ["generate", "-o", str(tmp_path / "gen"), "--title", "canvas sneaker",
            "--colour", "red", "-n", "2", "--steps", "2", "--model", "tiny-t2i"]  # fmt: skip
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    first, second = (Path(p) for p in r.stdout.split())
    rec = json.loads(first.with_suffix(".json").read_text())
    assert rec["task"] == "text-to-image" and rec["prompt"]["template"] == "packshot"
    assert rec["prompt"]["prompt"].startswith("studio packshot of red canvas sneaker")
    assert load_image(first).pixels.shape == (64, 64, 3)
    assert not np.array_equal(load_image(first).pixels, load_image(second).pixels)
    r = runner.invoke(app, ["generate", "--replay", str(second.with_suffix(".json")),
                            "-o", str(tmp_path / "again.png")])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert np.array_equal(load_image(tmp_path / "again.png").pixels, load_image(second).pixels)
    # a variation needs no prompt
    args = ["generate", "-o", str(tmp_path / "var.png"), "--image", str(first),
            "--strength", "0.5", "--steps", "4", "--model", "tiny-t2i"]  # fmt: skip
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    rec = json.loads((tmp_path / "var.json").read_text())
    assert rec["task"] == "image-to-image" and rec["generation"]["strength"] == 0.5
    assert rec["input"]["path"] == str(first.resolve())


def test_without_a_model_the_error_says_how_to_add_one(tmp_path: Path) -> None:
    r = runner.invoke(app, ["generate", "a red shoe", "-o", str(tmp_path / "x.png")])
    assert r.exit_code == 2
    assert "no diffusers pipeline is set up" in r.stderr and "models add" in r.stderr
    assert not (tmp_path / "x.png").exists()


def test_scene_list_shows_presets() -> None:
    r = runner.invoke(app, ["scene", "--list"])
    assert r.exit_code == 0 and "marble-counter" in r.stdout and "etsy" in r.stdout
