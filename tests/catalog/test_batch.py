"""Batch runs: outputs, resume, bad files, settings changes, job store."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from productstudio.catalog.batch import open_store, plan_tasks, run_batch
from productstudio.catalog.store import JobStore, Status
from productstudio.catalog.worker import JobSpec
from productstudio.errors import InvalidParamsError, JobError
from productstudio.imaging import load_image
from productstudio.ops.canvas import CanvasParams


def _studio_jpeg(path: Path, colour: tuple[int, int, int] = (30, 60, 160)) -> None:
    img = np.full((120, 160, 3), 235, np.uint8)
    img[30:90, 50:110] = colour
    Image.fromarray(img).save(path, quality=95)


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    d = tmp_path / "in"
    d.mkdir()
    _studio_jpeg(d / "a.jpg")
    _studio_jpeg(d / "b.jpg", (150, 20, 20))
    (d / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really")
    return d


SPEC = JobSpec(model="classical", canvas=CanvasParams(width=200, height=200))


def _tasks(src: Path, out: Path) -> list:
    return plan_tasks(((p.stem, p) for p in sorted(src.iterdir())), out, SPEC.suffix)


def test_batch_writes_goes_on_and_resumes(photos: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    store = open_store(out)
    tasks = _tasks(photos, out)
    seen: list[int] = []
    report = run_batch(tasks, SPEC, store=store, on_progress=lambda d, t: seen.append(d))
    assert (report.done, report.failed, report.skipped) == (2, 1, 0)
    assert seen == [1, 2, 3]
    failed = next(r for r in report.results if r.status == Status.FAILED)
    assert "broken.jpg" in failed.message
    assert not (out / "broken.jpg").exists()
    assert sorted(p.name for p in out.glob("*.jpg")) == ["a.jpg", "b.jpg"]
    got = load_image(out / "a.jpg").pixels
    assert got.shape == (200, 200, 3)
    assert (got[0, 0] >= 254).all()
    # second run: completed items are skipped, the broken one is retried
    again = run_batch(tasks, SPEC, store=store)
    assert (again.done, again.failed, again.skipped) == (0, 1, 2)
    # changed settings redo everything
    other = JobSpec(model="classical", canvas=CanvasParams(width=100, height=100))
    third = run_batch(_tasks(photos, out), other, store=store)
    assert third.done == 2
    store.close()


def test_deleted_output_and_edited_source_are_redone(photos: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    store = open_store(out)
    tasks = _tasks(photos, out)
    run_batch(tasks, SPEC, store=store)
    (out / "a.jpg").unlink()
    _studio_jpeg(photos / "b.jpg", (10, 200, 10))
    report = run_batch(tasks, SPEC, store=store)
    done = sorted(r.key for r in report.results if r.status == Status.DONE)
    assert done == ["a", "b"]


def test_parallel_workers_give_same_files(photos: Path, tmp_path: Path) -> None:
    """Two worker processes produce byte-identical outputs to one."""
    one, two = tmp_path / "one", tmp_path / "two"
    run_batch(_tasks(photos, one), SPEC, store=open_store(one), workers=1)
    report = run_batch(_tasks(photos, two), SPEC, store=open_store(two), workers=2)
    assert report.done == 2 and report.failed == 1
    for name in ("a.jpg", "b.jpg"):
        assert (one / name).read_bytes() == (two / name).read_bytes()


def test_colliding_keys_are_separated(tmp_path: Path) -> None:
    tasks = plan_tasks([("x", tmp_path / "x.jpg"), ("x", tmp_path / "x.png")], tmp_path, ".jpg")
    assert [t.output.name for t in tasks] == ["x.jpg.jpg", "x.png.jpg"]


def test_bad_options() -> None:
    with pytest.raises(InvalidParamsError, match="PNG"):
        JobSpec(background=None)
    with pytest.raises(InvalidParamsError, match="colour"):
        JobSpec(background="#zz")
    with pytest.raises(JobError, match="job store"):
        JobStore("nosuchdb://x")


def test_recipe_job(photos: Path, tmp_path: Path) -> None:
    """A preset drives the output format and size."""
    spec = JobSpec(model="classical", recipe="walmart")
    out = tmp_path / "w"
    report = run_batch(
        plan_tasks([("a", photos / "a.jpg")], out, spec.suffix), spec, store=open_store(out)
    )
    assert report.done == 1, report.results
    got = load_image(next(out.glob("a.*")))
    assert got.size == (2200, 2200)


def test_recipe_file_contents_are_part_of_the_settings(tmp_path: Path) -> None:
    """Editing a recipe file changes the settings hash, so a re-run redoes its items."""
    recipe = tmp_path / "r.yaml"
    recipe.write_text("version: 1\nsteps: []\n")
    first = JobSpec(recipe=str(recipe)).settings_hash()
    assert JobSpec(recipe=str(recipe)).settings_hash() == first
    recipe.write_text("version: 1\nsteps: []\n# edited\n")
    assert JobSpec(recipe=str(recipe)).settings_hash() != first
