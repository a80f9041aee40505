"""Text detection (and optional recognition) with the PP-OCRv4 ONNX models that the PyPI
package ``rapidocr-onnxruntime`` ships inside its wheel (offline, no downloads).

Install without its ``opencv-python`` dependency, which would replace opencv-contrib's cv2::

    pip install -c constraints.txt --no-deps -r requirements-ocr.txt
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from typing import Any

import cv2
import numpy as np

from productstudio.errors import BackendError, MissingDependencyError, install_hint
from productstudio.imaging.types import RGBImage
from productstudio.models.text.base import TextDetector
from productstudio.ops.text import TextBox

log = logging.getLogger(__name__)

FIX = (
    "Install it without its opencv-python dependency: "
    + install_hint(requirements="requirements-ocr.txt")
    + " (rapidocr-onnxruntime==1.4.4 pyclipper shapely six)"
)


def rapidocr_available() -> bool:
    return importlib.util.find_spec("rapidocr_onnxruntime") is not None


class RapidOcrDetector(TextDetector):
    """PP-OCRv4 detection (+ recognition when ``recognize``) through rapidocr-onnxruntime.

    Args:
        recognize: also read the text (adds ~50-100 ms; helps spot repeated watermark tiles).
        box_thresh: minimum detection score.
    """

    name = "rapidocr"

    def __init__(self, recognize: bool = True, box_thresh: float = 0.5) -> None:
        if not rapidocr_available():
            raise MissingDependencyError(
                "text detection needs the optional package 'rapidocr-onnxruntime'. " + FIX
            )
        if not hasattr(cv2, "dnn_superres"):
            log.warning("cv2 has no dnn_superres: opencv-python replaced opencv-contrib. " + FIX)
        from rapidocr_onnxruntime import RapidOCR

        from productstudio.settings import get_settings

        n = get_settings().thread_count()
        try:
            self.engine: Any = RapidOCR(
                intra_op_num_threads=n, inter_op_num_threads=1, box_thresh=box_thresh
            )
        except Exception as exc:  # rapidocr raises untyped errors
            raise BackendError(f"rapidocr-onnxruntime failed to start: {exc}") from exc
        self.recognize = recognize
        self._lock = threading.Lock()

    def detect_rgb(self, rgb: RGBImage) -> list[TextBox]:
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        with self._lock:
            try:
                res, _elapse = self.engine(bgr, use_det=True, use_cls=False, use_rec=self.recognize)
            except Exception as exc:  # rapidocr raises untyped errors
                raise BackendError(f"rapidocr-onnxruntime failed: {exc}") from exc
        boxes: list[TextBox] = []
        for item in res or []:
            if self.recognize:
                pts, text, tscore = item[0], str(item[1]), float(item[2])
            else:
                pts, text, tscore = item, "", 0.0
            arr = np.asarray(pts, np.float64).reshape(-1, 2)
            boxes.append(
                TextBox(
                    points=tuple((float(x), float(y)) for x, y in arr),
                    score=1.0,
                    text=text,
                    text_score=tscore,
                )
            )
        return boxes
