"""Built-in recipe steps: cutout, canvas, background, shadow, flatten, output.

Each wraps one op family; params models are generated from the op's frozen dataclass (same
names, types and defaults), and the dataclass' own checks run when the recipe is loaded.
"""

from __future__ import annotations

import dataclasses
import typing
from enum import StrEnum
from typing import Any, ClassVar

import numpy as np
from pydantic import Field, create_model, model_validator

from productstudio.errors import InvalidParamsError
from productstudio.imaging.io import load_image
from productstudio.imaging.types import check_image, to_uint8
from productstudio.ops.backgrounds import BackgroundKind, BackgroundParams, make_background
from productstudio.ops.canvas import CanvasParams, MinSize, place, plan_layout
from productstudio.ops.composite import composite
from productstudio.ops.cutout import CutoutParams, cutout
from productstudio.ops.shadow import (
    CastShadowParams,
    ContactShadowParams,
    DropShadowParams,
    ReflectionParams,
    apply_shadow,
)
from productstudio.recipes.steps import (
    EncodeSettings,
    StepContext,
    StepParams,
    register_step,
)


class DataclassStep(StepParams):
    """A step params model mirroring an op's params dataclass (see :func:`dataclass_model`)."""

    op_params: ClassVar[type[Any]]
    exclude: ClassVar[tuple[str, ...]] = ()

    def op(self) -> Any:
        """The op's params dataclass built from this model."""
        fields = {f.name for f in dataclasses.fields(self.op_params)}
        data = {k: v for k, v in self.model_dump().items() if k in fields}
        return self.op_params(**data)

    @model_validator(mode="after")
    def _check_op(self) -> DataclassStep:
        try:
            self.op()
        except InvalidParamsError as exc:
            raise ValueError(_name_field(str(exc), self.op_params, self.model_dump())) from None
        return self


def _name_field(msg: str, dc: type[Any], values: dict[str, Any]) -> str:
    """Prefix an op's error with ``Params.field`` when the message quotes a field's value, so
    that recipe errors can point at the YAML line of that key."""
    import re

    if re.search(r"\b[A-Z]\w*Params\.\w+", msg):
        return msg
    for k, v in values.items():
        if isinstance(v, str) and f"'{v}'" in msg:
            return f"{dc.__name__}.{k}: {msg}"
    return msg


def dataclass_model(
    name: str, dc: type[Any], *, exclude: tuple[str, ...] = (), extra: dict[str, Any] | None = None
) -> type[DataclassStep]:
    """A :class:`DataclassStep` subclass with one field per field of dataclass ``dc``."""
    hints = typing.get_type_hints(dc)
    fields: dict[str, Any] = {}
    for f in dataclasses.fields(dc):
        if f.name in exclude:
            continue
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = ...
        fields[f.name] = (hints[f.name], default)
    fields.update(extra or {})
    model = create_model(name, __base__=DataclassStep, **fields)
    model.op_params = dc
    return model


# -- cutout ---------------------------------------------------------------------------------
_CutoutBase = dataclass_model(
    "_CutoutBase", CutoutParams, extra={"model": (str | None, None), "keep_alpha": (bool, True)}
)


class CutoutStep(_CutoutBase):  # type: ignore[misc,valid-type]
    """``cutout``: ``model`` (auto, a name or a path; default: the run's ``--model``),
    ``keep_alpha`` (an input that already has transparency is used as is), plus every
    :class:`~productstudio.ops.cutout.CutoutParams` field."""


