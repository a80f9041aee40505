"""How a recipe step is declared: one registry, one decorator, typed params.

A recipe is a list of steps; each step names a registered step and gives its parameters::

    version: 1
    steps:
      - cutout: {model: auto}
      - canvas: {width: 2000, height: 2000, fill: 0.85}
      - background: {color: "#ffffff"}
      - output: {format: jpeg, quality: 92}

Declaring a step (every step in ``productstudio/recipes/steps/`` is written this way)
------------------------------------------------------------------------------------
A step is three things: a **name**, a **params model** and a **function**
``(ctx, image, params) -> image``, joined by :func:`register_step`:

* the params model subclasses :class:`StepParams` (unknown keys are errors, so a typo in YAML
  names its line and key); a step that wraps an op mirrors the op's frozen params dataclass
  with :func:`dataclass_model` (same names, types, defaults and checks);
* choices are ``StrEnum`` fields (``select: TextSelect``), never regex-checked strings;
* the module is imported explicitly by ``productstudio/recipes/steps/__init__.py`` (one
  import line per module: no plug-in discovery), which registers its steps::

    import numpy as np
    from pydantic import Field

    from productstudio.recipes.steps.base import StepContext, StepParams, register_step

    class RecolourStep(StepParams):
        color: str = Field(..., description="target colour, hex or CSS name")
        strength: float = Field(default=1.0, ge=0.0, le=1.0)

    @register_step("recolour", RecolourStep, summary="Recolour the product")
    def recolour_step(ctx: StepContext, image: np.ndarray, params: RecolourStep) -> np.ndarray:
        mask = ctx.product_mask(image)            # float32 (H, W): alpha, or the segmenter's mask
        return recolour(image, RecolourParams(color=params.color), mask)

Rules for step functions:

* ``image`` is a uint8 numpy array, (H, W, 3) RGB or (H, W, 4) RGBA. Before the
  ``background``/``flatten`` step it is usually the RGBA product (alpha = product); after it,
  an opaque RGB picture. Return a new array (never edit ``image`` in place).
* Parameter validation belongs in the params model (``Field(ge=..., le=...)``, enums,
  validators): it runs when the recipe is loaded, before any image is touched, and its
  errors carry the YAML file, line and key.
* Use ``ctx`` for everything that is not pixels: ``ctx.segmenter()`` (loaded once and cached),
  ``ctx.source`` (input file name), ``ctx.original`` (pixels as loaded, before any step),
  ``ctx.attributes`` (catalogue fields such as ``height_cm``, ``category``),
  ``ctx.resource(key, factory)`` (cache a loaded model for the whole run), ``ctx.note(text)``
  (warnings shown to the user), ``ctx.seed``, and ``ctx.product`` (the latest RGBA product
  layer, kept by the cutout/canvas steps so that later steps such as ``shadow`` can still see
  the product's alpha after the background was filled in).
* A step that only changes output settings (``output``) returns ``image`` unchanged and
  sets ``ctx.encode``.
* Heavy imports (torch, onnxruntime) go inside the step function or a ``ctx.resource``
  factory, never at module level.

Names are lower-case and unique: registering a name twice raises ``InvalidParamsError``.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict, create_model, model_validator

from productstudio.errors import InvalidParamsError
from productstudio.imaging.types import Mask, RGBAImage, alpha_product_mask, check_image
from productstudio.models.registry import Registry

if TYPE_CHECKING:  # pragma: no cover
    from productstudio.models.segmenters.base import Segmenter
    from productstudio.recipes.steps.output import EncodeSettings

log = logging.getLogger(__name__)

P = TypeVar("P", bound="StepParams")


class StepParams(BaseModel):
    """Base of every step's params model: unknown keys are errors, instances are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)


