"""Text detectors behind one registry, plus text/watermark removal.

``TEXT_DETECTORS`` holds ``rapidocr`` (PP-OCRv4 det+rec ONNX models shipped inside the PyPI
wheel ``rapidocr-onnxruntime``; no weights to find). When the package is missing,
loading raises :class:`~productstudio.errors.MissingDependencyError` with the install line.

Simple API (also used by the compliance checker)::

    from productstudio.models.text import detect_text
    boxes = detect_text(rgb)          # list[TextBox]
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from productstudio.imaging.types import Image
from productstudio.models.discovery import AUTO, load_backend
from productstudio.models.registry import BackendEntry, Registry
from productstudio.models.text.base import TextDetector
from productstudio.models.text.erase import (
    MIN_TEXT_SCORE,
    EraseTextParams,
    EraseTextResult,
    erase_text,
    find_text,
    product_mask_for,
)
from productstudio.models.text.rapid import RapidOcrDetector, rapidocr_available
from productstudio.ops.text import (
    ClassifyParams,
    TextBox,
    TextKind,
    TextSelect,
    TextVerdict,
    classify_text,
)

TEXT_DETECTORS: Registry[BackendEntry[TextDetector]] = Registry("text detector")


def _rapid(_path: Path | None) -> TextDetector:
    return RapidOcrDetector()


TEXT_DETECTORS.register("rapidocr")(
    BackendEntry(
        "rapidocr",
        "PP-OCRv4 det+rec (rapidocr-onnxruntime wheel), offline",
        _rapid,
        rank=50,
    )
)


def load_text_detector(choice: str | Path = AUTO) -> TextDetector:
    """A ready text detector (``auto`` = the best available)."""
    return load_backend(TEXT_DETECTORS, choice)


@lru_cache(maxsize=2)
def _default_detector(choice: str) -> TextDetector:
    return load_text_detector(choice)


def detect_text(image: Image, model: str = AUTO) -> list[TextBox]:
    """Text boxes in ``image`` with the (cached) detector ``model``."""
    return _default_detector(str(model)).detect(image)


__all__ = [
    "MIN_TEXT_SCORE",
    "TEXT_DETECTORS",
    "ClassifyParams",
    "EraseTextParams",
    "EraseTextResult",
    "RapidOcrDetector",
    "TextBox",
    "TextDetector",
    "TextKind",
    "TextSelect",
    "TextVerdict",
    "classify_text",
    "detect_text",
    "erase_text",
    "find_text",
    "load_text_detector",
    "product_mask_for",
    "rapidocr_available",
]
