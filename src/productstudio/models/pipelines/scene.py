"""AI product scenes: place the product, let a diffusion model paint the scene, put the
product's own pixels back (:mod:`productstudio.ops.scene` does the exact compositing).

Flow of :func:`generate_scenes`:

1. **Layout** (:func:`plan_canvas`): the product is placed on a canvas by the scene preset's
   layout (fill, alignment, baseline, aspect). By default the canvas is sized around the
   product so that it keeps its **own pixels at scale 1** (no resampling at all); with
   ``SceneLayout.size`` it is scaled to a fixed canvas instead.
2. **Model call**: the product over a flat fill and the repaint mask (everything but the
   product's opaque core, grown ``grow_px`` into it) are scaled to the model's working size
   (its native 512/1024 px, a multiple of 8) and inpainted, once per candidate seed.
3. **Back to full size**: each generated picture is scaled to the canvas (only the scene is
   resampled, never the product) and :func:`~productstudio.ops.scene.composite_scene` puts
   the product back with a contact shadow and a harmonised edge.

Every :class:`SceneResult` carries a JSON-ready ``record`` of all settings (prompt, seed,
model, layout …): saved beside the image it reproduces it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from productstudio.errors import InvalidParamsError
from productstudio.imaging.types import RGBAImage, check_image, to_uint8
from productstudio.models.pipelines.backend import CancelFn, DiffusersPipeline, Generated
from productstudio.models.pipelines.options import GenerationParams, round_to_multiple
from productstudio.models.pipelines.prompts import BuiltPrompt, ScenePreset
from productstudio.ops.canvas import Align, CanvasParams, LayoutPlan, alpha_bbox, place, plan_layout
from productstudio.ops.scene import (
    SceneParams,
    changed_share,
    composite_scene,
    scene_input,
    scene_mask,
)
from productstudio.ops.shadow import ContactShadowParams

MAX_CANVAS = 4096


@dataclass(frozen=True, slots=True)
class SceneLayout:
    """Where the product sits in the scene.

    Attributes:
        fill: the product's box fills this share of the canvas along its limiting side.
        align: vertical placement (``baseline``: its bottom on the ``baseline`` row).
        baseline: row of the product's bottom edge, as a share of the canvas height.
        aspect: canvas width / height.
        size: canvas width in px; ``None`` sizes the canvas around the product so that its
            pixels stay at scale 1 (up to :data:`MAX_CANVAS` px).
    """

    fill: float = 0.55
    align: Align = Align.BASELINE
    baseline: float = 0.8
    aspect: float = 1.0
    size: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "align", Align(self.align))
        if not 0.05 <= self.fill <= 1.0:
            raise InvalidParamsError(f"SceneLayout.fill must be in [0.05, 1], got {self.fill}")
        if not 0.25 <= self.aspect <= 4.0:
            raise InvalidParamsError(f"SceneLayout.aspect must be in [0.25, 4], got {self.aspect}")
        if self.size is not None and not 64 <= self.size <= MAX_CANVAS:
            raise InvalidParamsError(
                f"SceneLayout.size must be in 64..{MAX_CANVAS} px, got {self.size}"
            )

    @classmethod
    def from_preset(cls, preset: ScenePreset, size: int | None = None) -> SceneLayout:
        return cls(preset.fill, Align(preset.align), preset.baseline, preset.aspect, size)


def scene_params_of(preset: ScenePreset) -> SceneParams:
    """The compositing settings a scene preset asks for."""
    shadow = ContactShadowParams(opacity=preset.shadow) if preset.shadow > 0 else None
    return SceneParams(
        grow_px=preset.grow_px,
        harmonise=preset.harmonise,
        light_wrap=preset.light_wrap,
        shadow=shadow,
    )


def plan_canvas(product: RGBAImage, layout: SceneLayout) -> LayoutPlan:
    """Where the product goes (see :class:`SceneLayout`).

    Raises:
        InvalidParamsError: an empty cut-out.
    """
    check_image(product, name="product", channels=(4,))
    box = alpha_bbox(to_uint8(product))
    if box is None:
        raise InvalidParamsError("the cut-out is empty (alpha 0 everywhere): nothing to place")

    def canvas(width: int, height: int | None = None) -> CanvasParams:
        h = max(8, round(width / layout.aspect)) if height is None else height
        return CanvasParams(
            width=width,
            height=h,
            fill=layout.fill,
            align=layout.align,
            baseline=layout.baseline,
        )

    if layout.size is not None:
        return plan_layout(product, canvas(layout.size))
    bw, bh = box[2] - box[0], box[3] - box[1]
    width = math.ceil(max(bw / layout.fill, bh / layout.fill * layout.aspect))
    height = math.ceil(width / layout.aspect)
    if max(width, height) > MAX_CANVAS:  # too big to keep scale 1: fit a MAX_CANVAS canvas
        side = MAX_CANVAS if layout.aspect >= 1 else round(MAX_CANVAS * layout.aspect)
        return plan_layout(product, canvas(side))
    return plan_layout(product, canvas(width + 2, height + 2), scale=1.0)


def work_size(canvas: tuple[int, int], native: int) -> tuple[int, int]:
    """The model's (width, height): the canvas aspect with the long side at ``native`` px,
    both multiples of 8.

    Example:
        >>> work_size((300, 200), 512)
        (512, 344)
    """
    cw, ch = canvas
    s = native / max(cw, ch)
    return round_to_multiple(cw * s), round_to_multiple(ch * s)


@dataclass(frozen=True, slots=True)
class SceneResult:
    """One candidate scene.

    Attributes:
        image: (H, W, 3) uint8, the final picture at canvas size.
        product: (H, W, 4) uint8, the placed product (its alpha-255 pixels are in ``image``
            bit for bit).
        background: (H, W, 3) uint8, the generated scene scaled to the canvas.
        generated: the raw model output at working size.
        seed: the candidate's seed (rerun it alone with this seed).
        record: every setting, JSON-ready (see the module docstring).
    """

    image: NDArray[np.uint8]
    product: NDArray[np.uint8]
    background: NDArray[np.uint8]
    generated: Generated
    seed: int
    record: dict[str, Any]


def _resize(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if img.shape[1] == size[0] and img.shape[0] == size[1]:
        return img
    down = size[0] * size[1] < img.shape[0] * img.shape[1]
    return cv2.resize(img, size, interpolation=cv2.INTER_AREA if down else cv2.INTER_CUBIC)


def scene_inputs(
    placed: RGBAImage, size: tuple[int, int], params: SceneParams
) -> tuple[NDArray[np.uint8], NDArray[np.float32]]:
    """The model's input picture and repaint mask at ``size`` (width, height)."""
    init = _resize(scene_input(placed, params.fill), size)
    mask = scene_mask(placed, params.grow_px)
    small = cv2.resize(mask, size, interpolation=cv2.INTER_AREA) > 0.0  # any repaint → repaint
    return np.ascontiguousarray(init), small.astype(np.float32)


