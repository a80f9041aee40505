"""Recipe steps for the retouch-and-repair ops: recolour, adjust, spots, erase, erase_text,
upscale, style.

Models are loaded once per run through ``ctx.resource``. Example::

    steps:
      - adjust: {}                      # auto: fixes only what is off
      - erase_text: {select: overlay}
      - recolour: {color: "#1f3a93"}
      - upscale: {scale: 2, model: lanczos}
"""

from __future__ import annotations

import numpy as np
from pydantic import Field, field_validator

from productstudio.errors import InvalidParamsError
from productstudio.imaging.color import parse_color
from productstudio.models.style.base import LookMethod
from productstudio.ops.adjust import (
    AdjustParams,
    SpotParams,
    adjust,
    auto_adjust,
    remove_spots,
)
from productstudio.ops.style import Region
from productstudio.ops.text import TextSelect
from productstudio.recipes.steps.base import (
    DataclassStep,
    StepContext,
    StepParams,
    dataclass_model,
    register_step,
)


def _colour(v: str) -> str:
    try:
        parse_color(v)
    except InvalidParamsError as exc:
        raise ValueError(str(exc)) from None
    return v


class RecolourStep(StepParams):
    """Recolour the product (alpha or the segmenter's mask) to ``color``."""

    color: str = Field(..., description="target colour, hex or CSS name")
    strength: float = Field(default=1.0, ge=0.0, le=1.0)

    _check = field_validator("color")(classmethod(lambda cls, v: _colour(v)))


@register_step("recolour", RecolourStep, summary="Recolour the product keeping its shading")
def recolour_step(ctx: StepContext, image: np.ndarray, params: RecolourStep) -> np.ndarray:
    from productstudio.ops.recolour import RecolourParams, recolour

    mask = ctx.product_mask(image)
    return recolour(image, RecolourParams(color=params.color, strength=params.strength), mask)


AdjustStep = dataclass_model(
    "AdjustStep", AdjustParams, module=__name__, extra={"auto": (bool, True)}
)


@register_step("adjust", AdjustStep, summary="Auto-adjust or manual tone/colour adjustments")
def adjust_step(ctx: StepContext, image: np.ndarray, params: DataclassStep) -> np.ndarray:
    """Manual adjustments when any :class:`~productstudio.ops.adjust.AdjustParams` field is
    set; else, with ``auto`` (the default), the automatic fix of what is off."""
    manual: AdjustParams = params.op()
    if manual.is_neutral:
        if not getattr(params, "auto", True):
            return image.copy()
        res = auto_adjust(image)
        for n in res.notes if res.changed else ():
            ctx.note(f"adjust: {n}")
        return res.image
    return adjust(image, manual)


SpotsStep = dataclass_model("SpotsStep", SpotParams, module=__name__)


@register_step("spots", SpotsStep, summary="Remove dust and small spots on the product")
def spots_step(ctx: StepContext, image: np.ndarray, params: DataclassStep) -> np.ndarray:
    # the op finds the product in the image's own alpha
    out, _ = remove_spots(image, None, params.op())
    return out


class EraseStep(StepParams):
    """Remove boxes ``[x, y, w, h]`` (or a mask file) with an inpainter."""

    boxes: list[tuple[int, int, int, int]] = Field(default_factory=list)
    mask: str | None = None
    model: str = "auto"
    dilate: int = Field(default=0, ge=0, le=256)


@register_step("erase", EraseStep, summary="Remove an object given as boxes or a mask file")
def erase_step(ctx: StepContext, image: np.ndarray, params: EraseStep) -> np.ndarray:
    from productstudio.imaging import load_image
    from productstudio.imaging.types import as_mask
    from productstudio.models.inpainters import load_inpainter
    from productstudio.ops.inpaint import box_to_mask

    m = np.zeros(image.shape[:2], np.float32)
    if params.mask:
        px = load_image(ctx.resolve_path(params.mask)).pixels
        m = as_mask(px[..., :3].max(axis=2), shape=image.shape[:2])
    for b in params.boxes:
        m = np.maximum(m, box_to_mask(image.shape[:2], b))
    inp = ctx.resource(f"inpainter:{params.model}", lambda: load_inpainter(params.model))
    out: np.ndarray = inp.inpaint(image, m, dilate=params.dilate)
    return out


