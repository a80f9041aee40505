"""Crash safety, proven on real runs: SIGKILL at named points, re-run, nothing lost,
duplicated or corrupt; Ctrl-C keeps the work; three runners on one PostgreSQL catalogue never
process an item twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from catalog_helpers import QUICK, outputs, real_photos
from productstudio.catalog import RunOptions, run_catalog
from productstudio.catalog._driver import scope_of
from productstudio.catalog.store import JobStore

PG_URL = os.environ.get("PRODUCTSTUDIO_TEST_PG_URL")  # read before the env is isolated
N = 6
CLI = "from productstudio.cli import main; main()"


def _cli(
    src: Path, out: Path, *extra: str, fault: str = "", fault_dir: Path | None = None
) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRODUCTSTUDIO_FAULT")}
    if fault:
        env["PRODUCTSTUDIO_FAULT"] = fault
        env["PRODUCTSTUDIO_FAULT_DIR"] = str(fault_dir or out.parent / "faults")
    args = ["run", str(src), "-o", str(out), "--model", "classical", "--size", "240"]
    return subprocess.Popen(
        [sys.executable, "-c", CLI, *args, "--executor", "serial", "--batch-size", "1", *extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _wait_for(pattern: str, folder: Path, count: int = 1, timeout_s: float = 120.0) -> list[Path]:
    """Files a paused run writes when it reaches its fault point (not a timing guess)."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        found = sorted(folder.glob(pattern)) if folder.is_dir() else []
        if len(found) >= count:
            return found
        time.sleep(0.05)
    raise AssertionError(f"no {pattern} in {folder} after {timeout_s} s")


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, bytes]]:
    """Real photos and the outputs of an uninterrupted run (the reference bytes)."""
    src = tmp_path_factory.mktemp("crash-in")
    real_photos(src, N)
    ref = tmp_path_factory.mktemp("crash-ref")
    assert run_catalog(src, ref, QUICK, RunOptions(executor="serial")).done == N  # type: ignore[arg-type]
    return src, outputs(ref)


def _assert_consistent(out: Path, ref: dict[str, bytes], killed_runs: int) -> None:
    assert outputs(out) == ref  # 0 lost, 0 corrupt (byte-identical), 0 extra outputs
    assert not [p for p in out.rglob("*.part")]  # no temp file left behind
    store = JobStore.sqlite(out / ".productstudio-jobs.sqlite")
    try:
        assert store.counts() == {"done": N}
        states = sorted(r["state"] for r in store.runs())
        assert states.count("crashed") + states.count("interrupted") == killed_runs
        assert states.count("finished") == 1
        done = [e["item_id"] for e in store.events(kinds=["done"])]
        assert sorted(done) == sorted(set(done)) and len(done) == N  # each item made once
    finally:
        store.close()


@pytest.mark.slow
@pytest.mark.parametrize("point", ["decode@3", "write@3", "commit@3", "claimed@4"])
def test_sigkill_then_rerun_loses_nothing(
    catalogue: tuple[Path, dict[str, bytes]], tmp_path: Path, point: str
) -> None:
    """SIGKILL mid-decode, mid-write (temp file written, not renamed), between store updates
    of one commit, and right after a claim; the re-run completes the catalogue exactly."""
    src, ref = catalogue
    out = tmp_path / "out"
    proc = _cli(src, out, fault=f"{point}=kill")
    proc.communicate(timeout=180)
    assert proc.returncode == -signal.SIGKILL
    partial = outputs(out)
    # decode@3/write@3/claimed@4: two or three items were committed; commit@3: the third
    # item's output exists but its store update died with the transaction
    assert len(partial) in (2, 3)
    for name, data in partial.items():
        assert data == ref[name]  # what was there after the crash was already complete
    again = run_catalog(src, out, QUICK, RunOptions(executor="serial"))  # type: ignore[arg-type]
    assert again.ok and again.done + again.skipped == N
    assert again.skipped == (2 if point in ("commit@3", "decode@3", "write@3") else 3)
    _assert_consistent(out, ref, killed_runs=1)


@pytest.mark.slow
def test_ctrl_c_finishes_the_item_in_progress_and_keeps_the_work(
    catalogue: tuple[Path, dict[str, bytes]], tmp_path: Path
) -> None:
    """Ctrl-C while the third photo is being processed: that item is finished, nothing new
    is claimed, exit 130 with one red line; the re-run does the rest."""
    src, ref = catalogue
    out = tmp_path / "out"
    faults = tmp_path / "faults"
    proc = _cli(src, out, fault="decode@3=wait", fault_dir=faults)
    _wait_for("decode.*.paused", faults)
    proc.send_signal(signal.SIGINT)
    assert proc.stderr is not None
    for line in proc.stderr:  # the run says it is stopping once it has seen the Ctrl-C
        if b"stopping" in line:
            break
    (faults / "go").write_text("")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err.decode()
    assert b"Traceback" not in err and b"interrupted: 3 item(s) done" in err
    store = JobStore.sqlite(out / ".productstudio-jobs.sqlite")
    assert store.counts() == {"done": 3, "pending": N - 3}
    assert [r["state"] for r in store.runs()] == ["interrupted"]
    store.close()
    assert run_catalog(src, out, QUICK, RunOptions(executor="serial")).skipped == 3  # type: ignore[arg-type]
    _assert_consistent(out, ref, killed_runs=1)


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.skipif(
    PG_URL is None, reason="PRODUCTSTUDIO_TEST_PG_URL not set (CI starts PostgreSQL)"
)
def test_three_runners_on_postgres_never_duplicate(tmp_path: Path) -> None:
    """Three `productstudio run` processes on one catalogue and one PostgreSQL store, released
    together after registering: every item is made exactly once, by one of them."""
    assert PG_URL is not None
    src = tmp_path / "in"
    real_photos(src, 18)
    out = tmp_path / f"out-{uuid.uuid4().hex[:6]}"
    faults = tmp_path / "faults"
    procs = [
        _cli(src, out, "--store", PG_URL, fault="registered=wait", fault_dir=faults)
        for _ in range(3)
    ]
    _wait_for("registered.*.paused", faults, count=3)
    (faults / "go").write_text("")
    for p in procs:
        _, err = p.communicate(timeout=180)
        assert p.returncode == 0, err.decode()
    store = JobStore(PG_URL)
    try:
        scope = scope_of(out)
        assert store.counts(scope) == {"done": 18}
        runs = {r["id"] for r in store.runs(scope)}
        done = [e for e in store.events(kinds=["done"]) if e["run_id"] in runs]
        ids = [e["item_id"] for e in done]
        assert len(ids) == 18 and len(set(ids)) == 18
        assert len({e["run_id"] for e in done}) >= 2  # the work really was shared
    finally:
        store.close()
    assert len(outputs(out)) == 18
