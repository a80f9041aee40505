"""Steps behind the product: ``background`` (colour, gradient, scene, bokeh …), ``shadow``
(contact, drop, cast, reflection) and ``flatten``."""

from __future__ import annotations

import dataclasses
import typing
from enum import StrEnum
from typing import Any

import numpy as np
from pydantic import create_model, model_validator

from productstudio.errors import InvalidParamsError
from productstudio.imaging.io import load_image
from productstudio.imaging.types import check_image, to_uint8
from productstudio.ops.backgrounds import BackgroundKind, BackgroundParams, make_background
from productstudio.ops.composite import composite, over
from productstudio.ops.shadow import (
    CastShadowParams,
    ContactShadowParams,
    DropShadowParams,
    ReflectionParams,
    apply_shadow,
)
from productstudio.recipes.steps.base import (
    DataclassStep,
    StepContext,
    StepParams,
    dataclass_model,
    register_step,
)

# -- background -----------------------------------------------------------------------------
BackgroundStep = dataclass_model(
    "BackgroundStep", BackgroundParams, module=__name__, extra={"image": (str | None, None)}
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


# -- flatten -------------------------------------------------------------------------------
class FlattenStep(StepParams):
    """``flatten``: put transparency over ``color`` (exact where alpha is 255)."""

    color: str = "#ffffff"


@register_step("flatten", FlattenStep, summary="Flatten transparency over a colour")
def flatten_step(ctx: StepContext, image: np.ndarray, params: FlattenStep) -> np.ndarray:
    img = to_uint8(image)
    if img.shape[2] == 3:
        return img.copy()
    return composite(img, params.color)


__all__ = [
    "BackgroundStep",
    "FlattenStep",
    "ShadowStep",
    "ShadowType",
    "background_step",
    "flatten_step",
    "shadow_step",
]
