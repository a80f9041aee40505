"""Typed options of the pretrained diffusers pipelines (torch-free, cheap to import).

:class:`LoadOptions` say how a model is loaded (device, dtype, offload, attention slicing,
scheduler, hub access); :class:`GenerationParams` say what one call makes (prompt, steps,
guidance, seed, size, strength). Both are frozen and validated on construction, and both
round-trip through :meth:`as_dict` / ``from_dict`` so that the settings saved beside an
output rebuild the same call.

Example:
    >>> p = GenerationParams(prompt="red shoe", steps=4, seed=7)
    >>> GenerationParams.from_dict(p.as_dict()) == p
    True
    >>> LoadOptions(device=Device.CPU).as_dict()["device"]
    'cpu'
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from enum import StrEnum
from pathlib import Path
from typing import Any

from productstudio.errors import InvalidParamsError


class Task(StrEnum):
    """What a pipeline call does."""

    TEXT_TO_IMAGE = "text-to-image"
    IMAGE_TO_IMAGE = "image-to-image"
    INPAINT = "inpaint"


class Device(StrEnum):
    """Where the model runs; ``auto`` picks CUDA, then Apple MPS, then the CPU."""

    AUTO = "auto"
    CUDA = "cuda"
    MPS = "mps"
    CPU = "cpu"


class DType(StrEnum):
    """Weight precision; ``auto`` is float16 on CUDA/MPS and float32 on the CPU."""

    AUTO = "auto"
    FLOAT32 = "float32"
    FLOAT16 = "float16"
    BFLOAT16 = "bfloat16"


class Offload(StrEnum):
    """Keeping weights in RAM and moving them to the GPU only while they run.

    ``model`` moves whole components (UNet, VAE, text encoder) in turn: a large cut in GPU
    memory for a small slow-down. ``sequential`` moves layer by layer: the least memory, much
    slower. Both need an accelerator; on the CPU the weights already live in RAM and the
    option is ignored (with a log line, and ``offload: none`` in the saved settings).
    """

    NONE = "none"
    MODEL = "model"
    SEQUENTIAL = "sequential"


class SchedulerName(StrEnum):
    """Sampler (noise scheduler); ``default`` keeps the one the model folder ships."""

    DEFAULT = "default"
    DDIM = "ddim"
    DDPM = "ddpm"
    PNDM = "pndm"
    LMS = "lms"
    EULER = "euler"
    EULER_ANCESTRAL = "euler-a"
    HEUN = "heun"
    DPM_MULTISTEP = "dpm++"
    DPM_KARRAS = "dpm++-karras"
    UNIPC = "unipc"


#: scheduler name → (diffusers class, extra config)
SCHEDULER_CLASSES: dict[SchedulerName, tuple[str, dict[str, Any]]] = {
    SchedulerName.DDIM: ("DDIMScheduler", {}),
    SchedulerName.DDPM: ("DDPMScheduler", {}),
    SchedulerName.PNDM: ("PNDMScheduler", {}),
    SchedulerName.LMS: ("LMSDiscreteScheduler", {}),
    SchedulerName.EULER: ("EulerDiscreteScheduler", {}),
    SchedulerName.EULER_ANCESTRAL: ("EulerAncestralDiscreteScheduler", {}),
    SchedulerName.HEUN: ("HeunDiscreteScheduler", {}),
    SchedulerName.DPM_MULTISTEP: ("DPMSolverMultistepScheduler", {}),
    SchedulerName.DPM_KARRAS: ("DPMSolverMultistepScheduler", {"use_karras_sigmas": True}),
    SchedulerName.UNIPC: ("UniPCMultistepScheduler", {}),
}

#: what every generation avoids unless the caller gives its own negative prompt
DEFAULT_NEGATIVE = (
    "blurry, lowres, jpeg artifacts, watermark, text, logo, signature, deformed, distorted, "
    "disfigured, extra objects, duplicate, cropped, out of frame, oversaturated, noisy"
)


@dataclass(frozen=True, slots=True)
class LoadOptions:
    """How a pipeline is loaded.

    Attributes:
        device: where it runs (``auto``: CUDA, then MPS, then CPU).
        dtype: weight precision (``auto``: float16 on CUDA/MPS, float32 on CPU).
        offload: CPU offload on an accelerator (see :class:`Offload`).
        attention_slicing: compute attention in slices (less memory, a little slower).
        vae_tiling: decode large images tile by tile (less memory at 1024 px and up).
        scheduler: sampler to use instead of the model's own.
        allow_hub: let diffusers fetch missing files from the Hugging Face Hub; off by
            default, when loading never opens a network connection.
        safety_checker: keep the model's NSFW safety checker when it ships one.
        config: for a single checkpoint file: a local diffusers folder of the same family
            whose ``*/config.json`` files describe the components (the weights there are
            not read).
    """

    device: Device = Device.AUTO
    dtype: DType = DType.AUTO
    offload: Offload = Offload.NONE
    attention_slicing: bool = False
    vae_tiling: bool = False
    scheduler: SchedulerName = SchedulerName.DEFAULT
    allow_hub: bool = False
    safety_checker: bool = True
    config: Path | None = None

    def __post_init__(self) -> None:
        for name, enum in (
            ("device", Device),
            ("dtype", DType),
            ("offload", Offload),
            ("scheduler", SchedulerName),
        ):
            value = getattr(self, name)
            try:
                object.__setattr__(self, name, enum(value))
            except ValueError:
                known = ", ".join(e.value for e in enum)
                raise InvalidParamsError(
                    f"LoadOptions.{name} must be one of {known}, got '{value}'"
                ) from None
        if self.config is not None:
            object.__setattr__(self, "config", Path(self.config))

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["config"] = str(self.config) if self.config is not None else None
        return {k: (v.value if isinstance(v, StrEnum) else v) for k, v in d.items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LoadOptions:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(frozen=True, slots=True)
class GenerationParams:
    """What one pipeline call makes.

    Attributes:
        prompt: what to draw.
        negative_prompt: what to avoid (``None``: :data:`DEFAULT_NEGATIVE`; ``""``: nothing).
        steps: denoising steps (image-to-image runs about ``steps × strength`` of them).
        guidance: classifier-free guidance scale (1 = off, 5-9 usual for SD 1.5/SDXL).
        seed: the random seed; the same seed, model, settings and device give the same image.
        width, height: output size in px (multiples of 8); ``None``: the model's native size.
        strength: image-to-image and inpainting: 1 repaints from pure noise, 0.3 keeps most
            of the input.
    """

    prompt: str = ""
    negative_prompt: str | None = None
    steps: int = 30
    guidance: float = 7.5
    seed: int = 0
    width: int | None = None
    height: int | None = None
    strength: float = 1.0

    def __post_init__(self) -> None:
        if not 1 <= self.steps <= 1000:
            raise InvalidParamsError(f"GenerationParams.steps must be in 1..1000, got {self.steps}")
        if not (math.isfinite(self.guidance) and 0.0 <= self.guidance <= 50.0):
            raise InvalidParamsError(
                f"GenerationParams.guidance must be in [0, 50], got {self.guidance}"
            )
        if not 0 <= self.seed < 2**63:
            raise InvalidParamsError(f"GenerationParams.seed must be in 0..2^63-1, got {self.seed}")
        for name in ("width", "height"):
            v = getattr(self, name)
            if v is not None and not (8 <= v <= 8192 and v % 8 == 0):
                raise InvalidParamsError(
                    f"GenerationParams.{name} must be a multiple of 8 in 8..8192, got {v}"
                )
        if not (math.isfinite(self.strength) and 0.0 < self.strength <= 1.0):
            raise InvalidParamsError(
                f"GenerationParams.strength must be in (0, 1], got {self.strength}"
            )

    @property
    def negative(self) -> str:
        """The negative prompt actually used."""
        return DEFAULT_NEGATIVE if self.negative_prompt is None else self.negative_prompt

    def with_seed(self, seed: int) -> GenerationParams:
        from dataclasses import replace

        return replace(self, seed=seed)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GenerationParams:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def round_to_multiple(value: float, multiple: int = 8, minimum: int = 8) -> int:
    """``value`` rounded to the nearest multiple of ``multiple`` (at least ``minimum``).

    Example:
        >>> round_to_multiple(509), round_to_multiple(3)
        (512, 8)
    """
    return max(minimum, round(value / multiple) * multiple)


__all__ = [
    "DEFAULT_NEGATIVE",
    "SCHEDULER_CLASSES",
    "DType",
    "Device",
    "GenerationParams",
    "LoadOptions",
    "Offload",
    "SchedulerName",
    "Task",
    "round_to_multiple",
]
