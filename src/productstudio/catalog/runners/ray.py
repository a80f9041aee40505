"""The Ray runner: Ray Data ``map_batches`` with the worker as a callable class.

Claimed items are processed in *windows*: each window is a small dataset of task rows
(paths and settings as JSON, never pixels, so the object store holds a few KB per item)
mapped by a pool of ``workers`` actors, each declaring ``num_cpus`` and loading its models
once in ``__init__``; results stream back as they finish. Without an address a local Ray
is started (and shut down afterwards) with ``workers × cpus_per_worker`` CPUs; with one, the
cluster is checked for reachability first so a wrong address fails in seconds.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from typing import Any

import numpy as np

from productstudio.catalog.runners.base import (
    Runner,
    WorkerFactory,
    result_from_json,
    result_to_json,
    run_batch_here,
    task_from_json,
    task_to_json,
)
from productstudio.catalog.worker import ItemResult, Task
from productstudio.errors import JobError, require

log = logging.getLogger(__name__)


class RayBatchWorker:
    """The Ray Data callable class: builds the worker once per actor, maps task batches."""

    def __init__(self, factory: WorkerFactory) -> None:
        self.worker = factory.build()

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        tasks = [task_from_json(str(t)) for t in batch["task"]]
        results = run_batch_here(self.worker, tasks)
        return {"result": np.array([result_to_json(r) for r in results], dtype=object)}


def check_address(address: str, timeout_s: float = 5.0) -> None:
    """Fail fast when a ``host:port`` (or ``ray://host:port``) address cannot be reached.

    Raises:
        JobError: naming the address and the fix.
    """
    if address in ("auto", "local"):
        return
    hostport = address.split("://", 1)[-1]
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise JobError(
            f"--ray-address '{address}' is not host:port (e.g. 10.0.0.5:6379, or "
            "ray://10.0.0.5:10001): give the head node's address, or omit it for a local Ray."
        )
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s):
            pass
    except OSError as exc:
        raise JobError(
            f"cannot reach the Ray cluster at {address}: {exc.strerror or exc}. Check that "
            "`ray start --head` runs there and the port is open, or omit --ray-address for a "
            "local Ray."
        ) from None


class RayRunner(Runner):
    """Ray Data ``map_batches`` over windows of claimed tasks (see the module docstring)."""

    name = "ray"

    def __init__(
        self,
        factory: WorkerFactory,
        workers: int = 2,
        *,
        address: str | None = None,
        batch_size: int = 4,
        cpus_per_worker: float = 1.0,
        window: int | None = None,
    ) -> None:
        super().__init__(factory, workers)
        self.address = address
        self.batch_size = batch_size
        self.cpus_per_worker = cpus_per_worker
        self.window = window or max(256, 16 * workers * batch_size)
        self._started_ray = False

    def start(self) -> None:
        require("ray", "ray")
        import ray

        if self.address:
            check_address(self.address)
        if ray.is_initialized():
            return
        kwargs: dict[str, Any] = {
            "include_dashboard": False,
            "logging_level": logging.WARNING,
            "log_to_driver": False,
            "configure_logging": False,
        }
        try:
            if self.address:
                ray.init(address=self.address, **kwargs)
            else:
                ray.init(num_cpus=max(1, round(self.workers * self.cpus_per_worker)), **kwargs)
        except (ConnectionError, RuntimeError, TimeoutError) as exc:
            raise JobError(f"cannot start or join Ray ({self.address or 'local'}): {exc}") from None
        self._started_ray = True

    def close(self) -> None:
        if self._started_ray:
            import ray

            ray.shutdown()
            self._started_ray = False

    def run(self, batches: Iterator[list[Task]]) -> Iterator[list[ItemResult]]:
        import ray

        if not ray.is_initialized():
            self.start()
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False
        ctx.print_on_execution_start = False
        logging.getLogger("ray.data").setLevel(logging.WARNING)
        ended = False
        while not ended:
            window: list[Task] = []
            while len(window) < self.window:
                batch = next(batches, None)
                if batch is None:
                    ended = True
                    break
                if not batch:
                    if window:
                        break
                    continue
                window.extend(batch)
                self.in_flight = len(window)  # so the driver says "no more now" with []
            if not window:
                continue
            self.in_flight = len(window)
            ds = ray.data.from_items([{"task": task_to_json(t)} for t in window]).map_batches(
                RayBatchWorker,
                fn_constructor_args=(self.factory,),
                batch_size=self.batch_size,
                compute=ray.data.ActorPoolStrategy(
                    size=min(self.workers, -(-len(window) // self.batch_size))
                ),
                num_cpus=self.cpus_per_worker,
                batch_format="numpy",
            )
            for out in ds.iter_batches(batch_size=None, batch_format="numpy"):
                results = [result_from_json(str(r)) for r in out["result"]]
                self.in_flight -= len(results)
                yield results
            self.in_flight = 0