@dataclass
class StepContext:
    """What a step may use besides the pixels.

    Attributes:
        source: the input's file name (``None`` for in-memory images).
        original: the pixels as loaded, before any step (RGB or RGBA uint8).
        attributes: catalogue attributes of this item (``height_cm``, ``category`` …).
        segmenter_choice: ``--model`` value for :meth:`segmenter` (``"auto"``, a name or a path).
        seed: seed for any randomness.
        product: the latest RGBA product layer (set by cutout/canvas steps).
        encode: output settings (set by the ``output`` step; ``None`` = caller's default).
        notes: warnings collected during the run, for the user.
        base_dir: folder that relative paths in step params are resolved against (the
            recipe file's folder; ``None`` = the working directory).
        source_mask: the product's soft mask at the *original* photo's size (set by the
            cutout step; used e.g. by the bokeh background).
        background: the opaque background picture (H, W, 3) at canvas size, set by the
            background step so that a later shadow step can darken it under the product.
        confidence: the segmenter's confidence in the cut-out (set by the cutout step;
            ``None`` when the input's own alpha was used).
        cache: what :meth:`resource` keeps; give several contexts the same dict (one per
            worker or run) to load each model once for all their items.
    """

    source: str | None = None
    original: np.ndarray | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)
    segmenter_choice: str = "auto"
    seed: int = 0
    product: RGBAImage | None = None
    encode: EncodeSettings | None = None
    notes: list[str] = field(default_factory=list)
    base_dir: Path | None = None
    source_mask: Mask | None = None
    background: np.ndarray | None = None
    confidence: float | None = None
    cache: dict[str, Any] = field(default_factory=dict)
    _segmenter: Segmenter | None = None

    def segmenter(self) -> Segmenter:
        """The segmenter for this run (loaded on first use, then cached)."""
        if self._segmenter is None:
            from productstudio.models.segmenters import load_segmenter

            self._segmenter = load_segmenter(self.segmenter_choice)
        return self._segmenter

    def set_segmenter(self, segmenter: Segmenter) -> None:
        """Use an already loaded segmenter (tests, batch workers)."""
        self._segmenter = segmenter

    def choose_segmenter(self, choice: str) -> None:
        """Switch to segmenter ``choice`` (a name, ``auto`` or a path); loaded on next use."""
        if choice != self.segmenter_choice:
            self.segmenter_choice = choice
            self._segmenter = None

    def resource(self, key: str, factory: Callable[[], Any]) -> Any:
        """A per-run cached object (a loaded model …), built by ``factory`` on first use."""
        if key not in self.cache:
            self.cache[key] = factory()
        return self.cache[key]

    def resolve_path(self, path: str | Path) -> Path:
        """``path`` made absolute against :attr:`base_dir` (the recipe's folder)."""
        p = Path(path).expanduser()
        if p.is_absolute() or self.base_dir is None:
            return p
        return self.base_dir / p

    def note(self, text: str) -> None:
        """Record a warning for the user. The caller shows ``notes`` (the CLI prints them once,
        as ``!`` lines); it is also logged at INFO level."""
        log.info("%s: %s", self.source or "<image>", text)
        self.notes.append(text)

    def product_mask(self, image: np.ndarray) -> Mask:
        """The product's mask for ``image``: its own alpha when it has transparency (see
        :func:`~productstudio.imaging.types.alpha_product_mask`), else the product layer kept
        in the context when it has the same size, else the segmenter's answer."""
        check_image(image)
        own = alpha_product_mask(image)
        if own is not None:
            return own
        if self.product is not None and self.product.shape[:2] == image.shape[:2]:
            kept = alpha_product_mask(self.product)
            if kept is not None:
                return kept
        return self.segmenter().segment(image).mask


StepFunc = Callable[[StepContext, np.ndarray, Any], np.ndarray]


@dataclass(frozen=True)
class StepSpec(Generic[P]):
    """A registered step: its name, params model, function and a one-line summary."""

    name: str
    params: type[P]
    func: Callable[[StepContext, np.ndarray, P], np.ndarray]
    summary: str = ""

    def parse(self, raw: Mapping[str, Any] | None) -> P:
        """Validate raw YAML params (pydantic errors propagate for the caller to locate)."""
        return self.params.model_validate(dict(raw or {}))

    def __call__(self, ctx: StepContext, image: np.ndarray, params: P) -> np.ndarray:
        check_image(image)
        out = self.func(ctx, image, params)
        check_image(out, name=f"output of step '{self.name}'")
        return out


