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

An option may instead (or as well) draw the picture with one of our own generators
(``models/generators``, a folder written by ``productstudio train``) for an audience::

    segments: segments.yaml           # optional: the shop's segment rules (default: by interest)
    axes:
      look:
        photo: {}                     # the product photo
        noir:                         # a sample for the `noir` segment's audience
          sample: {model: generators/cvae-64, segment: noir, seed: 0}
          features: {generated: 1}
        young-women:
          sample: {model: generators/cvae-64, audience: "age_band=18-24,gender=women"}

``sample`` becomes the recipe's ``sample`` step (:mod:`productstudio.recipes.steps.sample`):
``model`` (relative to this file), the audience given as ``audience`` or as a ``segment`` of
the segment rules (the first value its rule allows for each audience field), and optional
``title``, ``attrs`` and ``seed``. The prompt's title and attributes default to the product's
(``render_variants(..., attributes=)``, ``feedback variants --attr``); the remaining steps
(canvas, background …) then work on the sample as on a photo.

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
from pydantic import BaseModel, ConfigDict, Field

from productstudio.errors import EventError, InvalidParamsError, ProductStudioError, RecipeError
from productstudio.models.conditioning.audience import AudienceProfile
from productstudio.personalize._yaml import load_model
from productstudio.personalize.context import read_text
from productstudio.personalize.events import check_id
from productstudio.personalize.segments import SegmentRules

#: Where an inserted step goes relative to the base recipe's steps.
STEP_ORDER: tuple[str, ...] = (
    "sample",
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


class _Sample(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1)
    segment: str | None = None
    audience: str | None = None
    title: str | None = None
    attrs: dict[str, str] = Field(default_factory=dict)
    seed: int | None = Field(default=None, ge=0)


class _Option(BaseModel):
    model_config = ConfigDict(extra="forbid")

    steps: dict[str, dict[str, Any] | None] = Field(default_factory=dict)
    sample: _Sample | None = None
    features: dict[str, float] = Field(default_factory=dict)


class _Matrix(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: Literal[1]
    base: str = "amazon-main"
    common: dict[str, dict[str, Any] | None] = Field(default_factory=dict)
    axes: dict[str, dict[str, _Option | None]] = Field(min_length=1)
    limit: int = Field(default=64, ge=1, le=4096)
    segments: str | None = None


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
        m, _ = load_model(_Matrix, text, file=file, what="a variant matrix")
        folder = Path(file).parent if file != "<string>" else Path(".")
        rules: SegmentRules | None = None
        axes: dict[str, dict[str, _Option]] = {}
        for axis, opts in m.axes.items():
            if not opts:
                raise InvalidParamsError(f"{file}, key 'axes.{axis}': an axis needs ≥ 1 option")
            for o in opts:
                if "+" in o or not o:
                    raise InvalidParamsError(
                        f"{file}, key 'axes.{axis}.{o}': option names cannot contain '+'"
                    )
            axes[axis] = {}
            for k, v in opts.items():
                opt = v or _Option()
                if opt.sample is not None:
                    if rules is None:
                        rules = (
                            SegmentRules.from_yaml(_relative(m.segments, folder))
                            if m.segments
                            else SegmentRules.by_interest()
                        )
                    step = _sample_step(opt.sample, folder, rules, file, f"axes.{axis}.{k}.sample")
                    opt = opt.model_copy(update={"steps": {**opt.steps, "sample": step}})
                axes[axis][k] = opt
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


def _relative(path: str, folder: Path) -> Path:
    p = Path(path).expanduser()
    return p if p.is_absolute() else folder / p


def audience_text(profile: AudienceProfile) -> str:
    """``age_band=…,gender=…,interests=a+b,region=…`` (what ``AudienceProfile.parse`` reads).

    Example:
        >>> audience_text(AudienceProfile(gender="women", interests=("noir", "sport")))
        'gender=women,interests=noir+sport'
    """
    parts = [f"age_band={profile.age_band}"] if profile.age_band else []
    parts += [f"gender={profile.gender}"] if profile.gender else []
    parts += ["interests=" + "+".join(profile.interests)] if profile.interests else []
    parts += [f"region={profile.region}"] if profile.region else []
    return ",".join(parts)


def _sample_step(
    s: _Sample, folder: Path, rules: SegmentRules, file: str, key: str
) -> dict[str, Any]:
    """The ``sample`` recipe step of a matrix option (model path resolved, audience fixed)."""
    where = f"{file}, key '{key}'"
    if s.segment is not None and s.audience is not None:
        raise InvalidParamsError(f"{where}: give `segment` or `audience`, not both")
    model = _relative(s.model, folder).resolve()
    if not (model / "config.json").is_file():
        raise InvalidParamsError(
            f"{file}, key '{key}.model': no generator in {model} (config.json missing); train "
            "one with `productstudio train … -o FOLDER` and give that folder"
        )
    try:
        if s.segment is not None:
            audience: str | None = audience_text(rules.audience(s.segment))
        else:
            audience = audience_text(AudienceProfile.parse(s.audience or ""))
    except InvalidParamsError as exc:
        raise InvalidParamsError(f"{where}: {exc}") from None
    step: dict[str, Any] = {"model": str(model), "audience": audience or None}
    step.update({k: v for k, v in (("title", s.title), ("seed", s.seed)) if v is not None})
    if s.attrs:
        step["attrs"] = dict(s.attrs)
    return step


def render_variants(
    image: str | Path,
    product: str,
    specs: Sequence[VariantSpec],
    out_dir: str | Path,
    *,
    model: str = "auto",
    attributes: Mapping[str, Any] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> list[VariantRecord]:
    """Run every variant's recipe on the product photo; one segmenter and one copy of each
    generator are shared.

    Args:
        attributes: the product's metadata (title, colour, category …): the prompt of
            generator samples and any step that reads the item's attributes.

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
    cache: dict[str, Any] = {}  # generators (and other models) loaded once for all variants
    for i, spec in enumerate(specs):
        ctx = StepContext(segmenter_choice=model, attributes=dict(attributes or {}), cache=cache)
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
    "audience_text",
    "features_json",
    "render_variants",
]
