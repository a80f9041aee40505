"""Layer 2: pure, composable operations on images (no I/O, no globals)."""

from productstudio.ops.canvas import Align, CanvasParams, alpha_bbox, layout, resize_rgba
from productstudio.ops.composite import CompositeParams, composite, over
from productstudio.ops.cutout import (
    CutoutParams,
    Refine,
    clean_mask,
    cutout,
    estimate_foreground,
    refine_alpha,
)

__all__ = [
    "Align",
    "CanvasParams",
    "CompositeParams",
    "CutoutParams",
    "Refine",
    "alpha_bbox",
    "clean_mask",
    "composite",
    "cutout",
    "estimate_foreground",
    "layout",
    "over",
    "refine_alpha",
    "resize_rgba",
]
