"""Segmenters: a product photo in, a soft foreground probability out.

Registered backends (``SEGMENTERS``), best first for ``--model auto``:
``birefnet-general`` > ``isnet-general-use`` > ``birefnet-general-lite`` > ``u2net`` >
``silueta`` > ``u2netp`` > ``classical`` (no weights; always available).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from productstudio.errors import WeightsNotFoundError
from productstudio.models.discovery import AUTO, load_backend
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
        )
    )


def load_segmenter(choice: str | Path = AUTO) -> Segmenter:
    """A ready segmenter for ``--model``: a registry name, ``auto`` or a path to an .onnx file.

    Low-resolution learned segmenters (input ≤ ``REFINE_UP_TO`` px: U²-Net family) come
    wrapped in :class:`PlainBackgroundRefined`: on plain and studio backgrounds their mask is
    refined with the photo's own colours.
    """
    return load_backend(SEGMENTERS, choice)


__all__ = [
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
]
