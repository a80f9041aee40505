"""The runner interface and the (de)serialisation of tasks and results between processes."""

from __future__ import annotations

import json
import resource
import sys
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from productstudio.catalog.store import Status
from productstudio.catalog.worker import ItemResult, Task
from productstudio.errors import InvalidParamsError


class BatchWorker(Protocol):
    """What a runner executes: ``process_batch(tasks) -> results`` (one result per task)."""

    def process_batch(self, tasks: Sequence[Task]) -> list[ItemResult]: ...


@dataclass(frozen=True)
class WorkerFactory:
    """A picklable recipe for the worker: ``cls(*args)`` is built once per worker process."""

    cls: type
    args: tuple[Any, ...] = ()

    def build(self) -> BatchWorker:
        worker: BatchWorker = self.cls(*self.args)
        return worker


def peak_rss_mb() -> float:
    """Peak resident set size of this process, MB.

    On Linux ``VmHWM`` of this process's own memory (``getrusage``'s ``ru_maxrss`` survives
    ``exec``, so a spawned worker would report its parent's peak); elsewhere ``ru_maxrss``.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024.0 * 1024.0) if sys.platform == "darwin" else rss / 1024.0


def run_batch_here(worker: BatchWorker, tasks: Sequence[Task]) -> list[ItemResult]:
    """Process one batch in this process; stamps each result with this process's peak RSS."""
    results = worker.process_batch(tasks)
    rss = peak_rss_mb()
    return [replace(r, rss_mb=rss) for r in results]


def crashed(tasks: Sequence[Task], why: str) -> list[ItemResult]:
    """Retryable failures for a batch whose worker died."""
    return [
        ItemResult(
            t.key,
            t.source,
            None,
            Status.FAILED,
            f"{t.source}: the worker process died ({why}); retrying",
            item_id=t.item_id,
            preset=t.preset,
            retryable=True,
        )
        for t in tasks
    ]


class Runner(ABC):
    """Processes a stream of task batches; use as a context manager.

    :meth:`run` pulls batches lazily from ``batches`` (an empty batch means "nothing to do
    right now"), keeps a bounded number in flight (:attr:`in_flight` tasks) and yields each
    batch's results as they finish, in any order.
    """

    name = "runner"

    def __init__(self, factory: WorkerFactory, workers: int = 1) -> None:
        if workers < 1:
            raise InvalidParamsError(f"workers must be ≥ 1, got {workers}")
        self.factory = factory
        self.workers = workers
        self.in_flight = 0

    def __enter__(self) -> Runner:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def start(self) -> None:  # noqa: B027  (optional hook)
        """Start the workers (models load here or on first use)."""

    def close(self) -> None:  # noqa: B027  (optional hook)
        """Stop the workers; in-flight work is finished or abandoned (never half-written)."""

    @abstractmethod
    def run(self, batches: Iterator[list[Task]]) -> Iterator[list[ItemResult]]:
        """Results of every batch pulled from ``batches``."""


# -- tasks and results as plain JSON (for Ray's object store) ----------------------------------


def task_to_json(task: Task) -> str:
    d = {f.name: getattr(task, f.name) for f in fields(task)}
    d["source"] = str(task.source)
    d["output"] = str(task.output)
    return json.dumps(d)


def task_from_json(text: str) -> Task:
    d = json.loads(text)
    d["source"] = Path(d["source"])
    d["output"] = Path(d["output"])
    d["attrs"] = tuple(tuple(a) for a in d["attrs"])
    return Task(**d)


def result_to_json(result: ItemResult) -> str:
    d = {f.name: getattr(result, f.name) for f in fields(result)}
    d["source"] = str(result.source)
    d["output"] = None if result.output is None else str(result.output)
    d["status"] = str(result.status)
    return json.dumps(d)


def result_from_json(text: str) -> ItemResult:
    d = json.loads(text)
    d["source"] = Path(d["source"])
    d["output"] = None if d["output"] is None else Path(d["output"])
    d["status"] = Status(d["status"])
    d["timings"] = tuple(tuple(t) for t in d["timings"])
    d["failed_rules"] = tuple(d.get("failed_rules", ()))
    return ItemResult(**d)


def make_runner(
    executor: str,
    factory: WorkerFactory,
    workers: int,
    *,
    ray_address: str | None = None,
    batch_size: int = 4,
    threads: int = 1,
) -> Runner:
    """The runner for ``executor`` (``serial``, ``local`` or ``ray``)."""
    if executor == "serial":
        from productstudio.catalog.runners.serial import SerialRunner

        return SerialRunner(factory)
    if executor == "local":
        from productstudio.catalog.runners.local import LocalRunner

        return LocalRunner(factory, workers)
    if executor == "ray":
        from productstudio.catalog.runners.ray import RayRunner

        return RayRunner(
            factory, workers, address=ray_address, batch_size=batch_size, cpus_per_worker=threads
        )
    raise InvalidParamsError(f"unknown executor '{executor}': use serial, local or ray")
