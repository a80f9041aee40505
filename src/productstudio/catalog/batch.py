"""Run a job over a whole catalogue: skip what is done, go on past bad files, report."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

from productstudio.catalog.store import JobStore, SourceStamp, Status
from productstudio.catalog.worker import (
    ItemResult,
    JobSpec,
    MainImageWorker,
    Task,
    _init_process,
    _run_in_process,
)
from productstudio.errors import InvalidParamsError, JobError

log = logging.getLogger(__name__)

STORE_NAME = ".productstudio-jobs.sqlite"


@dataclass
class BatchReport:
    """Outcome of a batch run."""

    results: list[ItemResult] = field(default_factory=list)

    def count(self, status: Status) -> int:
        return sum(1 for r in self.results if r.status == status)

    @property
    def done(self) -> int:
        return self.count(Status.DONE)

    @property
    def skipped(self) -> int:
        return self.count(Status.SKIPPED)

    @property
    def failed(self) -> int:
        return self.count(Status.FAILED)

    @property
    def ok(self) -> bool:
        return self.failed == 0


def plan_tasks(
    items: Iterable[tuple[str, Path] | tuple[str, Path, dict[str, str]]], out_dir: Path, suffix: str
) -> list[Task]:
    """One task per (key, source[, attributes]); outputs are ``out_dir/<key><suffix>``.

    Keys that collide (``a.jpg`` and ``a.png``) get the source extension appended.
    """
    rows = [(it[0], it[1], it[2] if len(it) > 2 else {}) for it in items]
    seen: dict[str, int] = {}
    for key, _, _ in rows:
        seen[key.lower()] = seen.get(key.lower(), 0) + 1
    tasks = []
    for key, src, attrs in rows:
        k = key
        if seen[key.lower()] > 1:
            k = f"{key}.{src.suffix.lstrip('.').lower()}"
        pairs = tuple(sorted((str(a), str(v)) for a, v in attrs.items()))
        tasks.append(Task(k, src, out_dir / f"{k}{suffix}", pairs))
    return tasks


def default_workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def run_batch(
    tasks: Sequence[Task],
    spec: JobSpec,
    *,
    store: JobStore,
    workers: int = 1,
    overwrite: bool = False,
    on_progress: Callable[[int, int], None] | None = None,
    on_result: Callable[[ItemResult], None] | None = None,
) -> BatchReport:
    """Process ``tasks`` with ``spec``; resumable through ``store``.

    Args:
        tasks: from :func:`plan_tasks`.
        spec: the job's settings.
        store: the job store (items done with the same settings are skipped).
        workers: processes (1 = in this process).
        overwrite: redo items even when the store says they are done.
        on_progress: ``(done, total)`` after each item.
        on_result: called with each :class:`ItemResult` as it arrives.

    Returns:
        A :class:`BatchReport`; failed items do not stop the batch.
    """
    if workers < 1:
        raise InvalidParamsError(f"workers must be ≥ 1, got {workers}")
    settings = spec.settings_hash()
    report = BatchReport()
    total = len(tasks)
    done = 0

    def finish(res: ItemResult, stamp: SourceStamp) -> None:
        nonlocal done
        if res.status != Status.SKIPPED:
            store.record(
                res.key,
                settings,
                res.source,
                stamp,
                res.output,
                res.status,
                res.message,
                res.seconds,
            )
        report.results.append(res)
        done += 1
        if on_result:
            on_result(res)
        if on_progress:
            on_progress(done, total)

    todo: list[tuple[Task, SourceStamp]] = []
    for t in tasks:
        stamp = SourceStamp.of(t.source)
        if not overwrite and store.is_done(t.key, settings, stamp, t.output):
            finish(ItemResult(t.key, t.source, t.output, Status.SKIPPED, "already done"), stamp)
        else:
            todo.append((t, stamp))
    if not todo:
        return report

    threads = max(1, (os.cpu_count() or 1) // max(1, workers))
    if workers == 1 or len(todo) == 1:
        worker = MainImageWorker(spec)
        for t, stamp in todo:
            finish(worker(t), stamp)
        return report

    ctx = get_context("spawn")
    try:
        with ProcessPoolExecutor(
            max_workers=min(workers, len(todo)),
            mp_context=ctx,
            initializer=_init_process,
            initargs=(spec, threads),
        ) as pool:
            futures = {pool.submit(_run_in_process, t): (t, stamp) for t, stamp in todo}
            for fut in as_completed(futures):
                t, stamp = futures[fut]
                try:
                    res = fut.result()
                except Exception as exc:  # a worker process died: report, keep going
                    res = ItemResult(t.key, t.source, None, Status.FAILED, f"worker crashed: {exc}")
                finish(res, stamp)
    except OSError as exc:
        raise JobError(f"cannot start worker processes: {exc}. Try --workers 1.") from None
    return report


def open_store(out_dir: Path, url: str | None = None) -> JobStore:
    """The store given by ``url``, else a SQLite file in ``out_dir``."""
    return JobStore(url) if url else JobStore.sqlite(out_dir / STORE_NAME)
