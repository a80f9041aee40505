"""Text-to-image and variations of a photo, with the settings record saved beside each image.

:func:`generate_images` is what ``productstudio generate`` and the server's ``generate`` jobs
run: ``count`` images, seeds ``params.seed``, ``+1`` …, from a built prompt, either drawn
from text (text-to-image) or as variations of ``image`` (image-to-image with
``params.strength``). Each :class:`GeneratedImage` carries a JSON-ready ``record`` (prompt,
generation settings, model, timings) that :func:`~.records.save_with_record` writes beside
the image and ``generate --replay`` reads back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from productstudio.errors import InvalidParamsError
from productstudio.models.conditioning.audience import AudienceProfile
from productstudio.models.pipelines.backend import CancelFn, DiffusersPipeline, Generated
from productstudio.models.pipelines.options import DEFAULT_NEGATIVE, GenerationParams, Task
from productstudio.models.pipelines.prompts import BuiltPrompt, ProductInfo, PromptBook


@dataclass(frozen=True, slots=True)
class GeneratedImage:
    """One generated image.

    Attributes:
        image: (H, W, 3) uint8.
        seed: its seed (rerun it alone with this seed).
        generated: the pipeline's answer (task, exact params, seconds, nsfw flag).
        record: every setting, JSON-ready (see the module docstring).
    """

    image: NDArray[np.uint8]
    seed: int
    generated: Generated
    record: dict[str, Any]


def generation_prompt(
    book: PromptBook,
    product: ProductInfo | None,
    *,
    text: str = "",
    template: str = "packshot",
    scene: str | None = None,
    style: str | None = None,
    audience: AudienceProfile | None = None,
    negative: str | None = None,
    variations: bool = False,
) -> BuiltPrompt:
    """The prompt of a text-to-image or variations call.

    With product metadata or a scene, ``book`` builds it from ``template`` (``text`` goes to
    ``{extra}``); without either, ``text`` is the prompt as it is (empty is allowed only for
    ``variations`` of a photo).

    Raises:
        InvalidParamsError: nothing to draw; unknown template, scene or style.
    """
    if product is None and scene is None:
        if not text and not variations:
            raise InvalidParamsError(
                "nothing to draw: give a prompt, or product metadata (a title …), or a photo "
                "to make variations of"
            )
        neg = DEFAULT_NEGATIVE if negative is None else negative
        return BuiltPrompt(prompt=text, negative_prompt=neg, template="none")
    return book.build(
        product,
        template=template,
        scene=scene,
        style=style,
        audience=audience,
        extra=text,
        negative=negative,
    )


def generate_images(
    pipeline: DiffusersPipeline,
    prompt: BuiltPrompt,
    params: GenerationParams,
    *,
    count: int = 1,
    image: np.ndarray | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    should_cancel: CancelFn | None = None,
    on_image: Callable[[GeneratedImage], None] | None = None,
) -> list[GeneratedImage]:
    """``count`` images from ``prompt`` (or variations of ``image``), in seed order.

    Args:
        pipeline: a loaded pipeline.
        prompt: the built prompt (its text and negative replace ``params``'s).
        params: steps, guidance, first seed, size, strength (variations only).
        count: how many (1..64), seeds ``params.seed`` + 0, 1, …
        image: make variations of this photo ((H, W, 3|4) uint8) instead of drawing from text.
        on_progress: ``(done, total)`` over all images' steps.
        should_cancel: polled after every step; raises CancelledError.
        on_image: called with each image as soon as it is made (to save it before the next).
    """
    if not 1 <= count <= 64:
        raise InvalidParamsError(f"count must be in 1..64, got {count}")
    task = Task.IMAGE_TO_IMAGE if image is not None else Task.TEXT_TO_IMAGE
    base = GenerationParams(
        prompt=prompt.prompt,
        negative_prompt=prompt.negative_prompt,
        steps=params.steps,
        guidance=params.guidance,
        seed=params.seed,
        width=params.width,
        height=params.height,
        strength=params.strength if image is not None else 1.0,
    )
    total = count * base.steps
    out: list[GeneratedImage] = []
    for i in range(count):
        p = base.with_seed(base.seed + i)

        def progress(done: int, n: int, _i: int = i) -> None:
            if on_progress is not None:
                on_progress(_i * base.steps + min(done, base.steps), total)

        if image is not None:
            res = pipeline.image_to_image(
                image, p, on_progress=progress, should_cancel=should_cancel
            )
        else:
            res = pipeline.text_to_image(p, on_progress=progress, should_cancel=should_cancel)
        record: dict[str, Any] = {
            "kind": "generate",
            "task": task.value,
            "seed": p.seed,
            "prompt": prompt.as_dict(),
            "generation": p.as_dict(),
            "pipeline": pipeline.describe(),
            "seconds": round(res.seconds, 3),
            "nsfw": res.nsfw,
        }
        made = GeneratedImage(res.image, p.seed, res, record)
        if on_image is not None:
            on_image(made)
        out.append(made)
    return out


__all__ = ["GeneratedImage", "generate_images", "generation_prompt"]
