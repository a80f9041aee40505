"""The per-image worker of a batch run.

Like Ray Data's ``map_batches`` callables: the class loads its model once in ``__init__``
(picklable constructor arguments), and ``__call__`` processes one item, writes its output
atomically and returns an :class:`ItemResult`. The local pool and Ray run the same class.

The worker runs a recipe and nothing else: :meth:`JobSpec.build_recipe` is the spec's
recipe file or preset, or else the main job (the ``amazon-main`` preset with the spec's
canvas, cut-out, background and format: :func:`productstudio.recipes.main_image_recipe`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from productstudio.catalog.store import Status
from productstudio.errors import InvalidParamsError, ProductStudioError
from productstudio.imaging import ImageFormat, LoadedImage, load_image, write_atomic
from productstudio.imaging.color import parse_color
from productstudio.models.segmenters import Segmenter, load_segmenter
from productstudio.ops.canvas import CanvasParams, MinSize
from productstudio.ops.cutout import CutoutParams
from productstudio.recipes import Recipe, RecipeResult, StepContext, load_recipe, main_image_recipe

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

    def settings_hash(self) -> str:
        """A short stable hash of the settings (and of the recipe file's contents)."""
        data = json.dumps(asdict(self), sort_keys=True, default=str)
        if self.recipe is not None and Path(self.recipe).is_file():
            data += hashlib.sha256(Path(self.recipe).read_bytes()).hexdigest()
        return hashlib.sha256(data.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Task:
    """One unit of work: read ``source``, write ``output``."""

    key: str
    source: Path
    output: Path
    attrs: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class ItemResult:
    """What happened to one item."""

    key: str
    source: Path
    output: Path | None
    status: Status
    message: str = ""
    seconds: float = 0.0
    confidence: float | None = None
    backend: str = ""


class MainImageWorker:
    """Photo → the job's recipe (by default the main job: cut-out → canvas → background →
    encoded file) → output file."""

    def __init__(self, spec: JobSpec, threads: int | None = None) -> None:
        import cv2

        if threads:
            cv2.setNumThreads(threads)
        self.spec = spec
        self.segmenter: Segmenter = load_segmenter(spec.model)
        self.recipe: Recipe = spec.build_recipe()

    def apply(
        self, loaded: LoadedImage, source: str | None = None, attrs: dict[str, str] | None = None
    ) -> RecipeResult:
        """Run the job's recipe on one loaded image (nothing is written)."""
        ctx = StepContext(
            source=source or loaded.source,
            attributes=dict(attrs or {}),
            segmenter_choice=self.spec.model,
        )
        ctx.set_segmenter(self.segmenter)
        return self.recipe.apply(loaded, ctx)

    def __call__(self, task: Task) -> ItemResult:
        t0 = time.perf_counter()
        try:
            loaded = load_image(task.source, max_pixels=self.spec.max_pixels, name=str(task.source))
            result = self.apply(loaded, str(task.source), dict(task.attrs))
            write_atomic(self.recipe.encode(result), task.output)
        except ProductStudioError as exc:
            return ItemResult(
                task.key, task.source, None, Status.FAILED, str(exc), time.perf_counter() - t0
            )
        return ItemResult(
            task.key,
            task.source,
            task.output,
            Status.DONE,
            "; ".join([*loaded.notes, *result.notes]),
            time.perf_counter() - t0,
            result.context.confidence,
            self.segmenter.name,
        )


# -- process-pool plumbing: one worker object per process ------------------------------
_WORKER: Any = None


def _init_process(spec: JobSpec, threads: int) -> None:
    global _WORKER
    from productstudio.settings import get_settings

    get_settings().threads = threads
    _WORKER = MainImageWorker(spec, threads)


def _run_in_process(task: Task) -> ItemResult:
    assert _WORKER is not None, "worker process not initialised"
    result: ItemResult = _WORKER(task)
    return result