class EraseTextStep(StepParams):
    """Remove overlaid text/watermarks (packaging text kept unless ``select: all``)."""

    select: TextSelect = TextSelect.OVERLAY
    model: str = "auto"
    dilate: int = Field(default=2, ge=0, le=32)


@register_step("erase_text", EraseTextStep, summary="Remove overlaid text and watermarks")
def erase_text_step(ctx: StepContext, image: np.ndarray, params: EraseTextStep) -> np.ndarray:
    from productstudio.models.inpainters import load_inpainter
    from productstudio.models.text import EraseTextParams, erase_text, load_text_detector

    det = ctx.resource("text-detector", lambda: load_text_detector("auto"))
    inp = ctx.resource(f"inpainter:{params.model}", lambda: load_inpainter(params.model))
    res = erase_text(image, det, inp, EraseTextParams(select=params.select, dilate=params.dilate))
    if res.removed:
        ctx.note(f"erase_text: removed {res.removed} text box(es)")
    out: np.ndarray = res.image
    return out


class UpscaleStep(StepParams):
    """Enlarge by ``scale`` with an upscaler (Lanczos by default)."""

    scale: float = Field(default=2.0, gt=1.0, le=16.0)
    model: str = "lanczos"


@register_step("upscale", UpscaleStep, summary="Enlarge with Lanczos or a super-resolution model")
def upscale_step(ctx: StepContext, image: np.ndarray, params: UpscaleStep) -> np.ndarray:
    from productstudio.models.upscalers import load_upscaler

    up = ctx.resource(f"upscaler:{params.model}", lambda: load_upscaler(params.model))
    out: np.ndarray = up.upscale(image, params.scale)
    ctx.note(f"upscale: enlarged {params.scale:g}x with {up.name}")
    return out


class StyleStep(StepParams):
    """Colour/tone look of a reference photo (``reference``) or a neural style (``style``)."""

    reference: str | None = None
    style: int | None = Field(default=None, ge=0, le=25)
    method: LookMethod = LookMethod.LAB_STATS
    region: Region = Region.BOTH
    strength: float = Field(default=1.0, ge=0.0, le=1.0)


@register_step("style", StyleStep, summary="Catalogue look from a reference photo or a style")
def style_step(ctx: StepContext, image: np.ndarray, params: StyleStep) -> np.ndarray:
    from productstudio.imaging import load_image
    from productstudio.ops.style import StyleParams, transfer_style

    if (params.reference is None) == (params.style is None):
        raise InvalidParamsError("style step: give exactly one of 'reference' or 'style'")
    region = params.region
    mask = None if region is Region.BOTH else ctx.product_mask(image)
    out: np.ndarray
    if params.style is not None:
        from productstudio.models.style import MultiStyle, load_style_model

        sm = ctx.resource("style:multistyle26", lambda: load_style_model("multistyle26"))
        assert isinstance(sm, MultiStyle)
        out = sm.with_style(params.style).stylize(
            image, strength=params.strength, region=region, mask=mask
        )
        return out
    assert params.reference is not None
    ref = load_image(ctx.resolve_path(params.reference)).pixels
    if params.method is LookMethod.NEURAL:
        from productstudio.models.style import ArbitraryStyle, load_style_model

        am = ctx.resource("style:arbitrary", lambda: load_style_model("arbitrary"))
        assert isinstance(am, ArbitraryStyle)
        out = am.with_reference(ref).stylize(
            image, strength=params.strength, region=region, mask=mask
        )
        return out
    method = params.method.op_method
    assert method is not None
    sp = StyleParams(method, region, params.strength)
    out = transfer_style(image, ref, sp, mask)
    return out
