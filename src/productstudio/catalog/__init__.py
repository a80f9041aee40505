"""Layer 5: batch runs over a whole catalogue (folders, CSV, JSONL).

:func:`run_catalog` is the one entry point (the CLI's ``run``, the server and the benchmarks
call it): it lists the inputs, plans the outputs, records every item in a job store (SQLite
by default, PostgreSQL by URL) and processes them with an executor, so interrupted runs
resume.
"""

from productstudio.catalog.batch import (
    BatchReport,
    default_workers,
    open_store,
    plan_tasks,
    run_batch,
)
from productstudio.catalog.job import (
    Executor,
    ManifestFormat,
    RunOptions,
    RunSummary,
    run_catalog,
)
from productstudio.catalog.sources import CatalogItem, Missing, list_items
from productstudio.catalog.store import JobStore, SourceStamp, Status
from productstudio.catalog.worker import ItemResult, JobSpec, MainImageWorker, Task

__all__ = [
    "BatchReport",
    "CatalogItem",
    "Executor",
    "ItemResult",
    "JobSpec",
    "JobStore",
    "MainImageWorker",
    "ManifestFormat",
    "Missing",
    "RunOptions",
    "RunSummary",
    "SourceStamp",
    "Status",
    "Task",
    "default_workers",
    "list_items",
    "open_store",
    "plan_tasks",
    "run_batch",
    "run_catalog",
]