@register_step("cutout", CutoutStep, summary="Cut the product out (segmenter + refined alpha)")
def cutout_step(ctx: StepContext, image: np.ndarray, params: CutoutStep) -> np.ndarray:
    img = to_uint8(image)
    if img.shape[2] == 4 and params.keep_alpha and not (img[..., 3] == 255).all():
        out = img.copy()
    else:
        if params.model is not None and params.model != ctx.segmenter_choice:
            ctx.segmenter_choice = params.model
            ctx._segmenter = None
        seg = ctx.segmenter().segment(img)
        if seg.unsure:
            ctx.note(
                f"cut-out unsure ({seg.backend}, {seg.confidence:.2f}): {'; '.join(seg.notes)}"
            )
        out = cutout(img[..., :3], seg.mask, params.op())
    ctx.source_mask = out[..., 3].astype(np.float32) / 255.0
    ctx.product = out
    return out


# -- canvas ---------------------------------------------------------------------------------
CanvasStep = dataclass_model("CanvasStep", CanvasParams, extra={"upscaler": (str, "auto")})


def _upscale_product(ctx: StepContext, img: np.ndarray, scale: float, choice: str) -> np.ndarray:
    """Enlarge the product's crop with a learned upscaler from the registry (``min_size:
    upscale``); the final fit to the canvas is then a small Lanczos step down."""
    import importlib.util

    if importlib.util.find_spec("productstudio.models.upscalers") is None:
        ctx.note("min_size=upscale: no upscaler registry installed; enlarged with Lanczos")
        return img
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
    img = to_uint8(image)
    if img.shape[2] == 3:  # no cut-out: the whole photo is the product
        img = np.dstack([img, np.full(img.shape[:2], 255, np.uint8)])
    plan = plan_layout(img, p)
    if p.min_size is MinSize.UPSCALE and plan.scale > p.upscale_tolerance:
        x0, y0, x1, y1 = plan.box
        crop = _upscale_product(
            ctx, img[y0:y1, x0:x1], plan.scale, getattr(params, "upscaler", "auto")
        )
        img = crop
        plan = plan_layout(img, dataclasses.replace(p, min_size=MinSize.IGNORE))
    for w in plan.warnings:
        ctx.note(w)
    out = place(img, plan)
    ctx.product = out
    return out


