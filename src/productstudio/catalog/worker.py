"""The per-image worker of a batch run.

Like Ray Data's ``map_batches`` callables: the class loads its model once in ``__init__``
(picklable constructor arguments), ``__call__`` processes one item, writes its output
atomically and returns an :class:`ItemResult`, and :meth:`MainImageWorker.process_batch`
does a list of them. :class:`CatalogWorker` holds one worker per preset of a run; the
serial, local-pool and Ray runners all run it (``catalog/runners``).

The worker runs a recipe and nothing else: :meth:`JobSpec.build_recipe` is the spec's
recipe file or preset, or else the main job (the ``amazon-main`` preset with the spec's
canvas, cut-out, background and format: :func:`productstudio.recipes.main_image_recipe`).

Each result carries the input's content hash (sha256 of its bytes), the output's hash and
size, per-stage timings (read, decode, process, encode, write, check) and the output's
compliance verdict against its recipe's rules (:class:`CheckLevel`: by default every rule but
the slow OCR text rule, measured on the encoded bytes); an item whose recorded input hash
still matches and whose output is intact is *skipped* without decoding. A recipe with
``scene`` steps also gets each output's generation settings written beside it
(``out/a.jpg`` + ``out/a.json``, atomically and before the image).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from productstudio.catalog.faults import fault_point
from productstudio.catalog.store import Status
from productstudio.errors import InputError, InvalidParamsError, ProductStudioError
from productstudio.imaging import ImageFormat, LoadedImage, load_image, write_atomic
from productstudio.imaging.color import parse_color
from productstudio.models.pipelines.records import sidecar_bytes, sidecar_path
from productstudio.models.segmenters import Segmenter, load_segmenter
from productstudio.ops.canvas import CanvasParams, MinSize
from productstudio.ops.cutout import CutoutParams
from productstudio.recipes import Recipe, RecipeResult, StepContext, load_recipe, main_image_recipe

if TYPE_CHECKING:
    from productstudio.catalog.fetching import FetchOptions

log = logging.getLogger(__name__)


#: The main job's canvas: 2000x2000, 85 % fill, a warning past 2x enlargement.
MAIN_CANVAS = CanvasParams(min_size=MinSize.WARN, upscale_tolerance=2.0)


@dataclass(frozen=True, slots=True)
class JobSpec:
    """Everything that decides a batch run's output (hashed to detect changed settings).

    Attributes:
        model: segmenter name, ``auto`` or a path to a model file.
        canvas: canvas geometry (default: Amazon main image, 2000x2000 at 85 % fill; a
            product enlarged more than 2x gets a warning).
        cutout: alpha refinement.
        background: canvas colour; ``None`` keeps transparency (PNG/WebP output).
        fmt: output format.
        quality: JPEG/WebP quality.
        max_pixels: input pixel limit (``None``: the setting, 50 MP).
        use_input_alpha: an input that already has transparency is used as its own cut-out.
        recipe: a preset name or recipe file; when set, the recipe decides the canvas,
            background and output format (``canvas``, ``background``, ``fmt`` are ignored).
    """

    model: str = "auto"
    canvas: CanvasParams = MAIN_CANVAS
    cutout: CutoutParams = field(default_factory=CutoutParams)
    background: str | None = "#ffffff"
    fmt: ImageFormat = ImageFormat.JPEG
    quality: int = 92
    max_pixels: int | None = None
    use_input_alpha: bool = True
    recipe: str | None = None

    def __post_init__(self) -> None:
        if self.background is not None:
            parse_color(self.background)
        if self.background is None and not self.fmt.supports_alpha:
            raise InvalidParamsError(
                "a transparent background needs PNG, WebP, TIFF or AVIF output, "
                f"not {self.fmt.value}"
            )
        if not 1 <= self.quality <= 100:
            raise InvalidParamsError(f"quality must be in 1..100, got {self.quality}")

    def build_recipe(self) -> Recipe:
        """The recipe this job runs: ``recipe`` when set, else the main job with this spec's
        canvas, cut-out, background and output options."""
        if self.recipe is not None:
            return load_recipe(self.recipe)
        return main_image_recipe(
            canvas=self.canvas,
            cutout=self.cutout,
            background=self.background,
            fmt=self.fmt,
            quality=self.quality,
            keep_alpha=self.use_input_alpha,
        )

    @property
    def suffix(self) -> str:
        """The output files' extension (``.jpg`` …)."""
        if self.recipe is not None:
            return load_recipe(self.recipe).output_settings().format.suffix
        return self.fmt.suffix

    @property
    def preset(self) -> str:
        """The label of this spec's outputs (``{preset}`` in templates)."""
        if self.recipe is None:
            return "main"
        if self.recipe.lower().endswith((".yaml", ".yml")):
            return Path(self.recipe).stem
        return self.recipe

    def settings_hash(self) -> str:
        """A short stable hash of the settings (and of the recipe file's contents)."""
        data = json.dumps(asdict(self), sort_keys=True, default=str)
        if self.recipe is not None and Path(self.recipe).is_file():
            data += hashlib.sha256(Path(self.recipe).read_bytes()).hexdigest()
        return hashlib.sha256(data.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Task:
    """One unit of work: read ``source``, write ``output``.

    Attributes:
        key: the item's id (names its outputs).
        source: the input file.
        output: the output file.
        attrs: catalogue attributes (CSV/JSONL columns).
        item_id: the item's row in the job store (0 outside a store).
        preset: which of the run's specs makes this output.
        done_input_hash: the input hash recorded with the output now on disk, when that output
            is done for this job: if the input still has that hash and the output is intact,
            the item is skipped.
        done_output_size: that output's recorded size in bytes.
        url: an http(s) URL to download instead of reading ``source``.
    """

    key: str
    source: Path
    output: Path
    attrs: tuple[tuple[str, str], ...] = ()
    item_id: int = 0
    preset: str = ""
    done_input_hash: str | None = None
    done_output_size: int | None = None
    url: str = ""


@dataclass(frozen=True, slots=True)
class ItemResult:
    """What happened to one item.

    ``retryable`` marks transient failures (I/O hiccups, network, a crashed worker) that a
    run retries with back-off; other failures are permanent and keep their reason.
    ``verdict`` is the output's compliance verdict against its recipe's rules (``pass``,
    ``warn``, ``fail``; empty when not checked) and ``failed_rules`` the rules it fails.
    """

    key: str
    source: Path
    output: Path | None
    status: Status
    message: str = ""
    seconds: float = 0.0
    confidence: float | None = None
    backend: str = ""
    item_id: int = 0
    preset: str = ""
    timings: tuple[tuple[str, float], ...] = ()
    input_hash: str | None = None
    input_size: int | None = None
    input_mtime_ns: int | None = None
    output_hash: str | None = None
    output_size: int | None = None
    unsure: bool = False
    retryable: bool = False
    worker: str = ""
    rss_mb: float = 0.0
    verdict: str = ""
    failed_rules: tuple[str, ...] = ()


class CheckLevel(StrEnum):
    """Which of its recipe's rules each output is checked against (the manifest verdict)."""

    NONE = "none"  # no verdict
    RULES = "rules"  # every rule but text/watermarks: cheap (no OCR), the default
    ALL = "all"  # the text rule too: OCR, ~15 s per 2000x2000 output on 2 cores


class TransientError(InputError):
    """A failure worth retrying (an I/O hiccup, a network error): the run retries it."""


def worker_id() -> str:
    """``host:pid`` of this process."""
    return f"{socket.gethostname()}:{os.getpid()}"


def read_input(path: Path) -> tuple[bytes, int, int]:
    """The file's bytes, size and modification time (ns), read through one descriptor.

    Raises:
        InputError: missing, a folder or unreadable (permanent); TransientError: other I/O
            errors.
    """
    try:
        with path.open("rb") as fh:
            st = os.fstat(fh.fileno())
            data = fh.read()
    except FileNotFoundError:
        raise InputError(
            f'Cannot read "{path}": no such file. Check the path.', path=path
        ) from None
    except IsADirectoryError:
        raise InputError(
            f'Cannot read "{path}": it is a folder, not an image.', path=path
        ) from None
    except PermissionError:
        raise InputError(
            f'Cannot read "{path}": permission denied. Make the file readable (chmod +r).',
            path=path,
        ) from None
    except OSError as exc:
        raise TransientError(f'Cannot read "{path}": {exc.strerror or exc}.', path=path) from None
    return data, int(st.st_size), int(st.st_mtime_ns)


def _output_intact(task: Task) -> bool:
    try:
        return task.done_output_size is not None and task.output.stat().st_size == (
            task.done_output_size
        )
    except OSError:
        return False


def _remove_stale_parts(output: Path) -> None:
    """Delete temp files a killed run left beside ``output`` and its settings ``.json``
    (``.NAME.*.part``)."""
    try:
        for name in (output.name, sidecar_path(output).name):
            for part in output.parent.glob(f".{name}.*.part"):
                part.unlink(missing_ok=True)
    except OSError:
        pass


def _scene_json(records: list[dict[str, Any]], output: Path, source: str, sha256: str) -> bytes:
    """The settings file of an output made by a recipe with ``scene`` steps: the record that
    ``productstudio scene --replay`` reads (one scene), or every scene's under ``scenes``."""
    inp = {"path": source, "sha256": sha256}
    if len(records) == 1:
        return sidecar_bytes({**records[0], "input": inp}, output.name)
    return sidecar_bytes({"kind": "scenes", "input": inp, "scenes": records}, output.name)


class MainImageWorker:
    """Photo → the job's recipe (by default the main job: cut-out → canvas → background →
    encoded file) → output file."""

    def __init__(
        self,
        spec: JobSpec,
        threads: int | None = None,
        fetch: FetchOptions | None = None,
        check: CheckLevel = CheckLevel.RULES,
    ) -> None:
        import cv2

        from productstudio.catalog.fetching import FetchOptions, HostLimiter

        if threads:
            cv2.setNumThreads(threads)
        self.spec = spec
        self.segmenter: Segmenter = load_segmenter(spec.model)
        self.recipe: Recipe = spec.build_recipe()
        self.fetch = fetch or FetchOptions()
        self.limiter = HostLimiter(self.fetch.per_host)
        self.check = CheckLevel(check)
        rules = self.recipe.rules
        if self.check is CheckLevel.RULES:  # the text rule runs OCR: only when asked for
            rules = rules.model_copy(update={"text": None})
        self.rules = rules
        self._text: Any = None
        #: models the recipe's steps load (``ctx.resource``), shared by every item
        self.cache: dict[str, Any] = {}

    def apply(
        self, loaded: LoadedImage, source: str | None = None, attrs: dict[str, str] | None = None
    ) -> RecipeResult:
        """Run the job's recipe on one loaded image (nothing is written)."""
        self.cache.pop("scene_records", None)  # per item, not per worker
        ctx = StepContext(
            source=source or loaded.source,
            attributes=dict(attrs or {}),
            segmenter_choice=self.spec.model,
            cache=self.cache,
        )
        ctx.set_segmenter(self.segmenter)
        return self.recipe.apply(loaded, ctx)

    def verdict(self, encoded: bytes, name: str) -> tuple[str, tuple[str, ...]]:
        """The encoded output checked against the recipe's rules (the text rule only with
        ``CheckLevel.ALL``): ``(verdict, failed rules)``; ``("", ())`` when not checked."""
        if self.check is CheckLevel.NONE or not self.rules.active():
            return "", ()
        from productstudio.recipes import check_loaded

        text = None
        if self.check is CheckLevel.ALL:
            if self._text is None:
                from productstudio.recipes.compliance.measure import default_text_detector

                self._text = default_text_detector() or False
            text = self._text or None
        report = check_loaded(
            load_image(encoded, name=name),
            self.rules,
            data=encoded,
            segmenter=self.segmenter,
            text_detector=text,
            preset=self.recipe.name,
        )
        failed = tuple(r.rule for r in report.results if r.status.value == "fail")
        return report.verdict.value, failed

    def __call__(self, task: Task) -> ItemResult:
        t0 = time.perf_counter()
        timings: dict[str, float] = {}
        digest: str | None = None
        size: int | None = None
        mtime: int | None = None
        name = task.url or str(task.source)

        def result_of(output: Path | None, status: Status, message: str, **kw: Any) -> ItemResult:
            """A result with what every outcome of this item records (input, time so far)."""
            return ItemResult(
                task.key,
                task.source,
                output,
                status,
                message,
                time.perf_counter() - t0,
                item_id=task.item_id,
                preset=task.preset,
                input_hash=digest,
                input_size=size,
                input_mtime_ns=mtime,
                worker=worker_id(),
                **kw,
            )

        try:
            if task.url:
                from productstudio.catalog.fetching import fetch_input

                data = fetch_input(task.url, self.fetch, self.limiter)
                size = len(data)
            else:
                data, size, mtime = read_input(task.source)
            digest = hashlib.sha256(data).hexdigest()
            timings["read"] = time.perf_counter() - t0
            if task.done_input_hash == digest and _output_intact(task):
                return result_of(task.output, Status.SKIPPED, "unchanged since the last run")
            fault_point("decode")
            t = time.perf_counter()
            loaded = load_image(data, max_pixels=self.spec.max_pixels, name=name)
            timings["decode"] = time.perf_counter() - t
            t = time.perf_counter()
            result = self.apply(loaded, name, dict(task.attrs))
            timings["process"] = time.perf_counter() - t
            t = time.perf_counter()
            encoded = self.recipe.encode(result)
            timings["encode"] = time.perf_counter() - t
            scenes = result.context.cache.pop("scene_records", None)
            t = time.perf_counter()
            _remove_stale_parts(task.output)
            if scenes:  # the settings first: an output on disk always has its .json
                settings = _scene_json(scenes, task.output, name, digest)
                write_atomic(settings, sidecar_path(task.output))
            write_atomic(encoded, task.output, before_rename=lambda: fault_point("write"))
            timings["write"] = time.perf_counter() - t
            verdict: tuple[str, tuple[str, ...]] = ("", ())
            if self.check is not CheckLevel.NONE:
                t = time.perf_counter()
                try:
                    verdict = self.verdict(encoded, str(task.output))
                except ProductStudioError as exc:  # the output is written: keep it
                    verdict = ("error", ())
                    log.warning("%s: not checked: %s", task.output, exc)
                timings["check"] = time.perf_counter() - t
        except ProductStudioError as exc:
            return result_of(
                None,
                Status.FAILED,
                str(exc),
                timings=tuple(timings.items()),
                retryable=isinstance(exc, TransientError),
            )
        notes = [*loaded.notes, *result.notes]
        return result_of(
            task.output,
            Status.DONE,
            "; ".join(notes),
            confidence=result.context.confidence,
            backend=self.segmenter.name,
            timings=tuple(timings.items()),
            output_hash=hashlib.sha256(encoded).hexdigest(),
            output_size=len(encoded),
            unsure=any("unsure" in n for n in notes),
            verdict=verdict[0],
            failed_rules=verdict[1],
        )

    def process_batch(self, tasks: Sequence[Task]) -> list[ItemResult]:
        """Process ``tasks`` one after another (failures are results, never exceptions)."""
        return [self(t) for t in tasks]


class CatalogWorker:
    """The worker of a catalogue run: one :class:`MainImageWorker` per spec (preset), each
    model loaded once per process; the callable class every runner executes.

    Args:
        specs: the run's specs; tasks name theirs by :attr:`JobSpec.preset`.
        threads: threads for OpenCV/ONNX in this process (``None``: the settings).
        fetch: how URL inputs are downloaded.
        check: which rules each output is checked against (the manifest's verdict).
    """

    def __init__(
        self,
        specs: Sequence[JobSpec],
        threads: int | None = None,
        fetch: FetchOptions | None = None,
        check: CheckLevel = CheckLevel.RULES,
    ) -> None:
        if threads:
            from productstudio.settings import get_settings

            get_settings().threads = threads
        self.workers = {spec.preset: MainImageWorker(spec, threads, fetch, check) for spec in specs}
        for w in self.workers.values():  # one download limiter per process
            w.limiter = next(iter(self.workers.values())).limiter
        self.default = next(iter(self.workers.values()))

    def process_batch(self, tasks: Sequence[Task]) -> list[ItemResult]:
        """Run each task with its preset's worker; an unexpected exception (a bug) fails that
        item with its type and message instead of stopping the whole run."""
        results = []
        for t in tasks:
            try:
                results.append(self.workers.get(t.preset, self.default)(t))
            except Exception as exc:  # one bad item must not end a million-item run
                log.exception("unexpected error on %s", t.url or t.source)
                results.append(
                    ItemResult(
                        t.key,
                        t.source,
                        None,
                        Status.FAILED,
                        f"{t.url or t.source}: unexpected error ({type(exc).__name__}: {exc}); "
                        "please report it with this file",
                        item_id=t.item_id,
                        preset=t.preset,
                        worker=worker_id(),
                    )
                )
        return results

    __call__ = process_batch
