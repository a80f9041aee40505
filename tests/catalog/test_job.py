"""run_catalog end to end on real photos: outputs, resume keys, presets, templates, retries."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from catalog_helpers import QUICK, outputs, real_photos
from productstudio.catalog import JobSpec, RunOptions, Status, run_catalog
from productstudio.catalog._driver import check_template
from productstudio.catalog.store import JobStore
from productstudio.errors import InputError, InvalidParamsError, OutputError
from productstudio.imaging import ImageFormat, load_image
from productstudio.ops.canvas import CanvasParams

SERIAL = RunOptions(executor="serial")  # type: ignore[arg-type]


def test_run_writes_resumes_and_records(tmp_path: Path) -> None:
    """Outputs for good photos, a failure naming the bad file, a manifest line per item; a
    re-run skips the done items and retries only the failed one."""
    src = tmp_path / "in"
    real_photos(src, 4)
    (src / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really")
    out = tmp_path / "out"
    seen: list[tuple[int, int]] = []
    s = run_catalog(src, out, QUICK, SERIAL, on_progress=lambda d, t: seen.append((d, t)))
    assert (s.total, s.done, s.failed, s.skipped) == (5, 4, 1, 0)
    assert seen[-1] == (5, 5)
    assert "broken.jpg" in s.failures[0][0] + s.failures[0][1]
    got = load_image(next(iter(sorted(out.glob("grocery*.jpg")))))
    assert got.size == (240, 240)
    assert s.manifest is not None
    lines = [json.loads(x) for x in s.manifest.read_text().splitlines()]
    assert sorted(r["status"] for r in lines) == ["done"] * 4 + ["failed"]
    for r in lines:
        if r["status"] == "done":
            data = Path(r["output"]).read_bytes()
            assert r["size"] == len(data)
            assert set(r["timings"]) >= {"read", "decode", "process", "encode", "write"}
    again = run_catalog(src, out, QUICK, SERIAL)
    assert (again.done, again.failed, again.skipped) == (0, 1, 4)


def test_edited_input_deleted_output_and_model_change_redo(tmp_path: Path) -> None:
    """Only what changed is redone: an edited photo, a deleted output; switching the model
    (name + weights hash) or the settings redoes everything."""
    src = tmp_path / "in"
    photos = real_photos(src, 3)
    out = tmp_path / "out"
    run_catalog(src, out, QUICK, SERIAL)
    (out / f"{photos[0].stem}.jpg").unlink()
    photos[1].write_bytes(photos[2].read_bytes())  # new content under the same name
    s = run_catalog(src, out, QUICK, SERIAL)
    assert (s.done, s.skipped) == (2, 1)
    other = JobSpec(model="classical", canvas=CanvasParams(width=200, height=200))
    assert run_catalog(src, out, other, SERIAL).done == 3


def test_model_weights_hash_is_part_of_the_job(tmp_path: Path, weights_dir: Path) -> None:
    """Same model name, different weights file content → redone (issue 10: model = name + hash)."""
    real = weights_dir / "segmentation" / "u2netp.onnx"
    a = tmp_path / "a" / "u2netp.onnx"
    a.parent.mkdir()
    a.write_bytes(real.read_bytes())
    src = tmp_path / "in"
    real_photos(src, 2)
    out = tmp_path / "out"
    spec = JobSpec(model=str(a), canvas=CanvasParams(width=200, height=200))
    assert run_catalog(src, out, spec, SERIAL).done == 2
    assert run_catalog(src, out, spec, SERIAL).skipped == 2
    a.write_bytes(real.read_bytes() + b"\0")  # onnx ignores trailing bytes; the hash does not
    assert run_catalog(src, out, spec, SERIAL).done == 2


def test_several_presets_and_template(tmp_path: Path) -> None:
    """One run makes several presets per item under the template; a bad template fails early."""
    src = tmp_path / "in"
    photos = real_photos(src, 2)
    out = tmp_path / "out"
    specs = [QUICK, JobSpec(model="classical", recipe="etsy")]
    s = run_catalog(src, out, specs, SERIAL)
    assert s.done == 4
    assert sorted(outputs(out)) == sorted(
        f"{p.stem}/{preset}.jpg" for p in photos for preset in ("main", "etsy")
    )
    opts = RunOptions(executor="serial", template="{preset}/{key}.{ext}")  # type: ignore[arg-type]
    assert run_catalog(src, tmp_path / "t", specs, opts).done == 4
    assert (tmp_path / "t" / "etsy" / f"{photos[0].stem}.jpg").is_file()
    for bad in ("{key}.jpg", "{preset}.{ext}", "../{key}.{ext}", "{key}.{colour}"):
        with pytest.raises(InvalidParamsError):
            check_template(bad, several=True)


def test_duplicate_ids_fail_before_work(tmp_path: Path) -> None:
    """Two CSV rows with the same id: a clear error naming both rows, no output written."""
    photos = real_photos(tmp_path / "img", 2)
    cat = tmp_path / "c.csv"
    cat.write_text(f"path,key\n{photos[0]},sku1\n{photos[1]},SKU1\n")
    with pytest.raises(InputError, match=r"c\.csv:3: id 'SKU1' is already used by .*c\.csv:2"):
        run_catalog(cat, tmp_path / "out", QUICK, SERIAL)
    assert outputs(tmp_path / "out") == {}


@pytest.mark.parametrize("case", ["proc", "under-file"])
def test_unusable_output_folder_is_one_clear_error(tmp_path: Path, case: str) -> None:
    """-o /proc/x or a path under a file: OutputError before any work, no store mention."""
    real_photos(tmp_path / "in", 1)
    if case == "proc":
        target = Path("/proc/productstudio-x")
    else:
        (tmp_path / "file").write_text("x")
        target = tmp_path / "file" / "out"
    with pytest.raises(OutputError, match="output folder") as info:
        run_catalog(tmp_path / "in", target, QUICK, SERIAL)
    assert "store" not in str(info.value)


def test_transient_failures_are_retried_with_backoff(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read that fails once with an I/O error is retried and succeeds; one that always
    fails gives up after the retries with the reason."""
    import productstudio.catalog.worker as worker

    src = tmp_path / "in"
    photos = real_photos(src, 2)
    calls: dict[str, int] = {}
    real = worker.read_input

    def flaky(path: Path) -> tuple[bytes, int, int]:
        calls[path.name] = calls.get(path.name, 0) + 1
        if path.name == photos[0].name and calls[path.name] == 1:
            raise worker.TransientError(f'Cannot read "{path}": I/O error.', path=path)
        if path.name == photos[1].name:
            raise worker.TransientError(f'Cannot read "{path}": I/O error.', path=path)
        return real(path)

    monkeypatch.setattr(worker, "read_input", flaky)
    opts = RunOptions(executor="serial", retries=2, retry_backoff_s=0.01)  # type: ignore[arg-type]
    s = run_catalog(src, tmp_path / "out", QUICK, opts)
    assert (s.done, s.failed) == (1, 1)
    assert calls == {photos[0].name: 2, photos[1].name: 3}
    assert "gave up after 3 attempts" in s.failures[0][1]


