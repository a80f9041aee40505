"""The body of :func:`productstudio.catalog.run_catalog` (kept apart from its signature).

1. check the output folder and resolve each spec's model (name + weights sha256) → job hash;
2. open the store, mark dead runs on this output as crashed, start this run;
3. stream the catalogue into the store in chunks (duplicate ids fail here, before any work);
   items done for the same job, with the input and output unchanged on disk, are skipped;
4. claim batches with a lease, run them on the executor, commit each outcome (transient
   failures back off and retry; permanent ones keep their reason), write the manifest;
5. finish the run (interrupted runs give back their items; a re-run continues).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import signal
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from productstudio.catalog.faults import fault_point
from productstudio.catalog.fetching import is_url
from productstudio.catalog.job import (
    Executor,
    ManifestFormat,
    ProgressFn,
    ResultFn,
    RunOptions,
    RunSummary,
)
from productstudio.catalog.manifest import ManifestWriter
from productstudio.catalog.runners.base import WorkerFactory, make_runner
from productstudio.catalog.sources import IMAGE_EXTENSIONS, CatalogItem, iter_items
from productstudio.catalog.store import (
    ClaimedItem,
    JobStore,
    Outcome,
    PlannedItem,
    RunState,
    Status,
)
from productstudio.catalog.worker import CatalogWorker, ItemResult, JobSpec, Task
from productstudio.errors import InvalidParamsError, JobError, OutputError

log = logging.getLogger(__name__)

STORE_NAME = ".productstudio-jobs.sqlite"
CHUNK = 500  # catalogue rows registered per store transaction
_FIELDS = ("key", "id", "name", "preset", "ext")


def default_workers() -> int:
    """Worker processes for ``workers=0``: the cores, at most 4."""
    return max(1, min(4, os.cpu_count() or 1))


def scope_of(output: Path) -> str:
    """The store's name for an output folder (a hash of its absolute path)."""
    return hashlib.sha256(str(output.expanduser().absolute()).encode()).hexdigest()[:32]


def default_store_url(output: Path) -> str:
    return f"sqlite:///{output / STORE_NAME}"


# -- jobs: settings + model -------------------------------------------------------------------

_MODEL_HASHES: dict[tuple[str, int, int], str] = {}


def model_identity(spec: JobSpec) -> tuple[str, str]:
    """(segmenter name, weights sha256 or ``builtin``) that ``spec.model`` resolves to here.

    Raises:
        BackendError: unknown model or missing weights.
    """
    from productstudio.models.discovery import resolve
    from productstudio.models.pull import sha256_of
    from productstudio.models.segmenters import SEGMENTERS

    entry, path = resolve(SEGMENTERS, spec.model)
    if path is None:
        return entry.name, "builtin"
    st = path.stat()
    ident = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if ident not in _MODEL_HASHES:
        _MODEL_HASHES[ident] = sha256_of(path)
    return entry.name, _MODEL_HASHES[ident]


@dataclass(frozen=True)
class _Job:
    spec: JobSpec
    preset: str
    ext: str
    settings: str
    model: str
    model_hash: str

    @property
    def hash(self) -> str:
        text = f"{self.settings}|{self.model}|{self.model_hash}"
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    def describe(self) -> dict[str, Any]:
        return {
            "preset": self.preset,
            "job": self.hash,
            "settings": self.settings,
            "model": self.model,
            "model_hash": self.model_hash,
            "ext": self.ext,
        }


def _jobs(specs: Sequence[JobSpec]) -> list[_Job]:
    jobs = []
    for spec in specs:
        model, model_hash = model_identity(spec)
        jobs.append(
            _Job(
                spec, spec.preset, spec.suffix.lstrip("."), spec.settings_hash(), model, model_hash
            )
        )
    names = [j.preset for j in jobs]
    if len(set(names)) != len(names):
        raise InvalidParamsError(f"each preset of a run must differ, got {names}")
    return jobs


# -- output paths -----------------------------------------------------------------------------


def check_template(template: str, several: bool) -> None:
    """Raise InvalidParamsError unless ``template`` makes one distinct relative path per item."""
    import string

    names = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
    unknown = names - set(_FIELDS)
    if unknown or "" in names:
        raise InvalidParamsError(
            f"output template '{template}': unknown field(s) {sorted(unknown) or ['{}']}; use "
            "{key} (or {id}), {name}, {preset}, {ext}, e.g. '{key}/{preset}.{ext}'."
        )
    if not names & {"key", "id"}:
        raise InvalidParamsError(
            f"output template '{template}' has no {{key}}: every item would write the same file."
        )
    if several and "preset" not in names:
        raise InvalidParamsError(
            f"output template '{template}' has no {{preset}}, but the run makes several presets "
            "per item: they would overwrite each other. Add {preset}, e.g. '{key}/{preset}.{ext}'."
        )
    if template.startswith("/") or ".." in Path(template).parts:
        raise InvalidParamsError(
            f"output template '{template}' must stay inside the output folder (no leading '/' "
            "or '..')."
        )


