"""A bounded pool of worker processes for CPU-heavy requests.

* Work runs in ``size`` worker processes (spawned, so no state is shared by accident), never
  on the event loop. Each process loads its models once and keeps them for every request it
  serves (:mod:`productstudio.server.tasks`).
* At most ``size + queue_size`` requests are admitted; one more raises :class:`QueueFull`
  (the routes answer 429 with ``Retry-After``).
* A request that times out, is cancelled or whose client goes away **frees its slot at
  once**: the worker running it is killed and replaced by a fresh process (CPU work cannot be
  interrupted any other way), so a stuck request never blocks the ones behind it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import multiprocessing
import os
import signal
import time
import traceback
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from productstudio.server.errors import ErrorInfo, error_info

log = logging.getLogger(__name__)


class QueueFull(Exception):
    """Every worker is busy and the waiting line is full."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"all {retry_after} s")
        self.retry_after = retry_after


class TaskTimeout(Exception):
    """The request ran past its time limit (its worker was replaced)."""


class TaskFailed(Exception):
    """The task raised; ``info`` is the HTTP-ready description."""

    def __init__(self, info: ErrorInfo) -> None:
        super().__init__(info.title)
        self.info = info


class WorkerCrashed(Exception):
    """The worker process died while running the task (out of memory, a crash in C code)."""


# -- the worker process -----------------------------------------------------------------
_ENV_PREFIXES = ("PRODUCTSTUDIO_", "U2NET_HOME", "HF_", "TRANSFORMERS_", "OMP_")


def settings_env() -> dict[str, str]:
    """The environment variables that configure the library (model folders, limits …), so a
    process started later runs with the settings the server started with."""
    return {k: v for k, v in os.environ.items() if k.startswith(_ENV_PREFIXES)}


def apply_env(env: dict[str, str]) -> None:
    for k in [k for k in os.environ if k.startswith(_ENV_PREFIXES)]:
        del os.environ[k]
    os.environ.update(env)


def _worker_main(
    conn: Connection, threads: int, warm: tuple[str, ...], module: str, env: dict[str, str]
) -> None:
    """Serve tasks from ``conn`` until it closes: ``(name, kwargs)`` → ``(kind, value)``.

    ``module`` provides ``init_worker(threads, warm)`` and ``run_task(name, kwargs)``
    (:mod:`productstudio.server.tasks`; tests pass their own).
    """
    import importlib

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the server shuts the pool down itself
    apply_env(env)
    os.environ["PRODUCTSTUDIO_THREADS"] = str(threads)
    os.environ["OMP_NUM_THREADS"] = str(threads)
    tasks = importlib.import_module(module)
    tasks.init_worker(threads, warm)
    while True:
        try:
            name, kwargs = conn.recv()
        except (EOFError, OSError):
            return
        try:
            reply: tuple[str, Any] = ("ok", tasks.run_task(name, kwargs))
        except Exception as exc:  # every failure goes back to the request, in words
            info = error_info(exc)
            if info.status >= 500:
                log.error("task %s failed:\n%s", name, traceback.format_exc())
            reply = ("err", info)
        try:
            conn.send(reply)
        except (OSError, ValueError):
            return


class _Worker:
    def __init__(
        self, ctx: Any, threads: int, warm: tuple[str, ...], module: str, env: dict[str, str]
    ) -> None:
        parent, child = ctx.Pipe(duplex=True)
        self.conn: Connection = parent
        self.proc: BaseProcess = ctx.Process(
            target=_worker_main,
            args=(child, threads, warm, module, env),
            daemon=True,
            name="ps-worker",
        )
        self.proc.start()
        child.close()

    def roundtrip(self, name: str, kwargs: dict[str, Any]) -> tuple[str, Any]:
        self.conn.send((name, kwargs))
        reply: tuple[str, Any] = self.conn.recv()
        return reply

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            self.conn.close()
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(timeout=5)