# -- consistent scale ------------------------------------------------------------------------
ConsistentStep = dataclass_model(
    "ConsistentStep",
    CanvasParams,
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
    from productstudio.ops.canvas import Align, alpha_bbox
    from productstudio.ops.consistency import height_attribute

    p: CanvasParams = dataclasses.replace(params.op(), align=Align.BASELINE)
    img = to_uint8(image)
    if img.shape[2] == 3:
        img = np.dstack([img, np.full(img.shape[:2], 255, np.uint8)])
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


# -- background -----------------------------------------------------------------------------
BackgroundStep = dataclass_model(
    "BackgroundStep", BackgroundParams, extra={"image": (str | None, None)}
)


@register_step("background", BackgroundStep, summary="Put a background behind the product")
def background_step(ctx: StepContext, image: np.ndarray, params: DataclassStep) -> np.ndarray:
    p: BackgroundParams = params.op()
    img = to_uint8(image)
    if img.shape[2] == 3:
        ctx.note("background: the image has no alpha (add a cutout step first); left unchanged")
        return img.copy()
    h, w = img.shape[:2]
    scene = None
    mask = None
    if p.kind is BackgroundKind.IMAGE:
        path = getattr(params, "image", None)
        if not path:
            raise InvalidParamsError("background kind 'image' needs `image: PATH` (a scene photo)")
        scene = ctx.resource(f"scene:{path}", lambda: load_image(ctx.resolve_path(path)).pixels)
    elif p.kind is BackgroundKind.BOKEH:
        if ctx.original is None:
            raise InvalidParamsError("background kind 'bokeh' needs the original photo in ctx")
        scene, mask = ctx.original, ctx.source_mask
    bg = make_background(w, h, p, scene, mask)
    ctx.product = img
    if p.kind is BackgroundKind.TRANSPARENT:
        ctx.background = None
        return img.copy()
    if int(bg[0, 0, 3]) < 255:
        from productstudio.ops.composite import over

        ctx.background = None
        return over(img, bg)
    ctx.background = np.ascontiguousarray(bg[..., :3])
    return composite(img, ctx.background)


# -- shadow ---------------------------------------------------------------------------------
class ShadowType(StrEnum):
    CONTACT = "contact"
    DROP = "drop"
    CAST = "cast"
    REFLECTION = "reflection"


_SHADOW_DC: dict[ShadowType, type[Any]] = {
    ShadowType.CONTACT: ContactShadowParams,
    ShadowType.DROP: DropShadowParams,
    ShadowType.CAST: CastShadowParams,
    ShadowType.REFLECTION: ReflectionParams,
}


def _shadow_fields() -> dict[str, Any]:
    out: dict[str, Any] = {"type": (ShadowType, ShadowType.CONTACT)}
    for dc in _SHADOW_DC.values():
        hints = typing.get_type_hints(dc)
        for f in dataclasses.fields(dc):
            out.setdefault(f.name, (hints[f.name] | None, None))
    return out


_ShadowBase = create_model("_ShadowBase", __base__=StepParams, **_shadow_fields())


class ShadowStep(_ShadowBase):  # type: ignore[misc,valid-type]
    """``shadow``: ``type`` (contact, drop, cast, reflection) plus that type's options."""

    def op(self) -> Any:
        dc = _SHADOW_DC[self.type]
        names = {f.name for f in dataclasses.fields(dc)}
        data = {k: v for k, v in self.model_dump(exclude={"type"}).items() if v is not None}
        wrong = sorted(set(data) - names)
        if wrong:
            raise InvalidParamsError(
                f"shadow type '{self.type.value}' has no option {', '.join(map(repr, wrong))}; "
                f"its options are {', '.join(sorted(names))}"
            )
        return dc(**data)

    @model_validator(mode="after")
    def _check_op(self) -> ShadowStep:
        try:
            self.op()
        except InvalidParamsError as exc:
            raise ValueError(str(exc)) from None
        return self


@register_step("shadow", ShadowStep, summary="Contact, drop or cast shadow, or a floor reflection")
def shadow_step(ctx: StepContext, image: np.ndarray, params: ShadowStep) -> np.ndarray:
    """After ``background``: darkens the stored background under the product and
    re-composites; on an RGBA image (no background yet): adds the shadow as a layer."""
    img = to_uint8(image)
    product = ctx.product
    background: Any
    if (
        img.shape[2] == 3
        and ctx.background is not None
        and ctx.background.shape[:2] == img.shape[:2]
        and product is not None
        and product.shape[:2] == img.shape[:2]
    ):
        background = ctx.background
    elif img.shape[2] == 4:
        product, background = img, (0, 0, 0, 0)
    else:
        raise InvalidParamsError(
            "shadow: no product layer to shade: put cutout/canvas (and background) steps first"
        )
    out = apply_shadow(product, background, params.op())
    if img.shape[2] == 4:
        ctx.product = out
    check_image(out)
    return out


# -- flatten / output -----------------------------------------------------------------------
class FlattenStep(StepParams):
    """``flatten``: put transparency over ``color`` (exact where alpha is 255)."""

    color: str = "#ffffff"


@register_step("flatten", FlattenStep, summary="Flatten transparency over a colour")
def flatten_step(ctx: StepContext, image: np.ndarray, params: FlattenStep) -> np.ndarray:
    img = to_uint8(image)
    if img.shape[2] == 3:
        return img.copy()
    return composite(img, params.color)


@register_step("output", EncodeSettings, summary="Output format, quality and file-size limit")
def output_step(ctx: StepContext, image: np.ndarray, params: EncodeSettings) -> np.ndarray:
    ctx.encode = params
    return image


__all__ = [
    "BackgroundStep",
    "CanvasStep",
    "ConsistentStep",
    "CutoutStep",
    "DataclassStep",
    "FlattenStep",
    "ShadowStep",
    "ShadowType",
    "dataclass_model",
]