STEPS: Registry[StepSpec[Any]] = Registry("recipe step")


def register_step(
    name: str, params: type[P], *, summary: str = ""
) -> Callable[
    [Callable[[StepContext, np.ndarray, P], np.ndarray]],
    Callable[[StepContext, np.ndarray, P], np.ndarray],
]:
    """Decorator: register ``func(ctx, image, params) -> image`` as recipe step ``name``.

    Args:
        name: the key used in YAML (lower-case, unique).
        params: a :class:`StepParams` subclass describing the step's YAML mapping.
        summary: one line for ``productstudio recipe list``/``show``.

    Raises:
        InvalidParamsError: the name is taken, or ``params`` is not a StepParams model.
    """
    if not (isinstance(params, type) and issubclass(params, StepParams)):
        raise InvalidParamsError(f"step '{name}': params must subclass StepParams, got {params!r}")

    def deco(
        func: Callable[[StepContext, np.ndarray, P], np.ndarray],
    ) -> Callable[[StepContext, np.ndarray, P], np.ndarray]:
        doc = (func.__doc__ or "").strip().splitlines()
        STEPS.register(name)(
            StepSpec(name.strip().lower(), params, func, summary or (doc[0] if doc else ""))
        )
        return func

    return deco


class DataclassStep(StepParams):
    """A step params model mirroring an op's params dataclass (see :func:`dataclass_model`)."""

    op_params: ClassVar[type[Any]]

    def op(self) -> Any:
        """The op's params dataclass built from this model."""
        fields = {f.name for f in dataclasses.fields(self.op_params)}
        data = {k: v for k, v in self.model_dump().items() if k in fields}
        return self.op_params(**data)

    @model_validator(mode="after")
    def _check_op(self) -> DataclassStep:
        try:
            self.op()
        except InvalidParamsError as exc:
            raise ValueError(_name_field(str(exc), self.op_params, self.model_dump())) from None
        return self


def _name_field(msg: str, dc: type[Any], values: dict[str, Any]) -> str:
    """Prefix an op's error with ``Params.field`` when the message quotes a field's value, so
    that recipe errors can point at the YAML line of that key."""
    if re.search(r"\b[A-Z]\w*Params\.\w+", msg):
        return msg
    for k, v in values.items():
        if isinstance(v, str) and f"'{v}'" in msg:
            return f"{dc.__name__}.{k}: {msg}"
    return msg


def dataclass_model(
    name: str,
    dc: type[Any],
    *,
    module: str,
    exclude: tuple[str, ...] = (),
    extra: dict[str, Any] | None = None,
) -> type[DataclassStep]:
    """A :class:`DataclassStep` subclass with one field per field of dataclass ``dc`` (minus
    ``exclude``), plus ``extra`` fields ``{name: (type, default)}`` for the step itself.
    ``module`` is the declaring module's ``__name__`` (so that recipes pickle for workers);
    assign the result to a module-level ``name``."""
    hints = typing.get_type_hints(dc)
    fields: dict[str, Any] = {}
    for f in dataclasses.fields(dc):
        if f.name in exclude:
            continue
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = ...
        fields[f.name] = (hints[f.name], default)
    fields.update(extra or {})
    model = create_model(name, __base__=DataclassStep, __module__=module, **fields)
    model.op_params = dc
    return model


def get_step(name: str) -> StepSpec[Any]:
    """The registered step ``name``."""
    return STEPS.get(name)


def step_names() -> list[str]:
    """Names of every registered step."""
    return STEPS.names()


__all__ = [
    "STEPS",
    "DataclassStep",
    "StepContext",
    "StepFunc",
    "StepParams",
    "StepSpec",
    "dataclass_model",
    "get_step",
    "register_step",
    "step_names",
]
