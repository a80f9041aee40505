"""Serial, local-pool and Ray runners write byte-identical outputs from real photos."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from catalog_helpers import QUICK, outputs, real_photos
from productstudio.catalog import RunOptions, run_catalog
from productstudio.catalog.runners.base import (
    WorkerFactory,
    result_from_json,
    result_to_json,
    task_from_json,
    task_to_json,
)
from productstudio.catalog.runners.local import LocalRunner
from productstudio.catalog.store import Status
from productstudio.catalog.worker import CatalogWorker, ItemResult, Task
from productstudio.errors import JobError


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = tmp_path_factory.mktemp("photos")
    real_photos(src, 8, "grocery")
    return src


@pytest.fixture(scope="module")
def serial_outputs(photos: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    out = tmp_path_factory.mktemp("serial")
    s = run_catalog(photos, out, QUICK, RunOptions(executor="serial"))  # type: ignore[arg-type]
    assert s.done == 8, s.failures
    return outputs(out)


def test_local_pool_matches_serial(
    photos: Path, serial_outputs: dict[str, bytes], tmp_path: Path
) -> None:
    s = run_catalog(photos, tmp_path, QUICK, RunOptions(executor="local", workers=2, batch_size=2))  # type: ignore[arg-type]
    assert s.done == 8 and len(s.peak_rss_mb) >= 1
    assert outputs(tmp_path) == serial_outputs


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    """One local Ray (2 CPUs) for this module; shut down afterwards."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        yield
    finally:
        ray.shutdown()


@pytest.mark.slow
def test_ray_data_matches_serial(
    photos: Path, serial_outputs: dict[str, bytes], tmp_path: Path, local_ray: None
) -> None:
    """Ray Data map_batches (2 actors on a local 2-CPU Ray) writes the same bytes."""
    opts = RunOptions(executor="ray", workers=2, batch_size=2)  # type: ignore[arg-type]
    s = run_catalog(photos, tmp_path, QUICK, opts)
    assert s.done == 8, s.failures
    assert outputs(tmp_path) == serial_outputs
    assert len(s.peak_rss_mb) == 2  # two actors, each reporting its own peak RSS


def test_unreachable_ray_address_fails_fast(photos: Path, tmp_path: Path) -> None:
    opts = RunOptions(executor="ray", ray_address="127.0.0.1:1")  # type: ignore[arg-type]
    with pytest.raises(JobError, match="cannot reach the Ray cluster at 127.0.0.1:1"):
        run_catalog(photos, tmp_path, QUICK, opts)


def test_task_and_result_round_trip_as_json(photos: Path) -> None:
    t = Task("k", photos / "a.jpg", Path("/o/k.jpg"), (("colour", "red"),), 7, "main", "ab", 12)
    assert task_from_json(task_to_json(t)) == t
    r = ItemResult("k", t.source, t.output, Status.DONE, "ok", 0.5, timings=(("read", 0.1),))
    assert result_from_json(result_to_json(r)) == r


class _Dies:
    """A worker whose process dies on an item named 'die' (a segfault, the OOM killer)."""

    def __init__(self) -> None:
        pass

    def process_batch(self, tasks: list[Task]) -> list[ItemResult]:
        import os

        if any(t.key == "die" for t in tasks):
            os._exit(1)
        return [ItemResult(t.key, t.source, t.output, Status.DONE) for t in tasks]


def test_local_pool_survives_a_dying_worker(tmp_path: Path) -> None:
    """The batch of a dead process comes back as retryable failures; the pool restarts."""
    batches = [[Task(k, tmp_path, tmp_path)] for k in ("a", "die", "b", "c")]
    with LocalRunner(WorkerFactory(_Dies), 2) as runner:
        got = [r for res in runner.run(iter(batches)) for r in res]
    by_key = {r.key: r for r in got}
    assert by_key["die"].status == Status.FAILED and by_key["die"].retryable
    assert sorted(by_key) == ["a", "b", "c", "die"]
    assert all(by_key[k].status == Status.DONE or by_key[k].retryable for k in "abc")


def test_catalog_worker_is_built_once_per_process() -> None:
    w = CatalogWorker([QUICK])
    assert list(w.workers) == ["main"]
