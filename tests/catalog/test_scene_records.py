"""Catalogue runs of a recipe with an AI scene step (tiny in-process pipeline): the settings
.json beside each output (atomic, before the image), one record per item, enough to replay
the scene; the pipeline is loaded once per worker, not per item."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from catalog_helpers import real_photos
from productstudio.catalog import JobSpec, RunOptions, run_catalog

pytest.importorskip("diffusers")

RECIPE = """version: 1
name: lifestyle
steps:
  - cutout: {{model: classical}}
  - scene: {{scene: wooden-table, steps: 2, native: 64, model: "{model}", seed: 3}}
  - output: {{format: png}}
"""


def test_scene_settings_beside_each_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_pipeline_folders: dict[str, Path]
) -> None:
    from productstudio.models.pipelines import backend

    folders = tiny_pipeline_folders
    recipe = tmp_path / "lifestyle.yaml"
    recipe.write_text(RECIPE.format(model=folders["inpaint"]))
    photos = real_photos(tmp_path / "in", 2, kind="grocery_iconic")
    catalogue = tmp_path / "items.csv"
    with catalogue.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["key", "path", "title", "colour"])
        w.writerow(["a", photos[0], "Apple juice carton", "Green"])
        w.writerow(["b", photos[1], "Oat drink", "Beige"])
    loads: list[object] = []
    real_load = backend.DiffusersPipeline.load.__func__  # type: ignore[attr-defined]

    def counting(cls: type, *a: object, **kw: object) -> object:
        loads.append(a)
        return real_load(cls, *a, **kw)

    monkeypatch.setattr(backend.DiffusersPipeline, "load", classmethod(counting))
    out = tmp_path / "out"
    s = run_catalog(
        catalogue,
        out,
        JobSpec(model="classical", recipe=str(recipe)),
        RunOptions(executor="serial"),  # type: ignore[arg-type]
    )
    assert (s.done, s.failed) == (2, 0) and len(loads) == 1
    for key, title in (("a", "Apple juice carton"), ("b", "Oat drink")):
        record = json.loads((out / f"{key}.json").read_text())
        assert record["kind"] == "scene" and record["output"] == f"{key}.png"
        assert title in record["prompt"]["prompt"] and record["seed"] == 3
        assert record["input"]["path"] == str(photos[0 if key == "a" else 1])
        assert len(record["input"]["sha256"]) == 64 and record["product_pixels_changed"] == 0.0
    assert not [p for p in out.iterdir() if p.name.endswith(".part")]
    monkeypatch.undo()

    from productstudio.cli import app

    again = tmp_path / "again.png"
    r = CliRunner().invoke(
        app,
        ["scene", "--replay", str(out / "a.json"), "--segmenter", "classical", "-o", str(again)],
    )
    assert r.exit_code == 0, r.output
    np.testing.assert_array_equal(
        np.asarray(Image.open(again)), np.asarray(Image.open(out / "a.png"))
    )
