"""The ``scene`` recipe step: an AI scene around the product, product pixels kept exact.

Loaded by :func:`productstudio.recipes.steps.load_step_modules`. The pipeline is loaded once
per run (``ctx.resource``); the prompt is built from the item's catalogue attributes (title,
category, colour, material …), the step's scene preset, style and audience. Example::

    steps:
      - cutout: {model: auto}
      - scene: {scene: marble-counter, style: amazon, steps: 30}
      - output: {format: jpeg, quality: 92}

The settings of every scene made in a run are appended to ``ctx.resource("scene_records",
list)`` (prompt, seed, model …), for the caller to save beside the outputs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field, field_validator

from productstudio.errors import InvalidParamsError
from productstudio.recipes.steps import StepContext, StepParams, register_step


def _check(build: Any, v: Any) -> Any:
    try:
        build(v)
    except InvalidParamsError as exc:
        raise ValueError(str(exc)) from None
    return v


class SceneStep(StepParams):
    """``scene``: preset, prompt text, template, style, audience, model and sampling."""

    scene: str | None = Field(
        "studio-sweep", description="scene preset (productstudio scene --list)"
    )
    prompt: str | None = Field(None, description="scene text, instead of or on top of the preset")
    template: str = "default"
    style: str | None = None
    audience: str | None = Field(None, description="age_band=25-34,gender=women,interests=noir")
    negative_prompt: str | None = None
    model: str | None = Field(None, description="pipeline: added name, folder or file")
    steps: int = Field(30, ge=1, le=200)
    guidance: float = Field(7.5, ge=0.0, le=30.0)
    seed: int | None = Field(None, ge=0, description="default: the run's seed")
    size: int | None = Field(None, ge=64, le=4096, description="canvas width; default: native")
    native: int | None = Field(None, ge=64, le=2048, description="model working size")
    grow_px: int | None = Field(None, ge=0, le=64)
    harmonise: float | None = Field(None, ge=0.0, le=1.0)
    light_wrap: float | None = Field(None, ge=0.0, le=1.0)
    shadow: float | None = Field(None, ge=0.0, le=1.0)
    device: str = "auto"
    dtype: str = "auto"
    offload: str = "none"
    attention_slicing: bool = False
    scheduler: str = "default"

    @field_validator("scene")
    @classmethod
    def _scene(cls, v: str | None) -> str | None:
        from productstudio.models.pipelines.prompts import PromptBook

        return None if v is None else _check(PromptBook.default().scene, v)

    @field_validator("style")
    @classmethod
    def _style(cls, v: str | None) -> str | None:
        from productstudio.models.pipelines.prompts import PromptBook

        if v is not None and v not in PromptBook.default().style_names():
            raise ValueError(
                f"unknown style '{v}'. Styles: {', '.join(PromptBook.default().style_names())}"
            )
        return v

    @field_validator("audience")
    @classmethod
    def _audience(cls, v: str | None) -> str | None:
        from productstudio.models.conditioning.audience import AudienceProfile

        return None if v is None else _check(AudienceProfile.parse, v)

    def load_options(self) -> Any:
        from productstudio.models.pipelines.options import LoadOptions

        return LoadOptions(
            device=self.device,  # type: ignore[arg-type]  # validated by LoadOptions
            dtype=self.dtype,  # type: ignore[arg-type]
            offload=self.offload,  # type: ignore[arg-type]
            attention_slicing=self.attention_slicing,
            scheduler=self.scheduler,  # type: ignore[arg-type]
        )


@register_step("scene", SceneStep, summary="Paint an AI scene around the product (exact pixels)")
def scene_step(ctx: StepContext, image: np.ndarray, params: SceneStep) -> np.ndarray:
    from dataclasses import replace

    from productstudio.imaging.types import to_uint8
    from productstudio.models.conditioning.audience import AudienceProfile
    from productstudio.models.pipelines.backend import DiffusersPipeline
    from productstudio.models.pipelines.options import GenerationParams, Task
    from productstudio.models.pipelines.prompts import ProductInfo, PromptBook, ScenePreset
    from productstudio.models.pipelines.scene import SceneLayout, generate_scenes, scene_params_of
    from productstudio.ops.cutout import cutout
    from productstudio.ops.shadow import ContactShadowParams

    img = to_uint8(image)
    if img.shape[2] == 4 and not (img[..., 3] == 255).all():
        product = img
    else:
        product = cutout(img[..., :3], ctx.product_mask(img[..., :3]))
    book = PromptBook.default()
    preset = book.scene(params.scene) if params.scene else ScenePreset("custom", "")
    info = ProductInfo.from_mapping(dict(ctx.attributes))
    if not info.title and ctx.source:
        from pathlib import Path

        info = replace(info, title=Path(ctx.source).stem.replace("_", " ").replace("-", " "))
    built = book.build(
        info,
        template=params.template,
        scene=preset if params.scene else None,
        scene_text=params.prompt,
        style=params.style,
        audience=AudienceProfile.parse(params.audience) if params.audience else None,
        negative=params.negative_prompt,
    )
    sp = scene_params_of(preset)
    sp = replace(
        sp,
        grow_px=sp.grow_px if params.grow_px is None else params.grow_px,
        harmonise=sp.harmonise if params.harmonise is None else params.harmonise,
        light_wrap=sp.light_wrap if params.light_wrap is None else params.light_wrap,
        shadow=sp.shadow
        if params.shadow is None
        else (ContactShadowParams(opacity=params.shadow) if params.shadow > 0 else None),
    )
    opts = params.load_options()
    key = f"pipeline:{params.model}:{opts.as_dict()}"
    pipe = ctx.resource(key, lambda: DiffusersPipeline.load(params.model, opts, task=Task.INPAINT))
    gp = GenerationParams(
        steps=params.steps,
        guidance=params.guidance,
        seed=ctx.seed if params.seed is None else params.seed,
    )
    res = generate_scenes(
        pipe,
        product,
        built,
        gp,
        layout=SceneLayout.from_preset(preset, params.size),
        scene=sp,
        native=params.native,
    )[0]
    if res.generated.nsfw:
        ctx.note("scene: the model's safety checker blanked the generated scene")
    ctx.product = res.product
    ctx.background = res.background
    ctx.resource("scene_records", list).append({"source": ctx.source, **res.record})
    return res.image


__all__ = ["SceneStep", "scene_step"]
