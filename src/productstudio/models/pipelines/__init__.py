"""Pretrained diffusers pipelines from local weights: text-to-image, image-to-image, inpainting.

Beside our own generators (``models/generators``, trained here at 64 px), these run the large
pretrained models sellers already have (SD 1.5, SDXL and newer families that diffusers loads)
from a local folder, a single checkpoint file or the Hugging Face cache — never from the
network unless the user opts in. Importing this package is cheap: torch and diffusers load
with the first model.

Python API::

    from productstudio.models.pipelines import DiffusersPipeline, GenerationParams, LoadOptions

    pipe = DiffusersPipeline.load("sd15", LoadOptions(device="auto"))   # added name or path
    res = pipe.text_to_image(GenerationParams(prompt="a red sneaker", seed=3, steps=30))
    res.image                                                          # (H, W, 3) uint8

Scenes that keep the product exact: :func:`productstudio.models.pipelines.scene.generate_scenes`.
"""

from productstudio.models.pipelines.layout import (
    EXPECTED_LAYOUT,
    ModelSource,
    SourceFormat,
    cached_pipelines,
    hf_hub_cache,
    inspect_file,
    inspect_folder,
    inspect_path,
)

# the package's public names; backend.py imports many of the same (deliberate, not a copy)
from productstudio.models.pipelines.options import (
    DEFAULT_NEGATIVE,
    Device,
    DType,
    GenerationParams,
    LoadOptions,
    Offload,
    SchedulerName,
    Task,
)

__all__ = [
    "DEFAULT_NEGATIVE",
    "EXPECTED_LAYOUT",
    "DType",
    "Device",
    "DiffusersPipeline",
    "Generated",
    "GenerationParams",
    "LoadOptions",
    "ModelSource",
    "Offload",
    "SchedulerName",
    "SourceFormat",
    "Task",
    "cached_pipelines",
    "hf_hub_cache",
    "inspect_file",
    "inspect_folder",
    "inspect_path",
]


def __getattr__(name: str) -> object:
    """``DiffusersPipeline`` and ``Generated`` without importing them (and numpy/cv2) eagerly."""
    if name in ("DiffusersPipeline", "Generated"):
        from productstudio.models.pipelines import backend

        return getattr(backend, name)
    raise AttributeError(name)
