"""The ``scene`` step: an AI scene around the product, the product's own pixels kept exact.

The pipeline is loaded once per run (``ctx.resource``); the prompt is built from the item's
catalogue attributes (title, category, colour, material …), the step's scene preset, style
and audience. Example::

    steps:
      - cutout: {model: auto}
      - scene: {scene: marble-counter, style: amazon, steps: 30, model: sd15-inpaint}
      - output: {format: jpeg, quality: 92}

The settings of every scene made in a run are appended to ``ctx.resource("scene_records",
list)`` (prompt, seed, model …), for the caller to save beside the outputs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from pydantic import Field, field_validator

from productstudio.errors import InvalidParamsError
from productstudio.imaging.types import alpha_product_mask, to_uint8
from productstudio.models.pipelines.options import LoadOptions
from productstudio.recipes.steps.base import StepContext, dataclass_model, register_step


def _valid(check: Callable[[str], Any], v: str | None) -> str | None:
    """``v`` when ``check(v)`` accepts it; its InvalidParamsError as a pydantic error."""
    if v is None:
        return v
    try:
        check(v)
    except InvalidParamsError as exc:
        raise ValueError(str(exc)) from None
    return v


def _book() -> Any:
    from productstudio.models.pipelines.prompts import PromptBook

    return PromptBook.default()


_SceneBase = dataclass_model(
    "_SceneBase",
    LoadOptions,
    module=__name__,
    exclude=("config", "allow_hub", "safety_checker"),
    extra={
        "scene": (str | None, Field(default="studio-sweep", description="scene preset")),
        "prompt": (str | None, Field(default=None, description="scene text (with the preset)")),
        "template": (str, "default"),
        "style": (str | None, None),
        "audience": (str | None, Field(default=None, description="age_band=…,interests=…")),
        "negative_prompt": (str | None, None),
        "model": (str | None, Field(default=None, description="pipeline: name, folder, file")),
        "steps": (int, Field(default=30, ge=1, le=200)),
        "guidance": (float, Field(default=7.5, ge=0.0, le=30.0)),
        "seed": (int | None, Field(default=None, ge=0, description="default: the run's seed")),
        "size": (int | None, Field(default=None, ge=64, le=4096, description="canvas width")),
        "native": (int | None, Field(default=None, ge=64, le=2048, description="model size")),
        "grow_px": (int | None, Field(default=None, ge=0, le=64)),
        "harmonise": (float | None, Field(default=None, ge=0.0, le=1.0)),
        "light_wrap": (float | None, Field(default=None, ge=0.0, le=1.0)),
        "shadow": (float | None, Field(default=None, ge=0.0, le=1.0)),
    },
)


class SceneStep(_SceneBase):  # type: ignore[misc,valid-type]
    """``scene``: a scene preset and/or scene text, prompt template, marketplace style,
    audience, the pipeline (``model``), sampling (steps, guidance, seed), layout overrides,
    plus the :class:`~productstudio.models.pipelines.options.LoadOptions` fields (device,
    dtype, offload, attention_slicing, vae_tiling, scheduler)."""

    @field_validator("scene")
    @classmethod
    def _scene(cls, v: str | None) -> str | None:
        return _valid(_book().scene, v)

    @field_validator("style")
    @classmethod
    def _style(cls, v: str | None) -> str | None:
        def known(name: str) -> None:
            if name not in _book().style_names():
                raise InvalidParamsError(
                    f"unknown style '{name}'. Styles: {', '.join(_book().style_names())}"
                )

        return _valid(known, v)

    @field_validator("audience")
    @classmethod
    def _audience(cls, v: str | None) -> str | None:
        from productstudio.models.conditioning.audience import AudienceProfile

        return _valid(AudienceProfile.parse, v)


@register_step("scene", SceneStep, summary="Paint an AI scene around the product (exact pixels)")
def scene_step(ctx: StepContext, image: np.ndarray, params: SceneStep) -> np.ndarray:
    from dataclasses import replace
    from pathlib import Path

    from productstudio.models.conditioning.audience import AudienceProfile
    from productstudio.models.pipelines.backend import DiffusersPipeline
    from productstudio.models.pipelines.options import GenerationParams, Task
    from productstudio.models.pipelines.prompts import ProductInfo, ScenePreset
    from productstudio.models.pipelines.scene import SceneLayout, generate_scenes, scene_params_of
    from productstudio.ops.cutout import cutout
    from productstudio.ops.shadow import ContactShadowParams

    img = to_uint8(image)
    if alpha_product_mask(img) is not None:
        product = img
    else:
        product = cutout(img[..., :3], ctx.product_mask(img[..., :3]))
    book = _book()
    preset = book.scene(params.scene) if params.scene else ScenePreset("custom", "")
    info = ProductInfo.from_mapping(dict(ctx.attributes))
    if not info.title and ctx.source:
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
    opts: LoadOptions = params.op()
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
