"""Segmenters: a product photo in, a soft foreground probability out.

Registered backends (``SEGMENTERS``), best first for ``--model auto``:
``birefnet-general`` > ``isnet-general-use`` > ``birefnet-general-lite`` > ``u2net`` >
``silueta`` > ``u2netp`` > ``classical`` (no weights; always available).
"""

from __future__ import annotations

from pathlib import Path

from productstudio.models.discovery import AUTO, resolve
from productstudio.models.registry import BackendEntry, Registry
from productstudio.models.segmenters.base import (
    UNSURE_BELOW,
    Segmentation,
    Segmenter,
    mask_confidence,
)
from productstudio.models.segmenters.classical import ClassicalConfig, ClassicalSegmenter
from productstudio.models.segmenters.onnx import SPECS, OnnxSegmenter, OnnxSpec

SEGMENTERS: Registry[BackendEntry[Segmenter]] = Registry("segmenter")


def _classical(_path: Path | None) -> Segmenter:
    return ClassicalSegmenter()


SEGMENTERS.register("classical")(
    BackendEntry("classical", "Border colour model + GrabCut; no weights, studio photos", _classical)
)


def _onnx_loader(name: str):  # type: ignore[no-untyped-def]
    def load(path: Path | None) -> Segmenter:
        assert path is not None
        return OnnxSegmenter(name, path)

    return load


_ONNX_MODELS: list[tuple[str, str, tuple[str, ...], int]] = [
    ("birefnet-general", "BiRefNet general (1024 px), best quality, slow", ("birefnet-general.onnx",), 90),
    (
        "isnet-general-use",
        "IS-Net general use (1024 px), high quality",
        ("isnet-general-use.onnx", "isnet_general_quint8.onnx", "isnet_general_use.onnx"),
        80,
    ),
    (
        "birefnet-general-lite",
        "BiRefNet lite (1024 px)",
        ("birefnet-general-lite.onnx",),
        70,
    ),
    ("u2net", "U²-Net (320 px)", ("u2net.onnx",), 50),
    ("silueta", "Silueta, a small U²-Net (320 px)", ("silueta.onnx",), 40),
    ("u2netp", "U²-Netp (320 px), fast", ("u2netp.onnx",), 30),
]
for _name, _summary, _files, _rank in _ONNX_MODELS:
    SEGMENTERS.register(_name)(
        BackendEntry(_name, _summary, _onnx_loader(_name), file_names=_files, rank=_rank)
    )


def load_segmenter(choice: str | Path = AUTO) -> Segmenter:
    """A ready segmenter for ``--model``: a registry name, ``auto`` or a path to an .onnx file."""
    entry, path = resolve(SEGMENTERS, choice)
    return entry.load(path)


__all__ = [
    "SEGMENTERS",
    "SPECS",
    "UNSURE_BELOW",
    "ClassicalConfig",
    "ClassicalSegmenter",
    "OnnxSegmenter",
    "OnnxSpec",
    "Segmentation",
    "Segmenter",
    "load_segmenter",
    "mask_confidence",
]
