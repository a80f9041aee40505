"""Async jobs: batches of photos through a preset, generator sampling, and pretrained
pipelines (AI scenes around a product, text-to-image and variations).

A job is a row in the server's store (:mod:`productstudio.server.store`) plus a folder
``data_dir/jobs/<id>/`` (inputs, outputs, ``result.zip``). :class:`JobRunner` claims queued
jobs and runs each one in its own process (so cancelling kills the work at once), which
records progress in the store; the routes read it (status, SSE) from there, so any server
process sharing the database can answer for any job. Finished jobs are deleted after the
TTL; a cancelled or failed job's files are deleted at once.

Batch jobs go through :func:`run_batch_job`, the one place that calls the catalogue's batch
runner (``catalog.run_catalog``): item outcomes land in the catalogue's own ``ps_items`` table
of the same database, and the catalogue's worker checks each output against the preset's rules
(the OCR text rule left out) for the per-image verdict. Scene and generate jobs load the
pipeline added under the job's name (``productstudio models add``) in the job process, report
progress in denoising steps, poll for cancellation after every step, and write each image with
its settings ``.json`` beside it (the record ``scene/generate --replay`` reads).
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
    from productstudio.catalog import CatalogItem, JobSpec, RunOptions, run_catalog

    spec = JobSpec(model=segmenter, recipe=preset)
    items: list[BatchItem] = []

    def on_result(res: Any) -> None:
        items.append(
            BatchItem(
                res.key,
                res.status.value,
                res.output.name if res.output else None,
                res.message,
                (res.verdict or None) if check else None,
                tuple(res.failed_rules),
            )
        )

    # the worker checks each output against the preset's rules (text rule left out: OCR)
    options = RunOptions(executor="serial", store=store_url, manifest="none", check=check)  # type: ignore[arg-type]
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
        elif job.kind is JobKind.SCENE:
            message = _run_scene(store, job, root)
        elif job.kind is JobKind.GENERATE:
            message = _run_generate(store, job, root)
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


class _Steps:
    """Progress of a pipeline job in denoising steps (store writes at most every
    ``WRITE_S``) and the cancel poll the pipeline checks after every step (the store at most
    every ``POLL_S``)."""

    WRITE_S = 0.25
    POLL_S = 0.5

    def __init__(self, store: ServerStore, job: Job) -> None:
        self.store = store
        self.job = job
        self._report = _reporter(store, job)
        self._written = 0.0
        self._polled = 0.0
        self._cancelled = False

    def message(self, done: int, total: int, text: str) -> None:
        self._report(done, total, 0, text)

    def progress(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - self._written < self.WRITE_S:
            return
        self._written = now
        self._report(done, total, 0, f"{done}/{total} steps")  # raises JobCancelled

    def cancelled(self) -> bool:
        now = time.monotonic()
        if not self._cancelled and now - self._polled >= self.POLL_S:
            self._polled = now
            job = self.store.get_job(self.job.id)
            self._cancelled = job is None or job.status is not JobStatus.RUNNING
        return self._cancelled


def _load_pipeline(p: dict[str, Any], task: Any, steps: _Steps, total: int) -> Any:
    """The job's pipeline, by the name it was added with (``models add``)."""
    from productstudio.models.pipelines.backend import DiffusersPipeline
    from productstudio.models.pipelines.options import LoadOptions

    steps.message(0, total, f"loading the model {p['pipeline']}")
    return DiffusersPipeline.load(str(p["pipeline"]), LoadOptions.from_dict(p["load"]), task=task)


def _built(p: dict[str, Any]) -> Any:
    from productstudio.models.pipelines.prompts import BuiltPrompt

    d = dict(p["prompt"])
    d["dropped"] = tuple(d.get("dropped", ()))
    return BuiltPrompt(**d)


