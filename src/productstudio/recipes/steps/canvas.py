"""Placement steps: ``canvas`` (size, fill, margins) and ``consistent`` (one scale for a
whole catalogue)."""

from __future__ import annotations

import dataclasses

import numpy as np
from pydantic import Field

from productstudio.errors import InvalidParamsError
from productstudio.imaging.types import to_uint8
from productstudio.ops.canvas import Align, CanvasParams, MinSize, alpha_bbox, place, plan_layout
from productstudio.ops.consistency import height_attribute
from productstudio.recipes.steps.base import (
    DataclassStep,
    StepContext,
    dataclass_model,
    register_step,
)

CanvasStep = dataclass_model(
    "CanvasStep", CanvasParams, module=__name__, extra={"upscaler": (str, "auto")}
)


def _as_rgba(img: np.ndarray) -> np.ndarray:
    """No cut-out yet: the whole photo is the product."""
    if img.shape[2] == 4:
        return img
    return np.dstack([img, np.full(img.shape[:2], 255, np.uint8)])


def _upscale_product(ctx: StepContext, img: np.ndarray, scale: float, choice: str) -> np.ndarray:
    """Enlarge the product's crop with a learned upscaler from the registry (``min_size:
    upscale``); the final fit to the canvas is then a small Lanczos step down."""
    from productstudio.models.upscalers import load_upscaler

    up = ctx.resource(f"upscaler:{choice}", lambda: load_upscaler(choice))
    factor = float(min(16.0, max(1.01, scale)))
    ctx.note(f"min_size=upscale: product enlarged {factor:.2f}x with {getattr(up, 'name', choice)}")
    out: np.ndarray = up.upscale(img, factor)
    return out


@register_step(
    "canvas", CanvasStep, summary="Place the product on the canvas (size, fill, margins)"
)
def canvas_step(ctx: StepContext, image: np.ndarray, params: DataclassStep) -> np.ndarray:
    p: CanvasParams = params.op()
    img = _as_rgba(to_uint8(image))
    plan = plan_layout(img, p)
    if p.min_size is MinSize.UPSCALE and plan.scale > p.upscale_tolerance:
        x0, y0, x1, y1 = plan.box
        img = _upscale_product(
            ctx, img[y0:y1, x0:x1], plan.scale, getattr(params, "upscaler", "auto")
        )
        plan = plan_layout(img, dataclasses.replace(p, min_size=MinSize.IGNORE))
    for w in plan.warnings:
        ctx.note(w)
    out = place(img, plan)
    ctx.product = out
    return out


ConsistentStep = dataclass_model(
    "ConsistentStep",
    CanvasParams,
    module=__name__,
    extra={
        "reference_height": (float, Field(gt=0)),
        "height_key": (str, "height_cm"),
    },
)


@register_step(
    "consistent",
    ConsistentStep,
    summary="Canvas with one scale for the whole catalogue (height_cm) and a shared baseline",
)
def consistent_step(ctx: StepContext, image: np.ndarray, params: DataclassStep) -> np.ndarray:
    """Like ``canvas`` but the product's height is ``fill × usable height × height /
    reference_height`` (``height`` from the item's ``height_key`` attribute; the reference is
    the catalogue's tallest item), standing on ``baseline``. Items without the attribute fill
    ``fill`` like the tallest one (a note says so)."""
    p: CanvasParams = dataclasses.replace(params.op(), align=Align.BASELINE)
    img = _as_rgba(to_uint8(image))
    key = getattr(params, "height_key", "height_cm")
    ref = float(getattr(params, "reference_height", 1.0))
    h = height_attribute(ctx.attributes, key)
    box = alpha_bbox(img, p.alpha_threshold)
    if box is None:
        raise InvalidParamsError("consistent: the cut-out has no visible product")
    _, ch = p.size
    mt, _, mb, _ = p.margins_px()
    if h is None:
        ctx.note(
            f"consistent: no '{key}' attribute: the product fills {p.fill:.0%} like the tallest"
        )
        h = ref
    target = p.fill * (ch - mt - mb) * min(h, ref) / ref
    plan = plan_layout(img, p, scale=target / (box[3] - box[1]))
    for w in plan.warnings:
        ctx.note(w)
    out = place(img, plan)
    ctx.product = out
    return out


__all__ = ["CanvasStep", "ConsistentStep", "canvas_step", "consistent_step"]
