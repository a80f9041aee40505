"""Neural style backends (``STYLE_MODELS``) from local ONNX files.

``multistyle26`` (26 fixed styles) and ``arbitrary`` (any reference image). Colour/tone
transfer without weights lives in :mod:`productstudio.ops.style`.
"""

from __future__ import annotations

from pathlib import Path

from productstudio.models.discovery import AUTO, load_backend
from productstudio.models.registry import BackendEntry, Registry
from productstudio.models.style.base import LookMethod, NeuralStyle
from productstudio.models.style.onnx import N_STYLES, ArbitraryStyle, MultiStyle, style_weights

STYLE_MODELS: Registry[BackendEntry[NeuralStyle]] = Registry("style model")


def _multi(path: Path | None) -> NeuralStyle:
    assert path is not None
    return MultiStyle(path)


def _arbitrary(path: Path | None) -> NeuralStyle:
    assert path is not None
    return ArbitraryStyle(path)


STYLE_MODELS.register("multistyle26")(
    BackendEntry(
        "multistyle26",
        "26 fixed painterly styles (Magenta, ONNX)",
        _multi,
        file_names=("multistyle26.onnx",),
        rank=20,
    )
)
STYLE_MODELS.register("arbitrary")(
    BackendEntry(
        "arbitrary",
        "Style of any reference image (Magenta arbitrary stylization, ONNX pair)",
        _arbitrary,
        file_names=("arbitrary_transform.onnx",),
        rank=30,
    )
)


def load_style_model(choice: str | Path = AUTO) -> NeuralStyle:
    """A ready neural style backend: a registry name, ``auto`` or a path."""
    return load_backend(STYLE_MODELS, choice)


__all__ = [
    "N_STYLES",
    "STYLE_MODELS",
    "ArbitraryStyle",
    "LookMethod",
    "MultiStyle",
    "NeuralStyle",
    "load_style_model",
    "style_weights",
]
