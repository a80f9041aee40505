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
from productstudio.models.segmenters.onnx import SPECS, OnnxSegmenter, OnnxSpec

SEGMENTERS: Registry[BackendEntry[Segmenter]] = Registry("segmenter")
REFINE_UP_TO = 512  # model input sizes (px) that get plain-background refinement


def _classical(_path: Path | None) -> Segmenter:
    return ClassicalSegmenter()


SEGMENTERS.register("classical")(
    BackendEntry(
        "classical", "Border colour model + GrabCut; no weights, studio photos", _classical
    )
)


def _onnx_loader(name: str) -> Callable[[Path | None], Segmenter]:
    def load(path: Path | None) -> Segmenter:
        if path is None:
            raise WeightsNotFoundError(f"the segmenter '{name}' needs a weights file")
        seg = OnnxSegmenter(name, path)
        # Coarse 320 px masks gain from full-resolution colour refinement on plain backgrounds
        # (U²-Netp on the studio set: IoU 0.78 → 0.90); 1024 px models lose detail from it
        # (IS-Net on all DIS5K photos: 0.896 → 0.861), so they are used as they are.
        return PlainBackgroundRefined(seg) if seg.spec.size <= REFINE_UP_TO else seg

    return load


_RELEASES = "https://github.com/danielgatis/rembg/releases/download/v0.0.0/"

# (name, summary, known file names, rank, download file, sha256 of rembg's release file)
_ONNX_MODELS: list[tuple[str, str, tuple[str, ...], int, str | None, str | None]] = [
    (
        "birefnet-general",
        "BiRefNet general (1024 px), best quality, slow",
        ("birefnet-general.onnx",),
        90,
        "BiRefNet-general-epoch_244.onnx",
        "58f621f00f5d756097615970a88a791584600dcf7c45b18a0a6267535a1ebd3c",
    ),
    (
        "isnet-general-use",
        "IS-Net general use (1024 px), high quality",
        ("isnet-general-use.onnx", "isnet_general_quint8.onnx", "isnet_general_use.onnx"),
        80,
        "isnet-general-use.onnx",
        "60920e99c45464f2ba57bee2ad08c919a52bbf852739e96947fbb4358c0d964a",
    ),
    (
        "birefnet-general-lite",
        "BiRefNet lite (1024 px)",
        ("birefnet-general-lite.onnx",),
        70,
        "BiRefNet-general-bb_swin_v1_tiny-epoch_232.onnx",
        "5600024376f572a557870a5eb0afb1e5961636bef4e1e22132025467d0f03333",
    ),
    ("u2net", "U²-Net (320 px)", ("u2net.onnx",), 50, None, None),
    ("silueta", "Silueta, a small U²-Net (320 px)", ("silueta.onnx",), 40, None, None),
    (
        "u2netp",
        "U²-Netp (320 px), fast",
        ("u2netp.onnx",),
        30,
        "u2netp.onnx",
        "309c8469258dda742793dce0ebea8e6dd393174f89934733ecc8b14c76f4ddd8",
    ),
]
for _name, _summary, _files, _rank, _remote, _sha in _ONNX_MODELS:
    SEGMENTERS.register(_name)(
        BackendEntry(
            _name,
            _summary,
            _onnx_loader(_name),
            file_names=_files,
            rank=_rank,
            url=_RELEASES + _remote if _remote else None,
            sha256=_sha,
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
    "SEGMENTERS",
    "SPECS",
    "UNSURE_BELOW",
    "ClassicalConfig",
    "ClassicalSegmenter",
    "OnnxSegmenter",
    "OnnxSpec",
    "PlainBackgroundRefined",
    "Segmentation",
    "Segmenter",
    "load_segmenter",
    "mask_confidence",
]
