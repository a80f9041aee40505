"""Text and watermark removal: detect → classify (overlay vs printed) → mask → inpaint."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from productstudio.errors import InvalidParamsError
from productstudio.imaging.types import Image, Mask, alpha_product_mask, check_image
from productstudio.models.inpainters.base import Inpainter
from productstudio.models.text.base import TextDetector
from productstudio.ops.plain_background import difference_mask, plain_border_color
from productstudio.ops.text import (
    ClassifyParams,
    TextSelect,
    TextVerdict,
    classify_text,
    removal_mask,
    select_boxes,
    unblend,
)

log = logging.getLogger(__name__)

#: Detections below this confidence are not text (``erase-text``, ``detect-text`` and the
#: compliance text rule's default ``min_score``).
MIN_TEXT_SCORE = 0.5


@dataclass(frozen=True, slots=True)
class EraseTextParams:
    """Options of :func:`erase_text`.

    Attributes:
        select: which text to remove (overlays by default; packaging text is kept).
        tight: inpaint only the strokes (better) instead of whole boxes.
        dilate: grow the hole by this many px (anti-aliased glyph edges, JPEG halos).
        segment: find the product with the classical segmenter when the image has no alpha
            (only used when it is confident), for the "crosses the product edge" evidence.
        unblend: recover the photo behind semi-transparent watermarks by inverting the
            blend (:func:`productstudio.ops.text.unblend`) instead of inpainting them.
        min_score: detections below this confidence are ignored.
        classify: overlay-vs-printed evidence weights.
    """

    select: TextSelect = TextSelect.OVERLAY
    tight: bool = True
    dilate: int = 2
    segment: bool = True
    unblend: bool = True
    min_score: float = MIN_TEXT_SCORE
    classify: ClassifyParams = field(default_factory=ClassifyParams)

    def __post_init__(self) -> None:
        if not 0 <= self.dilate <= 32:
            raise InvalidParamsError(f"EraseTextParams.dilate must be in 0..32, got {self.dilate}")
        if not 0.0 <= self.min_score <= 1.0:
            raise InvalidParamsError(
                f"EraseTextParams.min_score must be in [0, 1], got {self.min_score}"
            )


@dataclass(frozen=True, slots=True)
class EraseTextResult:
    """The cleaned image, what was found and the hole that was filled."""

    image: Image
    verdicts: tuple[TextVerdict, ...]
    mask: Mask
    removed: int


def product_mask_for(image: Image) -> np.ndarray | None:
    """The product mask for classification: the image's alpha; else, on a plain border
    (studio sweep, finished main image), what differs from its colour in parts of at least
    10 % of the largest (a banner or sticker on the background is not product); else a
    confident classical cut-out; else None."""
    own = alpha_product_mask(image)
    if own is not None:
        return own
    color = plain_border_color(image)
    if color is not None:
        plain = difference_mask(image, color, min_part=0.1)
        if plain.any():
            return plain.astype(np.float32)
    from productstudio.models.segmenters import ClassicalSegmenter

    seg = ClassicalSegmenter().segment(image)
    return seg.mask if not seg.unsure else None


def find_text(
    image: Image,
    detector: TextDetector,
    *,
    min_score: float = MIN_TEXT_SCORE,
    product_mask: np.ndarray | None = None,
    segment: bool = True,
    params: ClassifyParams | None = None,
) -> list[TextVerdict]:
    """Detect and classify the text in ``image``: the one definition of *overlaid* text that
    ``erase-text``, ``detect-text``, the ``erase_text`` step and the compliance text rule
    share, so that what ``check`` calls overlaid text is what ``erase-text`` removes.

    Args:
        image: (H, W, 3|4) uint8/uint16, as loaded (alpha is used as the product mask).
        detector: a text detector.
        min_score: detections below this confidence are dropped.
        product_mask: the product's mask; ``None``: :func:`product_mask_for` (when
            ``segment`` and some text was found).
        params: classification weights.
    """
    check_image(image)
    boxes = [b for b in detector.detect(image) if b.score >= min_score]
    pm = product_mask
    if pm is None and segment and boxes:
        pm = product_mask_for(image)
    return classify_text(image, boxes, pm, params or ClassifyParams())


def erase_text(
    image: Image,
    detector: TextDetector,
    inpainter: Inpainter,
    params: EraseTextParams | None = None,
    *,
    product_mask: np.ndarray | None = None,
) -> EraseTextResult:
    """Remove overlaid text/watermarks (or all text) from ``image``.

    Semi-transparent overlays are un-blended (the photo behind them is recovered), the others
    inpainted. Pixels outside the returned mask (restored strokes plus the inpainted hole,
    grown by ``dilate``) are bit-identical.
    When nothing is selected the image is returned unchanged (a copy).
    """
    p = params or EraseTextParams()
    verdicts = find_text(
        image,
        detector,
        min_score=p.min_score,
        product_mask=product_mask,
        segment=p.segment,
        params=p.classify,
    )
    chosen = select_boxes(verdicts, p.select)
    if not chosen:
        return EraseTextResult(
            image.copy(), tuple(verdicts), np.zeros(image.shape[:2], np.float32), 0
        )
    work = image
    restored = np.zeros(image.shape[:2], bool)
    to_fill = []
    for b in chosen:
        res = unblend(work, b) if p.unblend else None
        if res is None:
            to_fill.append(b)
        else:
            work, m = res
            restored |= m
    hole = np.zeros(image.shape[:2], np.float32)
    if to_fill:
        hole = removal_mask(work, to_fill, tight=p.tight, dilate=p.dilate)
        work = inpainter.inpaint(work, hole)
    mask = np.maximum(hole, restored.astype(np.float32))
    log.info(
        "removed %d of %d text boxes (%d unblended)",
        len(chosen),
        len(verdicts),
        len(chosen) - len(to_fill),
    )
    return EraseTextResult(work, tuple(verdicts), mask, len(chosen))
