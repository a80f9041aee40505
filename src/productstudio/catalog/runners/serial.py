"""The serial runner: one worker in this process."""

from __future__ import annotations

from collections.abc import Iterator

from productstudio.catalog.runners.base import BatchWorker, Runner, WorkerFactory, run_batch_here
from productstudio.catalog.worker import ItemResult, Task


class SerialRunner(Runner):
    """Processes each batch in this process, one after another."""

    name = "serial"

    def __init__(self, factory: WorkerFactory, workers: int = 1) -> None:
        super().__init__(factory, 1)
        self._worker: BatchWorker | None = None

    def start(self) -> None:
        self._worker = self.factory.build()

    def run(self, batches: Iterator[list[Task]]) -> Iterator[list[ItemResult]]:
        if self._worker is None:
            self.start()
        assert self._worker is not None
        for batch in batches:
            if batch:
                self.in_flight = len(batch)
                results = run_batch_here(self._worker, batch)
                self.in_flight = 0
                yield results
