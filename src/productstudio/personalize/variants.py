"""Variant sets: a recipe matrix → N image variants per product, each with an id, recipe, features.

Matrix file (``version: 1``)::

    version: 1
    base: amazon-main                 # a preset name or a recipe .yaml (relative to this file)
    common:                           # optional step overrides for every variant
      canvas: {width: 1000, height: 1000}
    axes:                             # every combination of one option per axis is a variant
      background:
        white: {}                     # {} = the base recipe as is
        dark:
          steps: {background: {kind: solid, color: "#262626"}}
          features: {bg_dark: 1}
        pastel:
          steps: {background: {kind: linear, color: "#f7e1ea", color2: "#dde8f6"}}
          features: {bg_pastel: 1}
      shadow:
        none: {}
        contact: {steps: {shadow: {type: contact}}, features: {shadow: 1}}
    limit: 24                         # refuse matrices with more variants (default 64)

An option's ``steps`` override the parameters of the base recipe's step of that name, or insert
the step where it belongs (:data:`STEP_ORDER`: cutout, recolour, adjust, canvas, background,
shadow, style, upscale, flatten, output). Each resulting recipe is validated like any recipe file
(errors name the matrix file and the option). The variant id joins the option names with ``+``
(``dark+contact``). Features are the options' declared numbers; an axis whose options declare
none gets indicator features ``axis=option`` (its first option is the reference, all zeros).

:func:`render_variants` runs every variant's recipe on the product photo through
:mod:`productstudio.recipes` and writes ``<out>/<product>/<variant>.<ext>`` atomically.

Example:
    >>> m = VariantMatrix.from_text(
    ...     "version: 1\\nbase: amazon-main\\naxes:\\n"
    ...     "  background:\\n    white: {}\\n"
    ...     "    dark: {steps: {background: {color: '#222222'}}, features: {bg_dark: 1}}\\n"
    ...     "  crop:\\n    airy: {}\\n    tight: {steps: {canvas: {fill: 0.95}}}\\n")
    >>> [(v.variant_id, v.features["bg_dark"], v.features["crop=tight"]) for v in m.expand()][1:3]
    [('white+tight', 0.0, 1.0), ('dark+airy', 1.0, 0.0)]
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from productstudio.errors import EventError, InvalidParamsError, ProductStudioError, RecipeError
from productstudio.personalize.context import read_text
from productstudio.personalize.events import check_id

#: Where an inserted step goes relative to the base recipe's steps.
STEP_ORDER: tuple[str, ...] = (
    "cutout",
    "recolour",
    "adjust",
    "spots",
    "erase",
    "erase_text",
    "canvas",
    "consistent",
    "background",
    "shadow",
    "style",
    "upscale",
    "flatten",
    "output",
)


@dataclass(frozen=True)
class VariantRecord:
    """One variant of one product.

    Attributes:
        product: the product's id.
        variant_id: unique per product (``dark+contact``).
        recipe: the full recipe YAML that makes it (empty for variants registered without one).
        features: numbers the contextual policies read (``bg_dark``, ``shadow`` …).
        image: path of the rendered image ("" when not rendered).
    """

    product: str
    variant_id: str
    recipe: str = ""
    features: Mapping[str, float] = field(default_factory=dict)
    image: str = ""

    def __post_init__(self) -> None:
        try:
            check_id(self.product, "product")
            check_id(self.variant_id, "variant")
        except EventError as exc:
            raise InvalidParamsError(str(exc)) from None
        feats: dict[str, float] = {}
        for k, v in dict(self.features).items():
            if isinstance(v, bool) or not isinstance(v, int | float) or not np.isfinite(v):
                raise InvalidParamsError(
                    f"variant '{self.variant_id}': feature '{k}' must be a finite number, got {v!r}"
                )
            feats[str(k)] = float(v)
        object.__setattr__(self, "features", feats)

    def to_dict(self) -> dict[str, Any]:
        return {
            "product": self.product,
            "variant": self.variant_id,
            "recipe": self.recipe,
            "features": dict(self.features),
            "image": self.image,
        }


class _Option(BaseModel):
    model_config = ConfigDict(extra="forbid")

    steps: dict[str, dict[str, Any] | None] = Field(default_factory=dict)
    features: dict[str, float] = Field(default_factory=dict)


class _Matrix(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: Literal[1]
    base: str = "amazon-main"
    common: dict[str, dict[str, Any] | None] = Field(default_factory=dict)
    axes: dict[str, dict[str, _Option | None]] = Field(min_length=1)
    limit: int = Field(default=64, ge=1, le=4096)


@dataclass(frozen=True)
class VariantSpec:
    """A variant before it is attached to a product: id, recipe YAML and features."""

    variant_id: str
    recipe: str
    features: dict[str, float]
    options: dict[str, str]

    def for_product(self, product: str, image: str = "") -> VariantRecord:
        return VariantRecord(product, self.variant_id, self.recipe, self.features, image)


def _merge_steps(
    base: list[dict[str, Any]], overrides: Mapping[str, Mapping[str, Any] | None]
) -> list[dict[str, Any]]:
    steps = [dict(s) for s in base]
    for name, params in overrides.items():
        names = [next(iter(s)) for s in steps]
        if name in names:
            i = len(names) - 1 - names[::-1].index(name)
            steps[i] = {name: {**(steps[i][name] or {}), **dict(params or {})}}
            continue
        rank = STEP_ORDER.index(name) if name in STEP_ORDER else STEP_ORDER.index("output")
        pos = len(steps)
        for i, n in enumerate(names):
            r = STEP_ORDER.index(n) if n in STEP_ORDER else -1
            if r > rank:
                pos = i
                break
        steps.insert(pos, {name: dict(params or {})})
    return steps


@dataclass(frozen=True)
class VariantMatrix:
    """A validated matrix; :meth:`expand` gives the variants."""

    base: str
    axes: dict[str, dict[str, _Option]]
    limit: int = 64
    file: str = "<string>"
    common: dict[str, dict[str, Any] | None] = field(default_factory=dict)

    @classmethod
    def from_text(cls, text: str, *, file: str = "<string>") -> VariantMatrix:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise InvalidParamsError(f"{file}: invalid YAML: {exc}") from None
        if not isinstance(data, dict):
            raise InvalidParamsError(f"{file}: a variant matrix is a mapping with `version: 1`")
        try:
            m = _Matrix.model_validate(data)
        except ValidationError as exc:
            e = exc.errors()[0]
            where = ".".join(str(p) for p in e["loc"])
            raise InvalidParamsError(f"{file}, key '{where}': {e['msg']}") from None
        axes: dict[str, dict[str, _Option]] = {}
        for axis, opts in m.axes.items():
            if not opts:
                raise InvalidParamsError(f"{file}, key 'axes.{axis}': an axis needs ≥ 1 option")
            for o in opts:
                if "+" in o or not o:
                    raise InvalidParamsError(
                        f"{file}, key 'axes.{axis}.{o}': option names cannot contain '+'"
                    )
            axes[axis] = {k: v or _Option() for k, v in opts.items()}
        n = int(np.prod([len(o) for o in axes.values()]))
        if n > m.limit:
            raise InvalidParamsError(
                f"{file}: the matrix makes {n} variants, over its limit of {m.limit}; drop "
                "options or raise `limit`"
            )
        base = m.base
        if file not in ("<string>",) and (base.endswith((".yaml", ".yml")) or "/" in base):
            p = Path(base)
            base = str(p if p.is_absolute() else Path(file).parent / p)
        return cls(base, axes, m.limit, file, dict(m.common))

    @classmethod
    def from_yaml(cls, path: str | Path) -> VariantMatrix:
        return cls.from_text(read_text(path, "the variant matrix"), file=str(path))

    def feature_names(self) -> list[str]:
        names: list[str] = []
        for axis, opts in self.axes.items():
            declared = sorted({k for o in opts.values() for k in o.features})
            names += declared or [f"{axis}={o}" for o in list(opts)[1:]]
        return names

    def expand(self) -> list[VariantSpec]:
        """Every combination, recipes merged and validated (RecipeError names the option)."""
        from productstudio.recipes import Recipe, load_recipe

        base = load_recipe(self.base).to_dict()
        names = self.feature_names()
        out = []
        for combo in itertools.product(*(list(o.items()) for o in self.axes.values())):
            options = {ax: name for ax, (name, _) in zip(self.axes, combo, strict=True)}
            vid = "+".join(name for name, _ in combo)
            steps = _merge_steps(base["steps"], self.common)
            feats = dict.fromkeys(names, 0.0)
            for axis, (name, opt) in zip(self.axes, combo, strict=True):
                steps = _merge_steps(steps, opt.steps)
                if opt.features:
                    feats.update(opt.features)
                elif f"{axis}={name}" in feats:
                    feats[f"{axis}={name}"] = 1.0
            doc = {**base, "name": f"{base['name']}:{vid}", "steps": steps}
            doc.pop("rules", None)
            text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)
            try:
                Recipe.from_text(text, file=f"{self.file} [{vid}]")
            except RecipeError as exc:
                raise InvalidParamsError(f"variant '{vid}': {exc}") from None
            out.append(VariantSpec(vid, text, feats, options))
        return out


def render_variants(
    image: str | Path,
    product: str,
    specs: Sequence[VariantSpec],
    out_dir: str | Path,
    *,
    model: str = "auto",
    on_progress: Callable[[int, int], None] | None = None,
) -> list[VariantRecord]:
    """Run every variant's recipe on the product photo; one segmenter is shared.

    Returns:
        one :class:`VariantRecord` per spec with ``image`` set to the written file.

    Raises:
        ProductStudioError subclasses: unreadable photo, missing weights, a failing step (the
        message names the variant).
    """
    from productstudio.imaging.io import load_image
    from productstudio.recipes import Recipe, StepContext

    VariantRecord(product, "check")  # validates the product id
    loaded = load_image(image)
    folder = Path(out_dir) / product
    out: list[VariantRecord] = []
    segmenter = None
    for i, spec in enumerate(specs):
        ctx = StepContext(segmenter_choice=model)
        if segmenter is not None:
            ctx.set_segmenter(segmenter)
        recipe = Recipe.from_text(spec.recipe, file=f"variant {spec.variant_id}")
        try:
            res = recipe.apply(loaded, ctx)
        except ProductStudioError as exc:
            raise type(exc)(f"variant '{spec.variant_id}': {exc}") from None
        segmenter = ctx._segmenter or segmenter
        path = res.save(folder / f"{spec.variant_id}{res.suffix}")
        out.append(spec.for_product(product, str(path)))
        if on_progress is not None:
            on_progress(i + 1, len(specs))
    return out


def features_json(features: Mapping[str, float]) -> str:
    return json.dumps(dict(features), sort_keys=True)


__all__ = [
    "STEP_ORDER",
    "VariantMatrix",
    "VariantRecord",
    "VariantSpec",
    "features_json",
    "render_variants",
]