class WorkPool:
    """``size`` worker processes and a waiting line of ``queue_size`` requests.

    Args:
        size: worker processes (each uses ``threads`` threads).
        queue_size: requests that may wait for a free worker.
        threads: threads per worker for ONNX/OpenCV (default: cores / size, at least 1).
        warm: segmenter names each worker loads at start (so the first request is not slow).
        tasks: the module whose ``run_task`` the workers call.
    """

    def __init__(
        self,
        size: int,
        queue_size: int,
        *,
        threads: int | None = None,
        warm: tuple[str, ...] = (),
        tasks: str = "productstudio.server.tasks",
    ) -> None:
        if size < 1 or queue_size < 0:
            raise ValueError(f"pool size must be >= 1 and queue >= 0, got {size}, {queue_size}")
        self.size = size
        self.queue_size = queue_size
        self.threads = threads or max(1, (os.cpu_count() or 1) // size)
        self.warm = warm
        self.tasks = tasks
        self._ctx = multiprocessing.get_context("spawn")
        self._idle: deque[_Worker] = deque()
        self._sem: asyncio.Semaphore | None = None
        self._io = ThreadPoolExecutor(max_workers=size + 2, thread_name_prefix="ps-pool-io")
        self._admitted = 0
        self._running = 0
        self._avg_s = 1.0
        self.replaced = 0
        self.closed = False
        self._env: dict[str, str] = {}

    # -- life cycle ----------------------------------------------------------------------
    def start(self) -> None:
        """Spawn the worker processes (they import and warm up in the background)."""
        self._sem = asyncio.Semaphore(self.size)
        # workers never download a model: `auto` was decided when the app was created
        self._env = {**settings_env(), "PRODUCTSTUDIO_OFFLINE": "1"}
        for _ in range(self.size):
            self._idle.append(_Worker(self._ctx, self.threads, self.warm, self.tasks, self._env))

    def close(self) -> None:
        self.closed = True
        while self._idle:
            self._idle.pop().kill()
        self._io.shutdown(wait=False, cancel_futures=True)

    # -- state ---------------------------------------------------------------------------
    @property
    def capacity(self) -> int:
        return self.size + self.queue_size

    def stats(self) -> dict[str, Any]:
        return {
            "workers": self.size,
            "running": self._running,
            "waiting": max(0, self._admitted - self._running),
            "capacity": self.capacity,
            "avg_task_s": round(self._avg_s, 3),
            "workers_replaced": self.replaced,
        }

    def retry_after(self) -> int:
        """Seconds a refused client should wait: the line's expected drain time."""
        waves = max(1.0, self._admitted / self.size)
        return max(1, min(120, math.ceil(self._avg_s * waves)))

    # -- running -------------------------------------------------------------------------
    async def run(self, name: str, kwargs: dict[str, Any], *, timeout: float) -> Any:
        """Run task ``name`` with ``kwargs`` in a worker; its return value.

        Raises:
            QueueFull: no room (answer 429 with ``retry_after``).
            TaskTimeout: over ``timeout`` seconds, waiting included.
            TaskFailed: the task raised (``.info`` has status, code and message).
            WorkerCrashed: the worker process died.
            asyncio.CancelledError: the caller was cancelled (client gone); the worker
                running the task has been replaced.
        """
        if self.closed or self._sem is None:
            raise WorkerCrashed("the work pool is not running")
        if self._admitted >= self.capacity:
            raise QueueFull(self.retry_after())
        self._admitted += 1
        try:
            async with asyncio.timeout(timeout):
                async with self._sem:
                    return await self._run_on_worker(name, kwargs)
        except TimeoutError:
            raise TaskTimeout(f"the request took longer than {timeout:g} s") from None
        finally:
            self._admitted -= 1

    async def _run_on_worker(self, name: str, kwargs: dict[str, Any]) -> Any:
        worker = self._idle.popleft()
        loop = asyncio.get_running_loop()
        t0 = time.perf_counter()
        self._running += 1
        clean = False
        try:
            kind, value = await loop.run_in_executor(self._io, worker.roundtrip, name, kwargs)
            clean = True
        except (EOFError, OSError, BrokenPipeError):
            raise WorkerCrashed(
                "the worker process stopped while processing the image (out of memory?)"
            ) from None
        finally:
            self._running -= 1
            if clean:
                self._idle.append(worker)
            else:  # cancelled, timed out or died: kill it so the slot is free right away
                self._replace(worker)
        dt = time.perf_counter() - t0
        self._avg_s = 0.8 * self._avg_s + 0.2 * dt
        if kind == "err":
            raise TaskFailed(value)
        return value

    def _replace(self, worker: _Worker) -> None:
        worker.kill()
        self.replaced += 1
        if not self.closed:
            self._idle.append(_Worker(self._ctx, self.threads, self.warm, self.tasks, self._env))


__all__ = ["ErrorInfo", "QueueFull", "TaskFailed", "TaskTimeout", "WorkPool", "WorkerCrashed"]
