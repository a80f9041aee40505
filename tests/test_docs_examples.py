"""Every code example in docs/examples runs."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from productstudio.imaging import load_image

EXAMPLES = Path(__file__).resolve().parents[1] / "docs" / "examples"


def test_main_job_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    photo = tmp_path / "p.jpg"
    img = np.full((300, 400, 3), 238, np.uint8)
    img[80:220, 120:280] = (20, 90, 170)
    Image.fromarray(img).save(photo)
    out = tmp_path / "o.jpg"
    monkeypatch.setattr(sys, "argv", ["main_job.py", str(photo), str(out)])
    runpy.run_path(str(EXAMPLES / "main_job.py"), run_name="__main__")
    got = load_image(out)
    assert got.size == (2000, 2000)
    assert (got.pixels[0, 0] == 255).all()


def test_catalog_run_example(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """docs/examples/catalog_run.py: two presets per photo, a manifest, status from the store."""
    photos = tmp_path / "photos"
    photos.mkdir()
    for i, colour in enumerate([(20, 90, 170), (170, 40, 30)]):
        img = np.full((150, 200, 3), 238, np.uint8)
        img[40:110, 60:140] = colour
        Image.fromarray(img).save(photos / f"p{i}.jpg")
    out = tmp_path / "out"
    monkeypatch.setattr(sys, "argv", ["catalog_run.py", str(photos), str(out)])
    runpy.run_path(str(EXAMPLES / "catalog_run.py"), run_name="__main__")
    printed = capsys.readouterr().out
    assert "4 done, 0 already done, 0 failed" in printed and "{'done': 4}" in printed
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.jpg")) == [
        "p0/etsy.jpg",
        "p0/main.jpg",
        "p1/etsy.jpg",
        "p1/main.jpg",
    ]


def test_scene_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/examples/scene.py on a real packshot with the tiny random-weight inpainting model:
    two candidates, each with its settings, the product's opaque pixels exact."""
    pytest.importorskip("diffusers")
    import json

    from conftest import shared_path
    from productstudio.models.pipelines.tiny import TinyPipelineConfig, save_tiny_pipeline

    photo = shared_path("data", "products", "images", "grocery_iconic_45.jpg")
    model = save_tiny_pipeline(tmp_path / "tiny", TinyPipelineConfig(inpaint=True))
    argv = ["scene.py", str(model), str(photo), str(tmp_path / "out"), "Oatly Oat Milk"]
    monkeypatch.setattr(sys, "argv", argv)
    runpy.run_path(str(EXAMPLES / "scene.py"), run_name="__main__")
    for seed in (0, 1):
        rec = json.loads((tmp_path / "out" / f"grocery_iconic_45-s{seed}.json").read_text())
        assert rec["seed"] == seed and rec["product_pixels_changed"] == 0.0
        assert "Oatly Oat Milk" in rec["prompt"]["prompt"]
        assert (tmp_path / "out" / f"grocery_iconic_45-s{seed}.png").is_file()
