"""Layer 4: YAML recipes (pipelines of registered steps), marketplace presets, compliance.

Public API (what ``productstudio run --recipe/--preset`` and ``check`` use)::

    from productstudio.recipes import StepContext, load_recipe

    recipe = load_recipe("amazon-main")          # preset name, or a path to a .yaml recipe
    result = recipe.apply(loaded_or_pixels_or_path, StepContext(segmenter_choice="auto"))
    result.pixels, result.encode, result.notes   # uint8 array, EncodeSettings, warnings
    data = recipe.encode(result)                 # bytes (format, quality, max_bytes)
    result.save(out_dir / (stem + result.suffix))

Steps are registered with :func:`productstudio.recipes.steps.register_step` (see that
module's docstring).
"""

from productstudio.recipes.recipe import (
    SCHEMA_VERSION,
    Recipe,
    RecipeResult,
    RecipeStep,
    encode_with,
    list_presets,
    load_recipe,
)
from productstudio.recipes.rules import Rules
from productstudio.recipes.steps import (
    EncodeSettings,
    OutputFormat,
    StepContext,
    StepParams,
    get_step,
    register_step,
    step_names,
)

__all__ = [
    "SCHEMA_VERSION",
    "EncodeSettings",
    "OutputFormat",
    "Recipe",
    "RecipeResult",
    "RecipeStep",
    "Rules",
    "StepContext",
    "StepParams",
    "encode_with",
    "get_step",
    "list_presets",
    "load_recipe",
    "register_step",
    "step_names",
]
