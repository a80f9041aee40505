"""Layer 4: YAML recipes (pipelines of registered steps), marketplace presets, compliance.

Public API (what ``productstudio run``, ``check``, the batch worker and the server use)::

    from productstudio.recipes import StepContext, load_recipe

    recipe = load_recipe("amazon-main")          # preset name, or a path to a .yaml recipe
    result = recipe.apply(loaded_or_pixels_or_path, StepContext(segmenter_choice="auto"))
    result.pixels, result.encode, result.notes   # uint8 array, EncodeSettings, warnings
    data = recipe.encode(result)                 # bytes (format, quality, max_bytes)
    result.save(out_dir / (stem + result.suffix))

    report = check_file("out/shoe.jpg", recipe.rules)   # the marketplace's rules

The main job is the ``amazon-main`` preset; :func:`main_image_recipe` is that preset with the
``run`` options (size, fill, background, format …) applied.

Layout: ``recipe.py`` (the file format, :class:`Recipe`), ``steps/`` (one package, one way to
declare a step: :func:`register_step`), ``presets/`` (YAML), ``compliance/`` (rules,
measuring, checks, report).
"""

from productstudio.recipes.compliance import (
    ComplianceReport,
    RuleResult,
    Rules,
    check_file,
    check_loaded,
)
from productstudio.recipes.recipe import (
    MAIN_PRESET,
    SCHEMA_VERSION,
    Recipe,
    RecipeResult,
    RecipeStep,
    encode_with,
    list_presets,
    load_recipe,
    main_image_recipe,
)
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
    "MAIN_PRESET",
    "SCHEMA_VERSION",
    "ComplianceReport",
    "EncodeSettings",
    "OutputFormat",
    "Recipe",
    "RecipeResult",
    "RecipeStep",
    "RuleResult",
    "Rules",
    "StepContext",
    "StepParams",
    "check_file",
    "check_loaded",
    "encode_with",
    "get_step",
    "list_presets",
    "load_recipe",
    "main_image_recipe",
    "register_step",
    "step_names",
]