def test_stop_event_keeps_work_and_rerun_finishes(tmp_path: Path) -> None:
    """Stopping a run (what Ctrl-C does) keeps finished items, leaves nothing claimed, and a
    re-run does the rest."""
    src = tmp_path / "in"
    real_photos(src, 6)
    out = tmp_path / "out"
    stop = threading.Event()
    opts = RunOptions(executor="serial", batch_size=1)  # type: ignore[arg-type]
    s = run_catalog(src, out, QUICK, opts, on_result=lambda r: stop.set(), stop=stop)
    assert s.interrupted and s.done == 1
    store = JobStore.sqlite(out / ".productstudio-jobs.sqlite")
    assert store.counts() == {"done": 1, "pending": 5}
    assert [r["state"] for r in store.runs()] == ["interrupted"]
    store.close()
    s2 = run_catalog(src, out, QUICK, opts)
    assert (s2.done, s2.skipped, s2.ok) == (5, 1, True)


def test_one_image_to_one_file(tmp_path: Path) -> None:
    """`run one.jpg -o out.png` writes exactly that file (issue 10), in its format."""
    (photo,) = real_photos(tmp_path, 1)
    target = tmp_path / "res" / "one.png"
    spec = JobSpec(
        model="classical", canvas=CanvasParams(width=200, height=200), fmt=ImageFormat.PNG
    )
    s = run_catalog(photo, target, spec, SERIAL)
    assert s.done == 1
    assert sorted(p.name for p in target.parent.iterdir()) == ["one.png"]
    assert load_image(target).format == "PNG"
    with pytest.raises(InvalidParamsError, match=r"\.png"):
        run_catalog(photo, tmp_path / "x.jpg", spec, SERIAL)


def test_items_given_directly_and_status_enum(tmp_path: Path) -> None:
    """A server can pass CatalogItems instead of a path."""
    from productstudio.catalog import CatalogItem

    photos = real_photos(tmp_path / "in", 2)
    items = [CatalogItem(p, f"u/{i}") for i, p in enumerate(photos)]
    seen: list[Status] = []
    s = run_catalog(
        items, tmp_path / "out", QUICK, SERIAL, on_result=lambda r: seen.append(r.status)
    )
    assert s.done == 2 and seen == [Status.DONE, Status.DONE]
    assert sorted(outputs(tmp_path / "out")) == ["u/0.jpg", "u/1.jpg"]
