"""``diffusion``: inpainting with a pretrained diffusers model from local weights.

Uses the pipeline set up with ``productstudio models add`` (an inpainting checkpoint is
preferred) or ``PRODUCTSTUDIO_PIPELINE``. The base class crops around the hole with context
and pastes back only hole pixels, so — unlike plain diffusers inpainting, whose VAE changes
the whole picture — every pixel outside the hole stays bit-identical. The crop is scaled to
the model's native size (long side 512 px for SD 1.5) and back, both ways, since diffusion
models draw poorly far from their native resolution.

Slow on a CPU (seconds per step at 512 px); ``auto`` never picks it — ask for it by name.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
from numpy.typing import NDArray

from productstudio.errors import InvalidParamsError
from productstudio.imaging.types import from_float, to_float
from productstudio.models.inpainters.base import Inpainter, SizeRule
from productstudio.models.pipelines.backend import DiffusersPipeline
from productstudio.models.pipelines.options import DEFAULT_NEGATIVE, GenerationParams

REMOVAL_PROMPT = "empty background, seamless continuation of the surrounding surface and texture"
REMOVAL_NEGATIVE = DEFAULT_NEGATIVE + ", object, product, person, hand, text, letters"


@dataclass(frozen=True, slots=True)
class DiffusionInpainterConfig:
    """What the model is asked to paint into the hole.

    Attributes:
        prompt: the fill (object removal by default: "empty background …").
        negative_prompt: what to keep out of the hole.
        steps, guidance, seed: as in :class:`GenerationParams`.
        native: working long side in px (``None``: the model's native size).
    """

    prompt: str = REMOVAL_PROMPT
    negative_prompt: str = REMOVAL_NEGATIVE
    steps: int = 25
    guidance: float = 6.0
    seed: int = 0
    native: int | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        GenerationParams(steps=self.steps, guidance=self.guidance, seed=self.seed)
        if self.native is not None and not 64 <= self.native <= 2048:
            raise InvalidParamsError(
                f"DiffusionInpainterConfig.native must be in 64..2048, got {self.native}"
            )


class DiffusionInpainter(Inpainter):
    """Inpainting with a loaded :class:`DiffusersPipeline` (see the module docstring)."""

    name = "diffusion"

    def __init__(
        self, pipeline: DiffusersPipeline, config: DiffusionInpainterConfig | None = None
    ) -> None:
        self.pipeline = pipeline
        self.config = config or DiffusionInpainterConfig()
        self.native = self.config.native or pipeline.native_size
        self.size = SizeRule(multiple_of=8)

    def fill(self, rgb: NDArray[np.float32], hole: NDArray[np.bool_]) -> NDArray[np.float32]:
        """Scale the crop so its long side is the model's native size, inpaint, scale back."""
        from productstudio.models.pipelines.scene import work_size

        h, w = rgb.shape[:2]
        tw, th = work_size((w, h), self.native)
        c = self.config
        params = GenerationParams(
            prompt=c.prompt,
            negative_prompt=c.negative_prompt,
            steps=c.steps,
            guidance=c.guidance,
            seed=c.seed,
            width=tw,
            height=th,
        )
        gen = self.pipeline.inpaint(from_float(rgb), hole.astype(np.float32), params)
        out: np.ndarray = gen.image
        if out.shape[:2] != (h, w):
            interp = cv2.INTER_AREA if w * h < tw * th else cv2.INTER_CUBIC
            out = cv2.resize(out, (w, h), interpolation=interp)
        return np.clip(to_float(out), 0.0, 1.0).astype(np.float32)

    def run(self, rgb: NDArray[np.float32], hole: NDArray[np.bool_]) -> NDArray[np.float32]:
        return self.fill(rgb, hole)


__all__ = ["REMOVAL_NEGATIVE", "REMOVAL_PROMPT", "DiffusionInpainter", "DiffusionInpainterConfig"]