def generate_scenes(
    pipeline: DiffusersPipeline,
    product: RGBAImage,
    prompt: BuiltPrompt,
    params: GenerationParams,
    *,
    layout: SceneLayout | None = None,
    scene: SceneParams | None = None,
    candidates: int = 1,
    native: int | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    should_cancel: CancelFn | None = None,
) -> list[SceneResult]:
    """``candidates`` scenes around ``product``, seeds ``params.seed``, ``+1``, ``+2`` …

    Args:
        pipeline: a loaded pipeline (inpainting runs on it; any SD-family model works, an
            inpainting checkpoint works best).
        product: (H, W, 4) uint8 RGBA cut-out (from :func:`productstudio.ops.cutout`).
        prompt: the built prompt (its text replaces ``params.prompt``).
        params: steps, guidance, seed; strength is forced to 1 (the scene is new).
        layout: see :class:`SceneLayout`.
        scene: see :class:`~productstudio.ops.scene.SceneParams`.
        candidates: how many seeds to try (1..16).
        native: the model's working long side (default: the pipeline's native size).
        on_progress: ``(done, total)`` over all candidates' steps.
        should_cancel: polled after every step; raises CancelledError.

    Returns:
        One :class:`SceneResult` per candidate, in seed order.
    """
    if not 1 <= candidates <= 16:
        raise InvalidParamsError(f"candidates must be in 1..16, got {candidates}")
    lay = layout or SceneLayout()
    sp = scene or SceneParams()
    check_image(product, name="product", channels=(4,))
    plan = plan_canvas(to_uint8(product), lay)
    placed = place(to_uint8(product), plan)
    size = work_size(plan.canvas, native or pipeline.native_size)
    init, mask = scene_inputs(placed, size, sp)
    base = replace(
        params,
        prompt=prompt.prompt,
        negative_prompt=prompt.negative_prompt,
        strength=1.0,
        width=size[0],
        height=size[1],
    )
    total = candidates * base.steps
    opaque = placed[..., 3] == 255
    out: list[SceneResult] = []
    for i in range(candidates):
        gp = base.with_seed(params.seed + i)

        def progress(done: int, n: int, _i: int = i) -> None:
            if on_progress is not None:
                on_progress(_i * base.steps + min(done, base.steps), total)

        gen = pipeline.inpaint(init, mask, gp, on_progress=progress, should_cancel=should_cancel)
        bg = np.ascontiguousarray(_resize(gen.image, plan.canvas))
        image = composite_scene(placed, bg, sp)
        record = {
            "kind": "scene",
            "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "seed": gp.seed,
            "candidate": i,
            "prompt": prompt.as_dict(),
            "generation": gp.as_dict(),
            "layout": {**asdict(lay), "align": lay.align.value},
            "plan": {
                "canvas": list(plan.canvas),
                "offset": list(plan.offset),
                "size": list(plan.size),
                "scale": plan.scale,
            },
            "scene": _scene_dict(sp),
            "work_size": list(size),
            "pipeline": pipeline.describe(),
            "seconds": round(gen.seconds, 3),
            "nsfw": gen.nsfw,
            "product_pixels_changed": changed_share(placed[..., :3], image, opaque),
        }
        out.append(SceneResult(image, placed, bg, gen, gp.seed, record))
    return out


def _scene_dict(p: SceneParams) -> dict[str, Any]:
    d = {
        "grow_px": p.grow_px,
        "band_px": p.band_px,
        "harmonise": p.harmonise,
        "light_wrap": p.light_wrap,
        "fill": p.fill,
        "shadow": asdict(p.shadow) if p.shadow is not None else None,
    }
    return d


__all__ = [
    "MAX_CANVAS",
    "SceneLayout",
    "SceneResult",
    "generate_scenes",
    "plan_canvas",
    "scene_inputs",
    "scene_params_of",
    "work_size",
]
