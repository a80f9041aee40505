"""The batch worker runs the main job as a recipe: no second copy of the sequence."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
from PIL import Image

from productstudio.catalog.worker import MAIN_CANVAS, JobSpec, MainImageWorker, Task
from productstudio.imaging import ImageFormat
from productstudio.recipes import load_recipe


def _photo(path: Path) -> Path:
    img = np.full((240, 320, 3), 235, np.uint8)
    img[60:180, 100:220] = (30, 60, 160)
    Image.fromarray(img).save(path, quality=95)
    return path


def test_the_default_job_is_the_amazon_main_preset() -> None:
    """JobSpec() builds exactly the amazon-main preset's steps (every default filled in)."""
    built = JobSpec().build_recipe().to_dict()["steps"]
    assert built == load_recipe("amazon-main").to_dict()["steps"]


def test_run_options_become_recipe_params() -> None:
    """Canvas, background and format options land in the recipe's steps."""
    spec = JobSpec(
        canvas=dataclasses.replace(MAIN_CANVAS, width=640, height=480, fill=0.7),
        background=None,
        fmt=ImageFormat.PNG,
        quality=80,
        use_input_alpha=False,
    )
    steps = {k: v for s in spec.build_recipe().to_dict()["steps"] for k, v in s.items()}
    assert (steps["canvas"]["width"], steps["canvas"]["height"], steps["canvas"]["fill"]) == (
        640,
        480,
        0.7,
    )
    assert steps["background"]["kind"] == "transparent"
    assert (steps["output"]["format"], steps["output"]["quality"]) == ("png", 80)
    assert steps["cutout"]["keep_alpha"] is False
    assert spec.suffix == ".png"


def test_default_worker_writes_what_the_preset_writes(tmp_path: Path) -> None:
    """The worker's default job and `--preset amazon-main` give byte-identical files, and the
    result carries the segmenter's confidence."""
    src = _photo(tmp_path / "a.jpg")
    outs = []
    for spec in (JobSpec(model="classical"), JobSpec(model="classical", recipe="amazon-main")):
        out = tmp_path / f"{len(outs)}.jpg"
        res = MainImageWorker(spec)(Task("a", src, out))
        assert res.output == out, res.message
        assert res.confidence is not None and 0.0 <= res.confidence <= 1.0
        assert res.backend == "classical"
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]
    with Image.open(tmp_path / "0.jpg") as im:
        assert im.size == (2000, 2000)
