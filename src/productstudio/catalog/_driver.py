"""The body of :func:`productstudio.catalog.run_catalog` (kept apart from its signature)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path

from productstudio.catalog.batch import default_workers, open_store, plan_tasks, run_batch
from productstudio.catalog.job import (
    Executor,
    ProgressFn,
    ResultFn,
    RunOptions,
    RunSummary,
)
from productstudio.catalog.sources import CatalogItem, list_items
from productstudio.catalog.worker import ItemResult, JobSpec
from productstudio.errors import InvalidParamsError


def execute(
    source: Path | Iterable[CatalogItem],
    output: Path,
    specs: Sequence[JobSpec],
    options: RunOptions,
    *,
    on_progress: ProgressFn | None,
    on_result: ResultFn | None,
    stop: threading.Event | None,
) -> RunSummary:
    if len(specs) != 1:
        raise InvalidParamsError("several presets per run are not supported yet")
    spec = specs[0]
    t0 = time.perf_counter()
    items = (
        list_items(source, missing=options.missing, exclude=[output])
        if isinstance(source, Path)
        else list(source)
    )
    tasks = plan_tasks(((it.key, it.path, dict(it.attrs)) for it in items), output, spec.suffix)
    workers = 1 if options.executor is Executor.SERIAL else options.workers or default_workers()
    summary = RunSummary(run_id=uuid.uuid4().hex, output=output, total=len(tasks), workers=workers)
    store = open_store(output, options.store)

    def record(res: ItemResult) -> None:
        summary.add(res)
        if on_result is not None:
            on_result(res)

    try:
        run_batch(
            tasks,
            spec,
            store=store,
            workers=min(workers, max(1, len(tasks))),
            overwrite=options.overwrite,
            on_progress=on_progress,
            on_result=record,
        )
    finally:
        store.close()
    summary.executor = options.executor
    summary.seconds = time.perf_counter() - t0
    return summary
