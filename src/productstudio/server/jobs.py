"""Async jobs: batches of photos through a preset, and generator sampling.

A job is a row in the server's store (:mod:`productstudio.server.store`) plus a folder
``data_dir/jobs/<id>/`` (inputs, outputs, ``result.zip``). :class:`JobRunner` claims queued
jobs and runs each one in its own process (so cancelling kills the work at once), which
records progress in the store; the routes read it (status, SSE) from there, so any server
process sharing the database can answer for any job. Finished jobs are deleted after the
TTL; a cancelled or failed job's files are deleted at once.

Batch jobs go through :func:`run_batch_job`, the one place that calls the catalogue's batch
runner (``catalog.run_catalog``): item outcomes land in the
catalogue's own ``ps_items`` table of the same database, and each output is checked against
the preset's rules (text rule off) for the per-image verdict.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import multiprocessing
import re
import shutil
import signal
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from productstudio.errors import ProductStudioError
from productstudio.server.store import Job, JobKind, JobStatus, ServerStore

log = logging.getLogger(__name__)

RESULT = "result.zip"
ITEMS = "items.json"


class JobCancelled(Exception):
    """Raised inside a job when its row says it was cancelled."""


def safe_name(name: str, index: int) -> str:
    """A file name for an upload: its base name reduced to safe characters, prefixed with its
    index (so two uploads never collide and no client path reaches the file system)."""
    base = re.split(r"[\\/]", name or "")[-1]
    stem, dot, ext = base.rpartition(".")
    if not dot:
        stem, ext = base, ""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._")[:80] or "image"
    ext = re.sub(r"[^A-Za-z0-9]+", "", ext)[:8].lower()
    return f"{index:04d}_{stem}" + (f".{ext}" if ext else "")


def job_dir(data_dir: Path, job_id: str) -> Path:
    if not re.fullmatch(r"[0-9a-f]{32}", job_id):
        raise ValueError("bad job id")
    return data_dir / "jobs" / job_id


# -- the one batch entry point --------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class BatchItem:
    name: str
    status: str
    output: str | None
    message: str
    verdict: str | None = None
    failed_rules: tuple[str, ...] = ()


def run_batch_job(
    inputs: list[Path],
    out_dir: Path,
    *,
    preset: str,
    segmenter: str,
    store_url: str,
    check: bool = True,
    on_progress: Callable[[int, int], None] | None = None,
) -> list[BatchItem]:
    """Run ``preset`` over ``inputs`` into ``out_dir``; one :class:`BatchItem` per input.

    This is the only call into the catalogue: :func:`productstudio.catalog.run_catalog`
    (one serial worker in this job process, outcomes in the run store at ``store_url``).
    """
    from productstudio import api
    from productstudio.catalog import CatalogItem, JobSpec, RunOptions, Status, run_catalog

    spec = JobSpec(model=segmenter, recipe=preset)
    items: list[BatchItem] = []

    def on_result(res: Any) -> None:
        verdict: str | None = None
        failed: tuple[str, ...] = ()
        if check and res.status == Status.DONE and res.output is not None:
            try:
                rep = api.check(res.output, preset, segmenter=segmenter, text_detector=None)
                verdict = rep.verdict.value
                failed = tuple(r.rule for r in rep.results if r.status.value == "fail")
            except ProductStudioError as exc:
                verdict = f"not checked: {exc}"
        items.append(
            BatchItem(
                res.key,
                res.status.value,
                res.output.name if res.output else None,
                res.message,
                verdict,
                failed,
            )
        )

    options = RunOptions(executor="serial", store=store_url, manifest="none")  # type: ignore[arg-type]
    run_catalog(
        [CatalogItem(p, p.stem) for p in inputs],
        out_dir,
        spec,
        options,
        on_progress=on_progress,
        on_result=on_result,
    )
    return items


# -- inside the job process --------------------------------------------------------------------
def _job_main(job_id: str, store_url: str, folder: str, env: dict[str, str]) -> None:
    """Entry point of a job process."""
    from productstudio.server.pool import apply_env

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    apply_env(env)
    logging.basicConfig(level=logging.WARNING)
    store = ServerStore(store_url)
    root = Path(folder)
    try:
        job = store.get_job(job_id)
        if job is None:
            return
        if job.kind is JobKind.BATCH:
            message = _run_batch(store, job, root, store_url)
        else:
            message = _run_sample(store, job, root)
        store.finish(job_id, JobStatus.DONE, message, RESULT)
    except JobCancelled:
        pass
    except ProductStudioError as exc:
        store.finish(job_id, JobStatus.FAILED, str(exc))
    except Exception as exc:  # report, never leave a job "running"
        log.exception("job %s crashed", job_id)
        store.finish(job_id, JobStatus.FAILED, f"internal error: {exc.__class__.__name__}: {exc}")
    finally:
        store.close()


def _reporter(store: ServerStore, job: Job) -> Callable[[int, int, int, str], None]:
    def report(done: int, total: int, failed: int, message: str) -> None:
        current = store.get_job(job.id)
        if current is None or current.status is not JobStatus.RUNNING:
            raise JobCancelled()
        store.progress(job.id, done, total, failed, message)

    return report


def _run_batch(store: ServerStore, job: Job, root: Path, store_url: str) -> str:
    inputs = sorted((root / "inputs").iterdir())
    out = root / "outputs"
    report = _reporter(store, job)
    state = {"failed": 0}
    report(0, len(inputs), 0, "running")

    def progress(done: int, total: int) -> None:
        report(done, total, state["failed"], f"{done}/{total} images")

    items = run_batch_job(
        inputs,
        out,
        preset=str(job.params["preset"]),
        segmenter=str(job.params.get("segmenter", "auto")),
        store_url=store_url,
        check=bool(job.params.get("check", True)),
        on_progress=progress,
    )
    failed = sum(1 for it in items if it.status == "failed")
    rows = [
        {
            "name": it.name,
            "status": it.status,
            "output": it.output,
            "message": it.message,
            "verdict": it.verdict,
            "failed_rules": list(it.failed_rules),
        }
        for it in items
    ]
    (root / ITEMS).write_text(json.dumps(rows, indent=1))
    _zip_results(root, out, rows)
    store.progress(job.id, len(items), len(items), failed, "zipping")
    return f"{len(items) - failed} done, {failed} failed"


def _run_sample(store: ServerStore, job: Job, root: Path) -> str:
    from productstudio import api
    from productstudio.imaging import save_image
    from productstudio.models.conditioning.fusion import Prompt
    from productstudio.models.generators import load_generator

    report = _reporter(store, job)
    p = job.params
    n, seed = int(p["n"]), int(p["seed"])
    report(0, n, 0, "loading the generator")
    gen = load_generator(Path(p["generator_dir"]))
    out = root / "outputs"
    prompt = Prompt(str(p.get("title", "")), dict(p.get("attrs", {})))
    done = 0
    chunk = 8
    while done < n:
        k = min(chunk, n - done)
        images = api.sample(gen, prompt, n=k, seed=seed + done)
        for i, im in enumerate(images):
            save_image(im, out / f"sample_{done + i:03d}.png")
        done += k
        report(done, n, 0, f"{done}/{n} samples")
    rows = [{"name": f.stem, "output": f.name} for f in sorted(out.iterdir())]
    _zip_results(root, out, rows)
    return f"{n} samples"


def _zip_results(root: Path, out: Path, rows: list[dict[str, Any]]) -> None:
    tmp = root / (RESULT + ".part")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as z:
        if out.is_dir():
            for f in sorted(out.iterdir()):
                if f.is_file() and not f.name.startswith("."):
                    z.write(f, f.name)
        z.writestr("report.json", json.dumps(rows, indent=1))
    tmp.replace(root / RESULT)


# -- in the server process ---------------------------------------------------------------------
class JobRunner:
    """Claims queued jobs and runs each in its own process (at most ``concurrency``)."""

    def __init__(
        self, store: ServerStore, data_dir: Path, *, concurrency: int, ttl_hours: float
    ) -> None:
        self.store = store
        self.data_dir = data_dir
        self.concurrency = concurrency
        self.ttl_s = ttl_hours * 3600.0
        self._procs: dict[str, BaseProcess] = {}
        self._ctx = multiprocessing.get_context("spawn")
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._last_sweep = 0.0
        self._env: dict[str, str] = {}

    def start(self) -> None:
        from productstudio.server.pool import settings_env

        self._env = settings_env()
        n = self.store.requeue_orphans()
        if n:
            log.warning("re-queued %d job(s) left running by a stopped server", n)
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for job_id, proc in list(self._procs.items()):
            proc.kill()
            proc.join(timeout=5)
            # the job goes back to the queue for the next server start
            with contextlib.suppress(ProductStudioError):
                self._requeue(job_id)
        self._procs.clear()

    def _requeue(self, job_id: str) -> None:
        from sqlalchemy import update
        from sqlalchemy.orm import Session

        from productstudio.server.store import JobRow

        with Session(self.store.engine) as s, s.begin():
            s.execute(
                update(JobRow)
                .where(JobRow.id == job_id, JobRow.status == JobStatus.RUNNING.value)
                .values(status=JobStatus.QUEUED.value, message="re-queued at server stop")
            )

    def wake(self) -> None:
        self._wake.set()

    def running(self) -> int:
        return len(self._procs)

    async def _loop(self) -> None:
        while True:
            try:
                self._reap()
                while len(self._procs) < self.concurrency:
                    job = await asyncio.to_thread(self.store.claim_next)
                    if job is None:
                        break
                    self._launch(job)
                if time.time() - self._last_sweep > 60:
                    self._last_sweep = time.time()
                    await asyncio.to_thread(self.sweep)
            except asyncio.CancelledError:
                raise
            except Exception:  # keep the runner alive; the job rows carry the failure
                log.exception("job runner error")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=0.5)

    def _launch(self, job: Job) -> None:
        folder = job_dir(self.data_dir, job.id)
        (folder / "outputs").mkdir(parents=True, exist_ok=True)
        proc = self._ctx.Process(
            target=_job_main,
            args=(job.id, self.store.url, str(folder), self._env),
            daemon=True,
            name=f"ps-job-{job.id[:8]}",
        )
        proc.start()
        self._procs[job.id] = proc

    def _reap(self) -> None:
        for job_id, proc in list(self._procs.items()):
            if proc.is_alive():
                continue
            proc.join(timeout=1)
            del self._procs[job_id]
            job = self.store.get_job(job_id)
            if job is not None and job.status is JobStatus.RUNNING:
                self.store.finish(
                    job_id,
                    JobStatus.FAILED,
                    f"the job process stopped unexpectedly (exit code {proc.exitcode})",
                )
                job = self.store.get_job(job_id)
            if job is not None and job.status in (JobStatus.FAILED, JobStatus.CANCELLED):
                self.remove_files(job_id)

    def cancel(self, job_id: str) -> bool:
        """Cancel a queued or running job; its files are deleted. False if already finished."""
        ok = self.store.finish(job_id, JobStatus.CANCELLED, "cancelled")
        proc = self._procs.pop(job_id, None)
        if proc is not None:
            proc.kill()
            proc.join(timeout=5)
        if ok:
            self.remove_files(job_id)
        return ok

    def remove_files(self, job_id: str) -> None:
        shutil.rmtree(job_dir(self.data_dir, job_id), ignore_errors=True)

    def delete(self, job_id: str) -> None:
        self.cancel(job_id)
        self.remove_files(job_id)
        self.store.delete_job(job_id)

    def sweep(self) -> int:
        """Delete finished jobs older than the TTL (rows and files)."""
        old = self.store.expired(time.time() - self.ttl_s)
        for job_id in old:
            self.remove_files(job_id)
            self.store.delete_job(job_id)
        return len(old)


__all__ = ["BatchItem", "JobRunner", "job_dir", "run_batch_job", "safe_name"]
