"""``run_catalog``: the one entry point for a whole-catalogue run.

The CLI's ``run``, the server's batch jobs and the benchmarks all call :func:`run_catalog`;
none of them keeps its own copy of list → plan → store → execute → summary.

Example:
    >>> from productstudio.catalog import JobSpec, RunOptions, run_catalog
    >>> summary = run_catalog(  # doctest: +SKIP
    ...     "photos/", "out/", JobSpec(model="u2netp"), RunOptions(executor="local", workers=2),
    ...     on_progress=lambda done, total: print(f"{done}/{total}"),
    ... )
    >>> summary.done, summary.failed, summary.manifest  # doctest: +SKIP
    (312, 2, PosixPath('out/manifests/run-20260101-120000-3fa2c1.jsonl'))
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from productstudio.catalog.fetching import FetchOptions
from productstudio.catalog.sources import CatalogItem, Missing
from productstudio.catalog.store import Status
from productstudio.catalog.worker import CheckLevel, ItemResult, JobSpec
from productstudio.errors import InvalidParamsError

log = logging.getLogger(__name__)

__all__ = [
    "Executor",
    "ManifestFormat",
    "RunOptions",
    "RunSummary",
    "run_catalog",
]


class Executor(StrEnum):
    """Where the items are processed."""

    SERIAL = "serial"  # in this process, one item after another
    LOCAL = "local"  # a pool of worker processes on this machine
    RAY = "ray"  # Ray Data actors (a local Ray, or a cluster given by ``ray_address``)


class ManifestFormat(StrEnum):
    """File format of the per-run manifest."""

    JSONL = "jsonl"
    CSV = "csv"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class RunOptions:
    """How a catalogue run is executed (what it produces is the :class:`JobSpec`).

    Attributes:
        executor: serial, local process pool, or Ray.
        workers: worker processes / Ray actors; 0 = auto (the cores, at most 4; 1 for serial).
        threads: OpenCV/ONNX threads per worker; 0 = the cores divided by the workers.
        ray_address: a Ray cluster (``host:port`` or ``ray://host:10001``); ``None`` starts a
            local Ray. Only with ``executor="ray"``.
        store: job store URL (``sqlite:///…``, ``postgresql+psycopg://…``); ``None`` = a
            SQLite file in the output folder.
        overwrite: redo items even when the store says they are done.
        template: output path template below the output folder, with ``{key}`` (the item's
            id, may contain ``/``), ``{name}`` (its last part), ``{preset}`` and ``{ext}``
            (``jpg``, ``png`` …); default ``{key}.{ext}``, or ``{key}/{preset}.{ext}`` with
            several presets.
        manifest: per-run manifest file format, written to ``OUTPUT/manifests/``.
        batch_size: items per worker call (and per store claim).
        lease_s: how long a claimed item stays reserved without a heartbeat; a crashed
            runner's items come back after this.
        retries: extra attempts for transient errors (network, a crashed worker).
        retry_backoff_s: first retry delay; doubled per attempt.
        missing: CSV/JSONL rows whose image file does not exist: ``keep`` (fail that item),
            ``skip`` (leave it out) or ``error`` (stop before any work).
        fetch: how ``http(s)`` image URLs in a CSV/JSONL are downloaded (SSRF-safe, size and
            time caps, per-host concurrency); a URL's output counts as done while it exists.
        check: check each output against its recipe's rules for the manifest's ``verdict``
            and ``failed_rules`` (measured on the encoded bytes; a plain-background main
            image needs no segmenter). Skipped items keep an empty verdict.
        check_text: include the text/watermark rule in that check (OCR: about 15 s per
            2000x2000 output on 2 cores, so off by default; the rule is then left out, not
            counted as a warning).
    """

    executor: Executor = Executor.LOCAL
    workers: int = 0
    threads: int = 0
    ray_address: str | None = None
    store: str | None = None
    overwrite: bool = False
    template: str | None = None
    manifest: ManifestFormat = ManifestFormat.JSONL
    batch_size: int = 4
    lease_s: float = 300.0
    retries: int = 2
    retry_backoff_s: float = 1.0
    missing: Missing = Missing.KEEP
    fetch: FetchOptions = field(default_factory=FetchOptions)
    check: bool = True
    check_text: bool = False

    @property
    def check_level(self) -> CheckLevel:
        """What the workers check (:class:`~productstudio.catalog.worker.CheckLevel`)."""
        if not self.check:
            return CheckLevel.NONE
        return CheckLevel.ALL if self.check_text else CheckLevel.RULES

    def __post_init__(self) -> None:
        for name, enum in (("executor", Executor), ("manifest", ManifestFormat)):
            try:
                object.__setattr__(self, name, enum(getattr(self, name)))
            except ValueError:
                choices = ", ".join(e.value for e in enum)
                raise InvalidParamsError(
                    f"RunOptions.{name} must be one of {choices}, got {getattr(self, name)!r}"
                ) from None
        object.__setattr__(self, "missing", Missing(self.missing))
        if self.threads < 0:
            raise InvalidParamsError(f"RunOptions.threads must be ≥ 0, got {self.threads}")
        if self.workers < 0:
            raise InvalidParamsError(f"RunOptions.workers must be ≥ 0, got {self.workers}")
        if self.batch_size < 1:
            raise InvalidParamsError(f"RunOptions.batch_size must be ≥ 1, got {self.batch_size}")
        if self.lease_s <= 0:
            raise InvalidParamsError(f"RunOptions.lease_s must be > 0, got {self.lease_s}")
        if self.retries < 0:
            raise InvalidParamsError(f"RunOptions.retries must be ≥ 0, got {self.retries}")
        if self.check_text and not self.check:
            raise InvalidParamsError("check_text needs check=True (--check-text with --no-check)")
        if self.ray_address is not None and self.executor is not Executor.RAY:
            raise InvalidParamsError("ray_address needs executor='ray' (--executor ray)")


@dataclass
class RunSummary:
    """What a run did.

    Attributes:
        run_id: the run's id in the store.
        output: the output folder (or file, for a one-image run).
        total: items (× presets) in the catalogue.
        done / skipped / failed: items written now / already done before / failed.
        unsure: items written whose cut-out the segmenter was unsure about.
        interrupted: the run was stopped (Ctrl-C or ``stop``) before every item was done;
            what was finished is kept and a re-run continues.
        failures: ``(source, message)`` of the first failed items (at most 1000).
        manifest: the manifest file, if one was written.
        seconds: wall time of the run.
        workers: worker processes / actors used.
        executor: the executor used.
        store_seconds: time spent in job-store calls (registration, claims, commits).
        lost_leases: items whose lease another runner took over before this one committed.
        peak_rss_mb: peak resident memory per worker (``host:pid``), MB.
    """

    run_id: str
    output: Path
    total: int = 0
    done: int = 0
    skipped: int = 0
    failed: int = 0
    unsure: int = 0
    interrupted: bool = False
    failures: list[tuple[str, str]] = field(default_factory=list)
    manifest: Path | None = None
    seconds: float = 0.0
    workers: int = 1
    executor: Executor = Executor.SERIAL
    store_seconds: float = 0.0
    lost_leases: int = 0
    peak_rss_mb: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Every item is done (now or before)."""
        return self.failed == 0 and not self.interrupted

    def add(self, result: ItemResult) -> None:
        """Count one item's outcome."""
        if result.status == Status.DONE:
            self.done += 1
            if "unsure" in result.message:
                self.unsure += 1
        elif result.status == Status.SKIPPED:
            self.skipped += 1
        elif result.status == Status.FAILED:
            self.failed += 1
            if len(self.failures) < 1000:
                self.failures.append((str(result.source), result.message))


ProgressFn = Callable[[int, int], None]
ResultFn = Callable[[ItemResult], None]


def run_catalog(
    source: str | Path | Iterable[CatalogItem],
    output: str | Path,
    spec: JobSpec | Sequence[JobSpec] = JobSpec(),
    options: RunOptions = RunOptions(),
    *,
    on_progress: ProgressFn | None = None,
    on_result: ResultFn | None = None,
    stop: threading.Event | None = None,
) -> RunSummary:
    """Process a whole catalogue: list → plan → store → execute → summary.

    Items already done with the same input content, settings and model are skipped; a
    crashed or interrupted run resumes where it stopped; failed items do not stop the run.

    Args:
        source: a folder of images (recursive), a CSV/JSONL catalogue (paths or http(s)
            URLs), one image, or the items themselves (e.g. uploads listed by a server).
        output: the output folder; for a one-image ``source``, a file name with an image
            extension writes exactly that file.
        spec: what to make (segmenter, canvas, recipe/preset …); several specs make several
            presets per item (the template needs ``{preset}``).
        options: how to run it (executor, workers, store, template, retries …).
        on_progress: ``(finished, total)`` after each item (skipped ones included).
        on_result: each item's :class:`ItemResult`, as it finishes.
        stop: set it to stop the run cleanly (work done so far is kept).

    Returns:
        A :class:`RunSummary`; ``summary.ok`` is False when some item failed.

    Raises:
        InputError: the catalogue cannot be read, or the output folder cannot be written
            (raised before any work starts).
        InvalidParamsError: bad options (template, executor …).
        BackendError: the model cannot be found or loaded.
        JobError: the store or the Ray cluster cannot be reached.
    """
    from productstudio.catalog._driver import execute

    specs = (spec,) if isinstance(spec, JobSpec) else tuple(spec)
    if not specs:
        raise InvalidParamsError("run_catalog needs at least one JobSpec")
    return execute(
        source if not isinstance(source, str) else Path(source),
        Path(output),
        specs,
        options,
        on_progress=on_progress,
        on_result=on_result,
        stop=stop,
    )
