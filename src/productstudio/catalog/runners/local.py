"""The local runner: a pool of worker processes on this machine (``spawn`` start method)."""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from typing import Any

from productstudio.catalog.runners.base import (
    BatchWorker,
    Runner,
    WorkerFactory,
    crashed,
    run_batch_here,
)
from productstudio.catalog.worker import ItemResult, Task
from productstudio.errors import JobError

log = logging.getLogger(__name__)

_WORKER: BatchWorker | None = None


def _init(factory: WorkerFactory) -> None:
    global _WORKER
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle
    _WORKER = factory.build()


def _process(batch: list[Task]) -> list[ItemResult]:
    assert _WORKER is not None, "worker process not initialised"
    return run_batch_here(_WORKER, batch)


class LocalRunner(Runner):
    """Batches go to ``workers`` processes, each holding one worker object (models loaded
    once per process); at most two batches per process are in flight. A process that dies
    fails its batch as *retryable* and the pool is restarted."""

    name = "local"

    def __init__(self, factory: WorkerFactory, workers: int = 2) -> None:
        super().__init__(factory, workers)
        self._pool: ProcessPoolExecutor | None = None

    def start(self) -> None:
        try:
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=get_context("spawn"),
                initializer=_init,
                initargs=(self.factory,),
            )
        except OSError as exc:
            raise JobError(
                f"cannot start worker processes: {exc}. Try --executor serial."
            ) from None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def run(self, batches: Iterator[list[Task]]) -> Iterator[list[ItemResult]]:
        if self._pool is None:
            self.start()
        pending: dict[Future[list[ItemResult]], list[Task]] = {}
        exhausted = False
        while True:
            while not exhausted and len(pending) < 2 * self.workers:
                batch = next(batches, None)
                if batch is None:
                    exhausted = True
                    break
                if not batch:
                    if not pending:
                        continue  # nothing in flight: the driver waits inside next()
                    break
                assert self._pool is not None
                pending[self._pool.submit(_process, batch)] = batch
                self.in_flight += len(batch)
            if not pending:
                if exhausted:
                    return
                continue
            done, _ = wait(list(pending), return_when=FIRST_COMPLETED)
            broken = False
            for fut in done:
                batch = pending.pop(fut)
                self.in_flight -= len(batch)
                try:
                    yield fut.result()
                except BrokenProcessPool as exc:
                    broken = True
                    yield crashed(batch, str(exc) or "killed")
            if broken:
                yield from self._restart(pending)

    def _restart(self, pending: dict[Future[list[ItemResult]], list[Task]]) -> Iterator[Any]:
        """A worker died: every batch still in that pool failed with it; start a new pool."""
        for fut, batch in list(pending.items()):
            pending.pop(fut)
            self.in_flight -= len(batch)
            yield crashed(batch, "the pool broke")
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = None
        time.sleep(0.1)
        log.warning("a worker process died; starting a new pool")
        self.start()
