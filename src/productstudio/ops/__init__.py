"""Layer 2: pure, composable operations on images (no I/O, no globals)."""

from productstudio.ops.backgrounds import BackgroundKind, BackgroundParams, Fit, apply_background
from productstudio.ops.canvas import (
    Align,
    CanvasParams,
    LayoutPlan,
    MarginUnit,
    MinSize,
    alpha_bbox,
    layout,
    place,
    plan_layout,
    resize_rgba,
)
from productstudio.ops.composite import CompositeParams, composite, over
from productstudio.ops.consistency import ConsistencyParams, layout_set, match_white_balance
from productstudio.ops.cutout import (
    CutoutParams,
    Refine,
    clean_mask,
    cutout,
    estimate_foreground,
    refine_alpha,
)
from productstudio.ops.shadow import (
    CastShadowParams,
    ContactShadowParams,
    DropShadowParams,
    ReflectionParams,
    apply_shadow,
    cast_shadow,
    contact_shadow,
    drop_shadow,
    reflection,
)

__all__ = [
    "Align",
    "BackgroundKind",
    "BackgroundParams",
    "CanvasParams",
    "CastShadowParams",
    "CompositeParams",
    "ConsistencyParams",
    "ContactShadowParams",
    "CutoutParams",
    "DropShadowParams",
    "Fit",
    "LayoutPlan",
    "MarginUnit",
    "MinSize",
    "Refine",
    "ReflectionParams",
    "alpha_bbox",
    "apply_background",
    "apply_shadow",
    "cast_shadow",
    "clean_mask",
    "composite",
    "contact_shadow",
    "cutout",
    "drop_shadow",
    "estimate_foreground",
    "layout",
    "layout_set",
    "match_white_balance",
    "over",
    "place",
    "plan_layout",
    "refine_alpha",
    "reflection",
    "resize_rgba",
]
