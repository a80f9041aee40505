"""The work pool: bounded admission (QueueFull), and a timed-out, cancelled or crashed task
frees its slot at once (its worker process is replaced)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from productstudio.server.pool import QueueFull, TaskFailed, TaskTimeout, WorkerCrashed, WorkPool


@pytest.fixture
def pool(monkeypatch: pytest.MonkeyPatch) -> Iterator[WorkPool]:
    monkeypatch.syspath_prepend(str(Path(__file__).parent))  # the workers import pool_tasks
    p = WorkPool(1, 1, threads=1, tasks="pool_tasks")
    yield p
    p.close()


def _run(coro: object) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]


def test_results_errors_and_queue_full(pool: WorkPool) -> None:
    """A result comes back; a library error keeps its status and message; one request more
    than workers + queue is refused with a Retry-After."""

    async def scenario() -> None:
        pool.start()
        first = await pool.run("echo", {"x": 1}, timeout=60)
        assert first["x"] == 1
        with pytest.raises(TaskFailed) as ei:
            await pool.run("fail", {}, timeout=60)
        assert ei.value.info.status == 400 and "give a number" in ei.value.info.title
        with pytest.raises(TaskFailed) as ei:
            await pool.run("bug", {}, timeout=60)
        assert ei.value.info.status == 500 and "ZeroDivisionError" in ei.value.info.title
        running = asyncio.ensure_future(pool.run("sleep", {"seconds": 1.0}, timeout=60))
        waiting = asyncio.ensure_future(pool.run("echo", {"x": 2}, timeout=60))
        await asyncio.sleep(0.05)
        with pytest.raises(QueueFull) as full:
            await pool.run("echo", {"x": 3}, timeout=60)
        assert full.value.retry_after >= 1
        assert (await waiting)["x"] == 2
        await running
        assert pool.replaced == 0  # clean finishes keep their worker

    _run(scenario())


def test_timeout_and_cancel_free_the_slot(pool: WorkPool) -> None:
    """A task past its time limit, or whose caller is cancelled (client gone), kills its
    worker; the next request runs on a fresh one right away."""

    async def scenario() -> None:
        pool.start()
        before = (await pool.run("echo", {}, timeout=60))["pid"]
        with pytest.raises(TaskTimeout):
            await pool.run("sleep", {"seconds": 60}, timeout=0.5)
        assert pool.replaced == 1
        after = (await pool.run("echo", {}, timeout=60))["pid"]
        assert after != before
        task = asyncio.ensure_future(pool.run("sleep", {"seconds": 60}, timeout=120))
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert pool.replaced == 2
        assert pool.stats()["running"] == 0 and pool.stats()["waiting"] == 0
        assert (await pool.run("echo", {"x": 5}, timeout=60))["x"] == 5

    _run(scenario())


def test_crashed_worker_is_replaced(pool: WorkPool) -> None:
    async def scenario() -> None:
        pool.start()
        with pytest.raises(WorkerCrashed):
            await pool.run("die", {}, timeout=60)
        assert (await pool.run("echo", {"x": 7}, timeout=60))["x"] == 7

    _run(scenario())
