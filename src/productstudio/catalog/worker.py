"""The per-image worker of a batch run.

Like Ray Data's ``map_batches`` callables: the class loads its model once in ``__init__``
(picklable constructor arguments), and ``__call__`` processes one item, writes its output
atomically and returns an :class:`ItemResult`. The local pool and Ray run the same class.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from productstudio.catalog.store import Status
from productstudio.errors import InvalidParamsError, ProductStudioError
from productstudio.imaging import ImageFormat, LoadedImage, load_image, save_image
from productstudio.imaging.color import parse_color
from productstudio.imaging.types import to_uint8
from productstudio.models.segmenters import Segmenter, load_segmenter
from productstudio.ops.canvas import CanvasParams, layout
from productstudio.ops.composite import composite
from productstudio.ops.cutout import CutoutParams, cutout

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class JobSpec:
    """Everything that decides a batch run's output (hashed to detect changed settings).

    Attributes:
        model: segmenter name, ``auto`` or a path to a model file.
        canvas: canvas geometry (default: Amazon main image, 2000x2000 at 85 % fill).
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
    canvas: CanvasParams = field(default_factory=CanvasParams)
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

    @property
    def suffix(self) -> str:
        fmt = self.fmt.value
        if self.recipe is not None:
            from productstudio.recipes import load_recipe

            fmt = load_recipe(self.recipe).output_settings().format.value
        return {"jpeg": ".jpg", "tiff": ".tif"}.get(fmt, "." + fmt)

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


def has_real_alpha(loaded: LoadedImage) -> bool:
    """The image carries transparency worth keeping (some pixels are not opaque)."""
    return loaded.has_alpha and bool((loaded.pixels[..., 3] < 250).any())


class MainImageWorker:
    """Photo → cut-out → canvas → background → encoded file (the ``run`` main job)."""

    def __init__(self, spec: JobSpec, threads: int | None = None) -> None:
        import cv2

        if threads:
            cv2.setNumThreads(threads)
        self.spec = spec
        self.segmenter: Segmenter = load_segmenter(spec.model)
        self.recipe: Any = None
        if spec.recipe is not None:
            from productstudio.recipes import load_recipe

            self.recipe = load_recipe(spec.recipe)

    def render(self, loaded: LoadedImage) -> tuple[np.ndarray, float | None, list[str]]:
        """Pixels of the finished image, the segmentation confidence and notes."""
        spec = self.spec
        notes = list(loaded.notes)
        confidence: float | None = None
        if spec.use_input_alpha and has_real_alpha(loaded):
            rgba = to_uint8(loaded.pixels)
            notes.append("used the input's own transparency as the cut-out")
        else:
            seg = self.segmenter.segment(loaded.pixels)
            confidence = seg.confidence
            if seg.unsure:
                notes.append(
                    f"unsure cut-out ({seg.backend}, confidence {seg.confidence:.2f}): "
                    + "; ".join(seg.notes)
                )
            rgba = cutout(loaded.pixels, seg.mask, spec.cutout)
        placed = layout(rgba, spec.canvas)
        if spec.background is None:
            return placed, confidence, notes
        return composite(placed, spec.background), confidence, notes

    def _apply_recipe(self, loaded: LoadedImage, task: Task) -> tuple[float | None, list[str]]:
        from productstudio.imaging.io import write_atomic
        from productstudio.recipes import StepContext

        ctx = StepContext(
            source=str(task.source), attributes=dict(task.attrs), segmenter_choice=self.spec.model
        )
        ctx.set_segmenter(self.segmenter)
        result = self.recipe.apply(loaded, ctx)
        write_atomic(self.recipe.encode(result), task.output)
        return None, [*loaded.notes, *result.notes]

    def __call__(self, task: Task) -> ItemResult:
        t0 = time.perf_counter()
        try:
            loaded = load_image(task.source, max_pixels=self.spec.max_pixels, name=str(task.source))
            if self.recipe is not None:
                conf, notes = self._apply_recipe(loaded, task)
            else:
                pixels, conf, notes = self.render(loaded)
                save_image(pixels, task.output, fmt=self.spec.fmt, quality=self.spec.quality)
        except ProductStudioError as exc:
            return ItemResult(
                task.key, task.source, None, Status.FAILED, str(exc), time.perf_counter() - t0
            )
        return ItemResult(
            task.key,
            task.source,
            task.output,
            Status.DONE,
            "; ".join(notes),
            time.perf_counter() - t0,
            conf,
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