def output_path(root: Path, template: str, key: str, preset: str, ext: str) -> Path:
    rel = template.format(key=key, id=key, name=key.rsplit("/", 1)[-1], preset=preset, ext=ext)
    return root / rel


def check_output_folder(folder: Path) -> None:
    """Create ``folder`` and prove it is writable, or raise one clear OutputError."""
    probe = folder / f".productstudio-write-test-{os.getpid()}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        why = exc.strerror or str(exc)
        if isinstance(exc, NotADirectoryError) or (
            exc.errno is not None and exc.errno == 20  # ENOTDIR: a parent is a file
        ):
            why = "a part of the path is a file, not a folder"
        raise OutputError(
            f'Cannot write to the output folder "{folder}": {why}. Choose a folder you can '
            "write to with -o.",
            path=folder,
        ) from None


def _norm_ext(ext: str) -> str:
    e = ext.lower().lstrip(".")
    return {"jpeg": "jpg", "jpe": "jpg", "tiff": "tif"}.get(e, e)


def _single_file_target(source: Path, output: Path) -> bool:
    return (
        source.is_file()
        and source.suffix.lower() in IMAGE_EXTENSIONS
        and output.suffix.lower() in IMAGE_EXTENSIONS
        and not output.is_dir()
    )


# -- the run ----------------------------------------------------------------------------------


class _Heartbeat(threading.Thread):
    """Renews this run's leases (and refreshes the list of peer runs) every few seconds."""

    def __init__(self, store: JobStore, run_id: str, scope: str, lease_s: float) -> None:
        super().__init__(name="productstudio-heartbeat", daemon=True)
        self.store, self.run_id, self.scope, self.lease_s = store, run_id, scope, lease_s
        self.period = max(0.2, min(10.0, lease_s / 3))
        self.halt = threading.Event()
        self.peers: list[str] = [run_id]
        self.error: Exception | None = None

    def run(self) -> None:
        while not self.halt.wait(self.period):
            try:
                self.store.heartbeat(self.run_id, self.lease_s)
                self.peers = self.store.peers(self.scope, self.run_id)
            except JobError as exc:  # keep trying: the lease is long enough for a hiccup
                self.error = exc


def _tasks(claimed: Sequence[ClaimedItem]) -> list[Task]:
    return [
        Task(
            c.key,
            Path(c.key if is_url(c.source) else c.source),
            Path(c.output),
            tuple(sorted(c.attrs.items())),
            item_id=c.id,
            preset=c.preset,
            done_input_hash=c.input_hash if c.done_job == c.job else None,
            done_output_size=c.output_size if c.done_job == c.job else None,
            url=c.source if is_url(c.source) else "",
        )
        for c in claimed
    ]


def _unchanged(row: dict[str, Any]) -> bool:
    """The input still has its recorded size and mtime, and the output its recorded size.
    (A URL input is not fetched again: its output counts as done while it exists intact.)"""
    try:
        out = os.stat(row["output"])
        if is_url(row["source"]):
            return out.st_size == row["output_size"]
        st = os.stat(row["source"])
    except OSError:
        return False
    return (
        st.st_size == row["input_size"]
        and st.st_mtime_ns == row["input_mtime_ns"]
        and out.st_size == row["output_size"]
    )


def _record(res: ItemResult) -> dict[str, Any]:
    return {
        "key": res.key,
        "preset": res.preset,
        "status": str(res.status),
        "source": str(res.source),
        "output": str(res.output) if res.output is not None else "",
        "size": res.output_size,
        "sha256": res.output_hash,
        "seconds": round(res.seconds, 4),
        "timings": {k: round(v, 4) for k, v in res.timings},
        "verdict": res.verdict,
        "failed_rules": list(res.failed_rules),
        "confidence": res.confidence,
        "unsure": res.unsure,
        "message": res.message,
    }


def _skipped_result(row: dict[str, Any]) -> ItemResult:
    return ItemResult(
        row["key"],
        Path(row["source"]),
        Path(row["output"]),
        Status.SKIPPED,
        "already done",
        item_id=row["id"],
        preset=row["preset"],
        output_hash=row["output_hash"],
        output_size=row["output_size"],
        confidence=row["confidence"],
        unsure=bool(row["unsure"]),
    )


