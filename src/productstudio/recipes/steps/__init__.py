"""Recipe steps: one registry, one way to declare a step (see :mod:`.base`).

Every step module is imported here, explicitly (its params models are re-exported):
importing ``productstudio.recipes.steps`` registers every step. A new step module is one
file plus one import line below.

=============  ================================================================
module         steps
=============  ================================================================
``cutout``     cutout
``canvas``     canvas, consistent
``background`` background, shadow, flatten
``retouch``    recolour, adjust, spots, erase, erase_text, upscale, style
``scene``      scene (pretrained diffusers model; torch/diffusers load on first use)
``sample``     sample (a sample of an own generator replaces the picture; torch on use)
``output``     output
``translate``  translate (a trained ``cyclegan`` model)
=============  ================================================================
"""

from productstudio.recipes.steps.background import (
    BackgroundStep,
    FlattenStep,
    ShadowStep,
    ShadowType,
)
from productstudio.recipes.steps.base import (
    STEPS,
    DataclassStep,
    StepContext,
    StepFunc,
    StepParams,
    StepSpec,
    dataclass_model,
    get_step,
    register_step,
    step_names,
)
from productstudio.recipes.steps.canvas import CanvasStep, ConsistentStep
from productstudio.recipes.steps.cutout import CutoutStep
from productstudio.recipes.steps.output import EncodeSettings, OutputFormat
from productstudio.recipes.steps.retouch import (
    AdjustStep,
    EraseStep,
    EraseTextStep,
    RecolourStep,
    SpotsStep,
    StyleStep,
    UpscaleStep,
)
from productstudio.recipes.steps.sample import SampleStep
from productstudio.recipes.steps.scene import SceneStep
from productstudio.recipes.steps.translate import TranslateStep

__all__ = [
    "STEPS",
    "AdjustStep",
    "BackgroundStep",
    "CanvasStep",
    "ConsistentStep",
    "CutoutStep",
    "DataclassStep",
    "EncodeSettings",
    "EraseStep",
    "EraseTextStep",
    "FlattenStep",
    "OutputFormat",
    "RecolourStep",
    "SampleStep",
    "SceneStep",
    "ShadowStep",
    "ShadowType",
    "SpotsStep",
    "StepContext",
    "StepFunc",
    "StepParams",
    "StepSpec",
    "StyleStep",
    "TranslateStep",
    "UpscaleStep",
    "dataclass_model",
    "get_step",
    "register_step",
    "step_names",
]
