"""The step registry: how any op becomes a step of a YAML recipe.

A recipe is a list of steps; each step names a registered step and gives its parameters::

    version: 1
    steps:
      - cutout: {model: auto}
      - canvas: {width: 2000, height: 2000, fill: 0.85}
      - background: {color: "#ffffff"}
      - output: {format: jpeg, quality: 92}

Registering a step (e.g. in ``productstudio/recipes/steps_edit.py``)
--------------------------------------------------------------------
A step is three things: a **name**, a **pydantic params model** (subclass :class:`StepParams`,
which forbids unknown keys, so a typo in YAML is an error that names the line and key) and a
**function** ``(ctx, image, params) -> image``::

    import numpy as np
    from pydantic import Field

    from productstudio.recipes.steps import StepContext, StepParams, register_step

    class RecolorStep(StepParams):
        color: str = Field(..., description="target colour, hex or CSS name")
        strength: float = Field(default=1.0, ge=0.0, le=1.0)

    @register_step("recolor", RecolorStep, summary="Recolour the product to a target colour")
    def recolor_step(ctx: StepContext, image: np.ndarray, params: RecolorStep) -> np.ndarray:
        mask = ctx.product_mask(image)            # float32 (H, W): alpha, or the segmenter's mask
        return recolor(image, mask, RecolorParams(color=params.color, strength=params.strength))

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

Making your module's steps available: :func:`load_step_modules` imports
``productstudio.recipes.steps_builtin`` and, when it exists, ``productstudio.recipes.steps_edit``
(and any module named in :data:`STEP_MODULES`); ``load_recipe`` calls it, so nothing else needs
editing. Heavy imports (torch, onnxruntime) go inside the step function or a
``ctx.resource`` factory, never at module level.

Names are lower-case and unique: registering a name twice raises ``InvalidParamsError``.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from productstudio.errors import InvalidParamsError
from productstudio.imaging.types import Mask, RGBAImage, as_mask, check_image
from productstudio.models.registry import Registry

if TYPE_CHECKING:  # pragma: no cover
    from productstudio.models.segmenters.base import Segmenter

log = logging.getLogger(__name__)

P = TypeVar("P", bound="StepParams")

#: Modules imported by :func:`load_step_modules` (missing optional ones are skipped).
STEP_MODULES: list[str] = [
    "productstudio.recipes.steps_builtin",
    "productstudio.recipes.steps_edit",
    "productstudio.recipes.steps_translate",
]


class StepParams(BaseModel):
    """Base of every step's params model: unknown keys are errors, instances are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)


class OutputFormat(StrEnum):
    """Encoded output formats a recipe can ask for."""

    JPEG = "jpeg"
    PNG = "png"
    WEBP = "webp"
    BMP = "bmp"
    TIFF = "tiff"
    AVIF = "avif"


class EncodeSettings(StepParams):
    """How the result is written (the ``output`` step's params).

    Attributes:
        format: file format.
        quality: JPEG/WebP/AVIF quality (1..100).
        max_bytes: largest acceptable file; the encoder lowers the quality (not below
            ``min_quality``) until the file fits, else reports it.
        min_quality: lowest quality the size limit may push to.
        background: colour used to flatten transparency for formats without alpha.
    """

    format: OutputFormat = OutputFormat.JPEG
    quality: int = Field(default=92, ge=1, le=100)
    max_bytes: int | None = Field(default=None, gt=0)
    min_quality: int = Field(default=70, ge=1, le=100)
    background: str = "#ffffff"


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
    _segmenter: Segmenter | None = None
    _resources: dict[str, Any] = field(default_factory=dict)

    def segmenter(self) -> Segmenter:
        """The segmenter for this run (loaded on first use, then cached)."""
        if self._segmenter is None:
            from productstudio.models.segmenters import load_segmenter

            self._segmenter = load_segmenter(self.segmenter_choice)
        return self._segmenter

    def set_segmenter(self, segmenter: Segmenter) -> None:
        """Use an already loaded segmenter (tests, batch workers)."""
        self._segmenter = segmenter

    def resource(self, key: str, factory: Callable[[], Any]) -> Any:
        """A per-run cached object (a loaded model …), built by ``factory`` on first use."""
        if key not in self._resources:
            self._resources[key] = factory()
        return self._resources[key]

    def resolve_path(self, path: str | Path) -> Path:
        """``path`` made absolute against :attr:`base_dir` (the recipe's folder)."""
        p = Path(path).expanduser()
        if p.is_absolute() or self.base_dir is None:
            return p
        return self.base_dir / p

    def note(self, text: str) -> None:
        """Record a warning for the user (also logged)."""
        log.warning("%s: %s", self.source or "<image>", text)
        self.notes.append(text)

    def product_mask(self, image: np.ndarray) -> Mask:
        """The product's mask for ``image``: its own alpha when RGBA, else the product layer
        kept in the context when it has the same size, else the segmenter's answer."""
        check_image(image)
        if image.shape[2] == 4:
            return as_mask(image[..., 3])
        if self.product is not None and self.product.shape[:2] == image.shape[:2]:
            return as_mask(self.product[..., 3])
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


_LOADED: set[str] = set()


def load_step_modules() -> list[str]:
    """Import every module in :data:`STEP_MODULES` that exists (once); returns the loaded ones."""
    for mod in STEP_MODULES:
        if mod in _LOADED:
            continue
        if importlib.util.find_spec(mod) is None:
            continue
        importlib.import_module(mod)
        _LOADED.add(mod)
    return sorted(_LOADED)


def get_step(name: str) -> StepSpec[Any]:
    """The registered step ``name`` (loads the step modules first)."""
    load_step_modules()
    return STEPS.get(name)


def step_names() -> list[str]:
    """Names of every registered step (loads the step modules first)."""
    load_step_modules()
    return STEPS.names()


__all__ = [
    "STEPS",
    "STEP_MODULES",
    "EncodeSettings",
    "OutputFormat",
    "StepContext",
    "StepFunc",
    "StepParams",
    "StepSpec",
    "get_step",
    "load_step_modules",
    "register_step",
    "step_names",
]
