"""Runners: where a catalogue run's items are processed.

Every runner executes the same callable worker class (``CatalogWorker`` by default: models
loaded once per worker, items processed in batches) and so writes the same bytes; they
differ only in where the workers live:

* :class:`SerialRunner` — in this process;
* :class:`LocalRunner` — a pool of worker processes on this machine;
* :class:`RayRunner` — Ray Data ``map_batches`` actors on a local Ray or a cluster.

The driver (``catalog/_driver.py``) pulls claimed batches from the job store and commits
results; runners never touch the store.
"""

from __future__ import annotations

from productstudio.catalog.runners.base import Runner, WorkerFactory, make_runner
from productstudio.catalog.runners.local import LocalRunner
from productstudio.catalog.runners.serial import SerialRunner

__all__ = ["LocalRunner", "Runner", "SerialRunner", "WorkerFactory", "make_runner"]
