"""Layer 5: batch runs over a whole catalogue (folders, CSV, JSONL).

:func:`run_catalog` is the one entry point (the CLI's ``run``, the server and the benchmarks
call it): it lists the inputs, plans the outputs, records every item in a job store (SQLite
by default, PostgreSQL by URL) and processes them with an executor, so interrupted runs
resume.
"""

from productstudio.catalog._driver import default_workers
from productstudio.catalog.job import (
    Executor,
    ManifestFormat,
    RunOptions,
    RunSummary,
    run_catalog,
)
from productstudio.catalog.sources import CatalogItem, Missing, iter_items, list_items
from productstudio.catalog.store import JobStore, RunState, Status
from productstudio.catalog.worker import (
    CatalogWorker,
    ItemResult,
    JobSpec,
    MainImageWorker,
    Task,
)

__all__ = [
    "CatalogItem",
    "CatalogWorker",
    "Executor",
    "ItemResult",
    "JobSpec",
    "JobStore",
    "MainImageWorker",
    "ManifestFormat",
    "Missing",
    "RunOptions",
    "RunState",
    "RunSummary",
    "Status",
    "Task",
    "default_workers",
    "iter_items",
    "list_items",
    "run_catalog",
]