@contextlib.contextmanager
def _ctrl_c(stop: threading.Event) -> Iterator[None]:
    """First Ctrl-C: stop claiming and finish what is in flight; second: stop at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)

    def handler(signum: int, frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        log.warning("stopping: finishing the items in progress (Ctrl-C again to stop now)")

    signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def execute(
    source: Path | Iterable[CatalogItem],
    output: Path,
    specs: Sequence[JobSpec],
    options: RunOptions,
    *,
    on_progress: ProgressFn | None,
    on_result: ResultFn | None,
    stop: threading.Event | None,
) -> RunSummary:
    t0 = time.perf_counter()
    stop = stop or threading.Event()
    jobs = _jobs(specs)
    several = len(jobs) > 1
    single = isinstance(source, Path) and _single_file_target(source, output) and not several
    if single:
        if _norm_ext(jobs[0].ext) != _norm_ext(output.suffix):
            raise InvalidParamsError(
                f'"{output}": the job writes .{jobs[0].ext} files; name the output '
                f"with that extension (or choose the format to match)."
            )
        root = output.parent if str(output.parent) else Path(".")
        template = output.name
        check_output_folder(root)
    else:
        root = output
        template = options.template or ("{key}/{preset}.{ext}" if several else "{key}.{ext}")
        check_template(template, several)
        check_output_folder(root)
    if options.store:
        store_url = options.store
    elif single:
        store_url = "sqlite://"
    else:
        store_url = default_store_url(root)
    executor = Executor(options.executor)
    if executor is Executor.RAY:
        from productstudio.catalog.runners.ray import check_address
        from productstudio.errors import require

        require("ray", "ray")
        if options.ray_address:
            check_address(options.ray_address)  # before any work: seconds, not minutes
    store = JobStore(store_url)
    workers = 1 if executor is Executor.SERIAL else options.workers or default_workers()
    run_id = uuid.uuid4().hex
    scope = scope_of(output if single else root)
    summary = RunSummary(run_id=run_id, output=output, executor=executor, workers=workers)
    manifest: ManifestWriter | None = None
    stamp = time.strftime("%Y%m%d-%H%M%S")
    if options.manifest is not ManifestFormat.NONE and not single:
        manifest = ManifestWriter(
            root / "manifests" / f"run-{stamp}-{run_id[:6]}.{options.manifest.value}"
        )
        summary.manifest = manifest.path
    try:
        store.recover(scope)
        store.start_run(
            run_id,
            scope=scope,
            output=str(output),
            source=str(source) if isinstance(source, Path) else "<items>",
            jobs=[j.describe() for j in jobs],
            executor=executor.value,
            workers=workers,
            lease_s=options.lease_s,
        )
        state = RunState.INTERRUPTED
        with _ctrl_c(stop):
            try:
                _register_and_run(
                    store,
                    run_id,
                    scope,
                    source,
                    root,
                    template,
                    jobs,
                    options,
                    summary,
                    manifest,
                    on_progress,
                    on_result,
                    stop,
                    single=single,
                    workers=workers,
                )
                state = RunState.INTERRUPTED if stop.is_set() else RunState.FINISHED
            finally:
                summary.interrupted = state is RunState.INTERRUPTED
                store.finish_run(run_id, state, summary.total)
    finally:
        if manifest is not None:
            manifest.close()
        summary.seconds = time.perf_counter() - t0
        summary.store_seconds = store.seconds
        store.close()
    return summary


def _register_and_run(
    store: JobStore,
    run_id: str,
    scope: str,
    source: Path | Iterable[CatalogItem],
    root: Path,
    template: str,
    jobs: Sequence[_Job],
    options: RunOptions,
    summary: RunSummary,
    manifest: ManifestWriter | None,
    on_progress: ProgressFn | None,
    on_result: ResultFn | None,
    stop: threading.Event,
    *,
    single: bool,
    workers: int,
) -> None:
    finished = 0

    def report(res: ItemResult) -> None:
        nonlocal finished
        summary.add(res)
        finished += 1
        if manifest is not None:
            manifest.write(_record(res))
        if on_result is not None:
            on_result(res)
        if on_progress is not None:
            on_progress(finished, summary.total)

    # 3. registration (streamed, in chunks)
    if isinstance(source, Path):
        items: Iterable[CatalogItem] = iter_items(
            source, missing=options.missing, exclude=[] if single else [root]
        )
    else:
        items = source
    chunk: list[PlannedItem] = []

    def flush() -> None:
        reg = store.register(
            run_id, scope, chunk, overwrite=options.overwrite, is_unchanged=_unchanged
        )
        summary.total += len(chunk)
        for row in reg.skipped:
            report(_skipped_result(row))
        chunk.clear()

    for item in items:
        for job in jobs:
            out = output_path(root, template, item.key, job.preset, job.ext)
            chunk.append(
                PlannedItem(
                    key=item.key,
                    preset=job.preset,
                    source=item.url or str(item.path),
                    output=str(out),
                    job=job.hash,
                    origin=item.origin,
                    attrs=dict(item.attrs),
                )
            )
        if len(chunk) >= CHUNK:
            flush()
        if stop.is_set():
            return
    if chunk:
        flush()
    store.set_total(run_id, summary.total)
    fault_point("registered")
    if summary.total == summary.skipped:
        return

    # 4. claim → run → commit
    heart = _Heartbeat(store, run_id, scope, options.lease_s)
    heart.start()
    threads = options.threads or _threads(workers)
    fetch = options.fetch.split(workers)
    factory = WorkerFactory(
        CatalogWorker, (tuple(j.spec for j in jobs), threads, fetch, options.check_level)
    )
    runner = make_runner(
        options.executor,
        factory,
        workers,
        ray_address=options.ray_address,
        batch_size=options.batch_size,
        threads=threads,
    )
    poison = options.retries + 2

    def batches() -> Iterator[list[Task]]:
        heart.peers = store.peers(scope, run_id)
        while not stop.is_set():
            claimed = store.claim(
                run_id, scope, options.batch_size, options.lease_s, listed_by=heart.peers
            )
            if not claimed:  # runners that started since may have re-listed items
                heart.peers = store.peers(scope, run_id)
                claimed = store.claim(
                    run_id, scope, options.batch_size, options.lease_s, listed_by=heart.peers
                )
            if claimed:
                fault_point("claimed")
                dead = [c for c in claimed if c.claims > poison]
                if dead:
                    _commit(
                        [
                            ItemResult(
                                c.key,
                                Path(c.source),
                                None,
                                Status.FAILED,
                                f"{c.source}: a worker died {c.claims - 1} times on this item; "
                                "it is left out (check the file, e.g. its size).",
                                item_id=c.id,
                                preset=c.preset,
                            )
                            for c in dead
                        ],
                        {},
                    )
                live = [c for c in claimed if c.claims <= poison]
                for c in live:
                    attempts[c.id] = c.attempts
                if live:
                    yield _tasks(live)
                continue
            if runner.in_flight:
                yield []
                continue
            waiting, next_at = store.waiting(scope, heart.peers)
            if waiting == 0:
                return
            delay = 0.5 if next_at is None else min(1.0, max(0.02, next_at - time.time()))
            stop.wait(delay)

    attempts: dict[int, int] = {}

    def _commit(results: list[ItemResult], claimed_attempts: dict[int, int]) -> None:
        now = time.time()
        outcomes: list[Outcome] = []
        final: list[ItemResult] = []
        for r in results:
            status = r.status
            retry_at = 0.0
            message = r.message
            if r.status == Status.FAILED and r.retryable:
                n = claimed_attempts.get(r.item_id, 0)
                if n < options.retries:
                    status = Status.PENDING
                    retry_at = now + options.retry_backoff_s * (2**n)
                else:
                    message = f"{message} (gave up after {n + 1} attempts)"
            outcomes.append(
                Outcome(
                    r.item_id,
                    status,
                    message,
                    r.seconds,
                    dict(r.timings),
                    r.input_hash,
                    r.input_size,
                    r.input_mtime_ns,
                    r.output_hash,
                    r.output_size,
                    r.confidence,
                    r.unsure,
                    None,
                    r.backend,
                    r.worker,
                    retry_at,
                )
            )
            if status != Status.PENDING:
                final.append(r if message == r.message else _with_message(r, message))
        lost = set(store.commit(run_id, outcomes, each=lambda _o: fault_point("commit")))
        for r in final:
            if r.item_id not in lost:
                report(r)
            else:
                summary.lost_leases += 1

    with runner:
        for results in runner.run(batches()):
            _commit(results, attempts)
            for r in results:
                if r.rss_mb:
                    summary.peak_rss_mb[r.worker] = max(
                        summary.peak_rss_mb.get(r.worker, 0.0), r.rss_mb
                    )
    heart.halt.set()
    heart.join(timeout=5)


def _with_message(r: ItemResult, message: str) -> ItemResult:
    from dataclasses import replace

    return replace(r, message=message)


def _threads(workers: int) -> int:
    return max(1, (os.cpu_count() or 1) // max(1, workers))


__all__ = ["STORE_NAME", "default_workers", "execute", "model_identity", "scope_of"]
