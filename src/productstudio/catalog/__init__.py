"""Layer 5: batch runs over a whole catalogue (folders, CSV, JSONL).

``list_items`` reads the inputs, ``plan_tasks`` names the outputs, ``run_batch`` processes
them with a local process pool (one worker object per process) and records every outcome in a
``JobStore`` (SQLite by default, PostgreSQL by URL), so interrupted runs resume.
"""

from productstudio.catalog.batch import (
    BatchReport,
    default_workers,
    open_store,
    plan_tasks,
    run_batch,
)
from productstudio.catalog.sources import CatalogItem, Missing, list_items
from productstudio.catalog.store import JobStore, SourceStamp, Status
from productstudio.catalog.worker import ItemResult, JobSpec, MainImageWorker, Task

__all__ = [
    "BatchReport",
    "CatalogItem",
    "ItemResult",
    "JobSpec",
    "JobStore",
    "MainImageWorker",
    "Missing",
    "SourceStamp",
    "Status",
    "Task",
    "default_workers",
    "list_items",
    "open_store",
    "plan_tasks",
    "run_batch",
]
