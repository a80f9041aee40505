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
``output``     output
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
    "ShadowStep",
    "ShadowType",
    "SpotsStep",
    "StepContext",
    "StepFunc",
    "StepParams",
    "StepSpec",
    "StyleStep",
    "UpscaleStep",
    "dataclass_model",
    "get_step",
    "register_step",
    "step_names",
]
