"""The ``sample`` step: the picture becomes a sample of one of our own generators.

A model folder written by ``productstudio train`` (``models/generators``: GAN, CVAE or
diffusion) draws the product for an audience: the prompt is the item's title and the
catalogue attributes the model was trained on (colour, category …), plus the step's own
``attrs`` and ``audience`` (the audience schema: ``age_band=…,gender=…,interests=…``).
Later steps work on the sample as on a photo (cut-out, canvas, background …). The model is
loaded once per run (``ctx.resource``). Example::

    steps:
      - sample: {model: generators/cvae-64, audience: "interests=noir", seed: 0}
      - upscale: {scale: 4}
      - output: {format: png}

The same seed, model, prompt and audience give the same pixels (what ``productstudio sample``
and :func:`productstudio.api.sample` give for that prompt).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field, field_validator

from productstudio.errors import InvalidParamsError
from productstudio.recipes.steps.base import StepContext, StepParams, register_step


class SampleStep(StepParams):
    """``sample``: the generator folder, the audience, prompt overrides and the seed."""

    model: str = Field(
        ..., min_length=1, description="generator folder (relative to the recipe file)"
    )
    audience: str | None = Field(
        default=None, description="age_band=…,gender=…,interests=a+b,region=…"
    )
    title: str | None = Field(default=None, description="default: the item's title")
    attrs: dict[str, str] = Field(
        default_factory=dict, description="attribute values the model knows (colour: Red)"
    )
    seed: int | None = Field(default=None, ge=0, description="default: the run's seed")

    @field_validator("audience")
    @classmethod
    def _audience(cls, v: str | None) -> str | None:
        from productstudio.models.conditioning.audience import AudienceProfile

        if v is not None:
            try:
                AudienceProfile.parse(v)
            except InvalidParamsError as exc:
                raise ValueError(str(exc)) from None
        return v


def sample_prompt(
    vocab_names: tuple[str, ...], params: SampleStep, attributes: dict[str, Any]
) -> tuple[Any, list[str]]:
    """The generator prompt for an item, and the attribute names taken from the item.

    The title comes from ``params.title``, else the item's ``title`` (or ``name``);
    attributes from the item whose names the model knows (case-insensitive), then
    ``params.attrs`` on top.
    """
    from productstudio.models.conditioning.audience import AudienceProfile
    from productstudio.models.conditioning.fusion import Prompt

    lower = {str(k).lower(): v for k, v in attributes.items()}
    title = params.title if params.title is not None else str(lower.get("title") or "")
    if not title:
        title = str(lower.get("name") or "")
    taken = [n for n in vocab_names if str(lower.get(n.lower()) or "").strip()]
    attrs = {n: str(lower[n.lower()]).strip() for n in taken}
    attrs.update(params.attrs)
    audience = AudienceProfile.parse(params.audience) if params.audience else None
    return Prompt(title, attrs, audience), taken


@register_step("sample", SampleStep, summary="Replace the picture with an own-generator sample")
def sample_step(ctx: StepContext, image: np.ndarray, params: SampleStep) -> np.ndarray:
    from productstudio.models.generators import load_generator

    path = ctx.resolve_path(params.model)
    gen = ctx.resource(f"generator:{path.resolve()}", lambda: load_generator(path))
    prompt, taken = sample_prompt(gen.vocab.names, params, dict(ctx.attributes))
    # the item's own values may be ones the model never saw: those count as unknown
    known = {n: gen.vocab.index(n, prompt.attrs[n], strict=False) for n in taken}
    unknown = [n for n, i in known.items() if i == 0 and n not in params.attrs]
    if unknown:
        ctx.note(
            "sample: the model does not know "
            + ", ".join(f"{n} '{prompt.attrs[n]}'" for n in unknown)
            + " (left out of the prompt)"
        )
    for n in params.attrs:  # the step's own values must exist (a typo is an error)
        gen.vocab.index(n, params.attrs[n])
    seed = ctx.seed if params.seed is None else params.seed
    out = np.ascontiguousarray(gen.sample([prompt], seed=seed, strict=False)[0])
    ctx.original = out
    ctx.product = None
    return out


__all__ = ["SampleStep", "sample_prompt", "sample_step"]