def _input_info(path: Path) -> dict[str, Any]:
    import hashlib

    return {"name": path.name, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


def _save_outputs(
    root: Path, out: Path, made: list[tuple[Any, str, int, dict[str, Any]]]
) -> list[dict[str, Any]]:
    """Each ``(image, stem, seed, record)`` as ``outputs/NNNN_<stem>.png`` + its settings
    ``.json`` (atomic writes); ``items.json`` and the result zip list them."""
    from productstudio.models.pipelines.records import save_with_record

    rows = []
    for i, (image, stem, seed, record) in enumerate(made):
        img, js = save_with_record(image, out / f"{i:04d}_{stem}.png", record)
        rows.append(
            {
                "name": img.stem,
                "output": img.name,
                "settings": js.name,
                "seed": seed,
                "nsfw": bool(record.get("nsfw")),
            }
        )
    (root / ITEMS).write_text(json.dumps(rows, indent=1))
    _zip_results(root, out, rows)
    return rows


def _run_scene(store: ServerStore, job: Job, root: Path) -> str:
    """Scenes around the uploaded product (cut out with the job's segmenter unless it is an
    RGBA cut-out); the product's opaque pixels are kept exactly (``generate_scenes``)."""
    from dataclasses import replace

    from productstudio import api
    from productstudio.imaging import load_image
    from productstudio.imaging.types import alpha_product_mask, to_uint8
    from productstudio.models.pipelines.options import GenerationParams, Task
    from productstudio.models.pipelines.prompts import PromptBook
    from productstudio.models.pipelines.scene import (
        SceneLayout,
        generate_scenes,
        scene_params_of,
    )
    from productstudio.ops.shadow import ContactShadowParams

    p = job.params
    n = int(p["n"])
    gp = GenerationParams.from_dict(p["generation"])
    steps = _Steps(store, job)
    (src,) = sorted((root / "inputs").iterdir())
    steps.message(0, n * gp.steps, "cutting out the product")
    px = to_uint8(load_image(src).pixels)
    if alpha_product_mask(px) is not None:
        product = px
    else:
        product = api.cut_out(px[..., :3], segmenter=str(p["segmenter"])).image
    preset = PromptBook.default().scene(str(p["scene"]))
    sp = scene_params_of(preset)
    if p.get("shadow") is not None:
        opacity = float(p["shadow"])
        sp = replace(sp, shadow=ContactShadowParams(opacity=opacity) if opacity > 0 else None)
    pipe = _load_pipeline(p, Task.INPAINT, steps, n * gp.steps)
    results = generate_scenes(
        pipe,
        product,
        _built(p),
        gp,
        layout=SceneLayout.from_preset(preset, p.get("size")),
        scene=sp,
        candidates=n,
        on_progress=steps.progress,
        should_cancel=steps.cancelled,
    )
    made = [
        (
            res.image,
            f"scene-s{res.seed}",
            res.seed,
            {**res.record, "model_ref": p["pipeline"], "input": _input_info(src)},
        )
        for res in results
    ]
    _save_outputs(root, root / "outputs", made)
    flagged = sum(1 for res in results if res.generated.nsfw)
    return f"{n} scene(s)" + (f", {flagged} blanked by the safety checker" if flagged else "")


def _run_generate(store: ServerStore, job: Job, root: Path) -> str:
    """Text-to-image, or variations of the uploaded photo (``generate_images``)."""
    from productstudio.imaging import load_image
    from productstudio.models.pipelines.generate import GeneratedImage, generate_images
    from productstudio.models.pipelines.options import GenerationParams, Task

    p = job.params
    n = int(p["n"])
    gp = GenerationParams.from_dict(p["generation"])
    steps = _Steps(store, job)
    inputs = sorted((root / "inputs").iterdir())
    src = inputs[0] if inputs else None
    image = load_image(src).pixels if src is not None else None
    task = Task.IMAGE_TO_IMAGE if image is not None else Task.TEXT_TO_IMAGE
    pipe = _load_pipeline(p, task, steps, n * gp.steps)
    made: list[tuple[Any, str, int, dict[str, Any]]] = []

    def keep(g: GeneratedImage) -> None:
        record = {**g.record, "model_ref": p["pipeline"]}
        if src is not None:
            record["input"] = _input_info(src)
        stem = "variation" if src is not None else "generated"
        made.append((g.image, f"{stem}-s{g.seed}", g.seed, record))

    generate_images(
        pipe,
        _built(p),
        gp,
        count=n,
        image=image,
        on_progress=steps.progress,
        should_cancel=steps.cancelled,
        on_image=keep,
    )
    _save_outputs(root, root / "outputs", made)
    return f"{n} image(s)"


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
