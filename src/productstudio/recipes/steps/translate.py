"""Recipe step ``translate``: a trained translation model (``productstudio train cyclegan``) on
the picture, e.g. an in-store photo towards the studio-packshot look.

The model works at the size it was trained at (64 px by default), so the step pads the picture to
a square on white, shrinks it to that size, translates it and brings the result back to the
picture's size. ``detail: keep`` (default) adds only the model's *change* (translated − shrunk
input, enlarged) to the full-resolution picture, so edges and text keep their sharpness;
``detail: model`` returns the enlarged translation itself. ``strength`` blends with the input.
Example::

    steps:
      - translate: {model: models/instore2studio, strength: 0.8}
      - cutout: {model: auto}
"""

from __future__ import annotations

from enum import StrEnum

import numpy as np
from numpy.typing import NDArray
from pydantic import Field

from productstudio.recipes.steps.base import StepContext, StepParams, register_step


class TranslateDirection(StrEnum):
    A2B = "a2b"  # the direction the model was trained for (e.g. in-store → studio)
    B2A = "b2a"  # CycleGAN models only


class Detail(StrEnum):
    KEEP = "keep"  # full-resolution input + the model's enlarged change
    MODEL = "model"  # the enlarged translation


class TranslateStep(StepParams):
    """A cyclegan model folder (relative to the recipe) and how to apply it."""

    model: str = Field(..., description="folder written by `productstudio train cyclegan`")
    direction: TranslateDirection = TranslateDirection.A2B
    strength: float = Field(default=1.0, ge=0.0, le=1.0)
    detail: Detail = Detail.KEEP


def _resize(image: NDArray[np.uint8], size: tuple[int, int]) -> NDArray[np.float32]:
    from PIL import Image as PILImage

    im = PILImage.fromarray(image).resize(size, PILImage.Resampling.LANCZOS)
    return np.asarray(im, np.float32)


def translate_picture(
    model: object, image: NDArray[np.uint8], params: TranslateStep
) -> NDArray[np.uint8]:
    """Apply a loaded translation ``model`` to an (H, W, 3) uint8 picture, any size."""
    from productstudio.models.data import pad_to_square
    from productstudio.models.generators import CycleGAN
    from productstudio.models.generators.cyclegan import blend_translation

    assert isinstance(model, CycleGAN)
    h, w = image.shape[:2]
    side = max(h, w)
    y0, x0 = (side - h) // 2, (side - w) // 2
    square = pad_to_square(image)
    small = _resize(square, (model.size, model.size)).clip(0, 255).round().astype(np.uint8)
    out_small = model.translate(small[None], params.direction.value)[0]
    if params.detail == Detail.KEEP:
        delta = out_small.astype(np.float32) - small.astype(np.float32)
        trans = square.astype(np.float32) + _resize_float(delta, side)
    else:
        trans = _resize(out_small, (side, side))
    trans = trans[y0 : y0 + h, x0 : x0 + w]
    return blend_translation(image, trans, params.strength)


def _resize_float(a: NDArray[np.float32], side: int) -> NDArray[np.float32]:
    """Bicubic enlargement of a float (S, S, 3) array (channel by channel, mode F)."""
    from PIL import Image as PILImage

    return np.stack(
        [
            np.asarray(
                PILImage.fromarray(a[..., c], mode="F").resize(
                    (side, side), PILImage.Resampling.BICUBIC
                ),
                np.float32,
            )
            for c in range(3)
        ],
        axis=-1,
    )


@register_step(
    "translate", TranslateStep, summary="Image-to-image translation (e.g. to studio look)"
)
def translate_step(ctx: StepContext, image: np.ndarray, params: TranslateStep) -> np.ndarray:
    from productstudio.errors import InvalidParamsError
    from productstudio.models.generators import CycleGAN, load_generator
    from productstudio.ops.composite import composite

    path = ctx.resolve_path(params.model)
    model = ctx.resource(f"translate:{path}", lambda: load_generator(path))
    if not isinstance(model, CycleGAN):
        raise InvalidParamsError(
            f"translate step: {path} holds a '{model.family}' model, not one from "
            "`productstudio train cyclegan`"
        )
    rgb = composite(image, "#ffffff") if image.shape[2] == 4 else image
    if image.shape[2] == 4:
        ctx.note("translate: the transparent picture was flattened on white first")
    return translate_picture(model, np.ascontiguousarray(rgb), params)
