"""Segmenters: a product photo in, a soft foreground probability out.

Registered backends (``SEGMENTERS``), best first for ``--model auto``:
``birefnet-general`` > ``isnet-general-use`` > ``birefnet-general-lite`` > ``u2net`` >
``silueta`` > ``u2netp`` > ``classical`` (no weights; always available).

With no model file found, ``auto`` downloads :data:`FIRST_RUN_MODEL` once (rembg's release
file, sha256-pinned) unless offline mode is on, else falls back to ``classical`` and says so
(:func:`resolve_segmenter`; docs/models.md).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from productstudio.errors import WeightsNotFoundError
from productstudio.models.discovery import AUTO, Resolved, resolve_choice
from productstudio.models.registry import BackendEntry, Registry
from productstudio.models.segmenters.base import (
    UNSURE_BELOW,
    Segmentation,
    Segmenter,
    mask_confidence,
)
from productstudio.models.segmenters.classical import ClassicalConfig, ClassicalSegmenter
from productstudio.models.segmenters.hybrid import PlainBackgroundRefined
from productstudio.models.segmenters.onnx import ONNX_MODELS, OnnxModel, OnnxSegmenter

SEGMENTERS: Registry[BackendEntry[Segmenter]] = Registry("segmenter")
REFINE_UP_TO = 512  # model input sizes (px) that get plain-background refinement

#: The model ``--model auto`` downloads when no model file is found (first run). U²-Netp: a
#: 4.6 MB download (IS-Net: 178.6 MB), 8x faster per photo on a CPU, and on the 12 hand-held
#: in-store photos its raw masks are solid where IS-Net's are see-through (soft interior 0.16
#: vs 1.93 of the product area). IS-Net is far better on cluttered scenes with thin parts
#: (DIS5K product-like IoU 0.97 vs 0.21, its training domain), so users who need that pull it.
#: Evidence and how to revisit: docs/models.md, benchmarks/first_run_model.py.
FIRST_RUN_MODEL = "u2netp"
FALLBACK_CAVEAT = "plain backgrounds only"  # what the built-in classical segmenter suits


def _classical(_path: Path | None) -> Segmenter:
    return ClassicalSegmenter()


SEGMENTERS.register("classical")(
    BackendEntry(
        "classical", "Border colour model + GrabCut; no weights, studio photos", _classical
    )
)


def _onnx_loader(model: OnnxModel) -> Callable[[Path | None], Segmenter]:
    def load(path: Path | None) -> Segmenter:
        if path is None:
            raise WeightsNotFoundError(f"the segmenter '{model.name}' needs a weights file")
        seg = OnnxSegmenter(model, path)
        # Coarse 320 px masks gain from full-resolution colour refinement on plain backgrounds
        # (U²-Netp on the studio set: IoU 0.78 → 0.90); 1024 px models lose detail from it
        # (IS-Net on all DIS5K photos: 0.896 → 0.861), so they are used as they are.
        return PlainBackgroundRefined(seg) if model.size <= REFINE_UP_TO else seg

    return load


for _model in ONNX_MODELS:  # one registry entry per record (segmenters/onnx.py)
    SEGMENTERS.register(_model.name)(
        BackendEntry(
            _model.name,
            _model.summary,
            _onnx_loader(_model),
            file_names=_model.file_names,
            rank=_model.rank,
            url=_model.url,
            sha256=_model.sha256,
            size=_model.size_bytes,
        )
    )


def resolve_segmenter(
    choice: str | Path = AUTO,
    *,
    offline: bool | None = None,
    on_notice: Callable[[str], None] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> Resolved[Segmenter]:
    """The segmenter for ``--model`` and why it was picked; the one place ``auto`` is decided
    for ``run``, ``cutout``, ``check`` and the server.

    ``auto`` uses the best model file found; with none, it downloads :data:`FIRST_RUN_MODEL`
    into the cache (``on_notice`` gets one line saying what, from where and how big;
    ``on_progress`` the bytes), unless ``offline`` (default: ``PRODUCTSTUDIO_OFFLINE``); when
    that is not possible it picks ``classical``, and :meth:`Resolved.describe` says so and
    names the command that fetches a model. See
    :func:`~productstudio.models.discovery.resolve_choice`.
    """
    return resolve_choice(
        SEGMENTERS,
        choice,
        recommended=FIRST_RUN_MODEL,
        caveat=FALLBACK_CAVEAT,
        offline=offline,
        on_notice=on_notice,
        on_progress=on_progress,
    )


def load_segmenter(choice: str | Path = AUTO) -> Segmenter:
    """A ready segmenter for ``--model``: a registry name, ``auto`` or a path to an .onnx file.

    ``auto`` behaves as in :func:`resolve_segmenter` (notices go to the log). Low-resolution
    learned segmenters (input ≤ ``REFINE_UP_TO`` px: U²-Net family) come wrapped in
    :class:`PlainBackgroundRefined`: on plain and studio backgrounds their mask is refined with
    the photo's own colours.
    """
    return resolve_segmenter(choice).load()


__all__ = [
    "FIRST_RUN_MODEL",
    "ONNX_MODELS",
    "SEGMENTERS",
    "UNSURE_BELOW",
    "ClassicalConfig",
    "ClassicalSegmenter",
    "OnnxModel",
    "OnnxSegmenter",
    "PlainBackgroundRefined",
    "Segmentation",
    "Segmenter",
    "load_segmenter",
    "mask_confidence",
    "resolve_segmenter",
]
