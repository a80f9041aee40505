"""Recipes: a YAML pipeline of registered steps, with marketplace rules.

File format (``version: 1``)::

    version: 1                     # required; the schema version
    name: my-shop                  # optional (defaults to the file name)
    description: White, 85 % fill, JPEG
    marketplace: Amazon            # optional, for `recipe list`
    steps:                         # run in order; each item is `step-name: {params}`
      - cutout: {}                 # params may be empty: every field has a default
      - canvas: {width: 2000, height: 2000, fill: 0.85}
      - background: {color: "#ffffff"}
      - output: {format: jpeg, quality: 92}
    rules:                         # optional: what `productstudio check` verifies
      background: {color: "#ffffff", source: "https://…", confirmed: true}

Every error is a :class:`~productstudio.errors.RecipeError` naming the file, the line and
the key (``my.yaml, line 7, key 'steps[1].canvas.fill': Input should be less than or equal
to 1``).

Python API::

    recipe = load_recipe("amazon-main")            # a preset name or a path to a .yaml file
    result = recipe.apply(load_image("shoe.jpg"), StepContext(segmenter_choice="auto"))
    data = recipe.encode(result)                   # bytes honouring format/quality/max size
    result.save("out/shoe.jpg")                    # or: write_atomic(data, path)
"""

from __future__ import annotations

import dataclasses
import importlib.resources
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from productstudio.errors import InvalidParamsError, RecipeError, UnknownBackendError
from productstudio.imaging.io import (
    ImageFormat,
    LoadedImage,
    encode_image,
    load_image,
    write_atomic,
)
from productstudio.imaging.types import check_image, to_uint8
from productstudio.ops.canvas import CanvasParams
from productstudio.ops.cutout import CutoutParams
from productstudio.recipes.compliance.rules import Rules
from productstudio.recipes.steps import (
    EncodeSettings,
    StepContext,
    StepParams,
    StepSpec,
    get_step,
    step_names,
)

SCHEMA_VERSION = 1

#: The main job: ``productstudio run`` without ``--preset``/``--recipe`` runs this preset.
MAIN_PRESET = "amazon-main"


class RecipeFile(BaseModel):
    """The top level of a recipe YAML (steps are validated one by one against the registry)."""

    model_config = ConfigDict(extra="forbid")

    version: Literal[1]
    name: str | None = None
    description: str = ""
    marketplace: str | None = None
    steps: list[dict[str, dict[str, Any] | None]] = Field(min_length=1)
    rules: Rules = Field(default_factory=Rules)


@dataclass(frozen=True)
class RecipeStep:
    """One validated step: its registered spec, parsed params and YAML line."""

    name: str
    params: StepParams
    spec: StepSpec[Any] = field(repr=False)
    line: int | None = None


@dataclass
class RecipeResult:
    """What :meth:`Recipe.apply` returns.

    Attributes:
        pixels: (H, W, 3|4) uint8 result.
        encode: output settings (the recipe's ``output`` step, else JPEG 92).
        notes: warnings raised by the steps.
        context: the run's :class:`StepContext` (segmenter, product layer …).
    """

    pixels: np.ndarray
    encode: EncodeSettings
    notes: list[str]
    context: StepContext

    def encode_bytes(self) -> bytes:
        """Encoded file contents (see :func:`encode_with`)."""
        return encode_with(self.pixels, self.encode, self.notes)

    def save(self, path: str | Path) -> Path:
        """Encode and write atomically; returns the path."""
        return write_atomic(self.encode_bytes(), path)

    @property
    def suffix(self) -> str:
        """File extension for the encode format (``.jpg`` …)."""
        return self.encode.format.suffix


def encode_with(
    pixels: np.ndarray, settings: EncodeSettings, notes: list[str] | None = None
) -> bytes:
    """Encode ``pixels`` with ``settings``; with ``max_bytes`` the quality steps down (by 4,
    not below ``min_quality``) until the file fits. A file that still does not fit is returned
    with a note appended to ``notes``."""
    from productstudio.imaging.color import parse_color

    fmt = settings.format
    bg = parse_color(settings.background)[:3]
    q = settings.quality
    data = encode_image(pixels, fmt, quality=q, background=bg)
    if settings.max_bytes is None or len(data) <= settings.max_bytes:
        return data
    lossy = fmt in (ImageFormat.JPEG, ImageFormat.WEBP, ImageFormat.AVIF)
    while lossy and len(data) > settings.max_bytes and q - 4 >= settings.min_quality:
        q -= 4
        data = encode_image(pixels, fmt, quality=q, background=bg)
    if len(data) > settings.max_bytes and notes is not None:
        notes.append(
            f"encoded file is {len(data)} bytes, over max_bytes={settings.max_bytes} even at "
            f"quality {q}"
        )
    elif q != settings.quality and notes is not None:
        notes.append(f"quality lowered from {settings.quality} to {q} to fit max_bytes")
    return data


@dataclass(frozen=True)
class Recipe:
    """A validated recipe. Build it with :func:`load_recipe`, :meth:`from_yaml`,
    :meth:`from_text` or :meth:`preset`."""

    name: str
    steps: tuple[RecipeStep, ...]
    rules: Rules = field(default_factory=Rules)
    description: str = ""
    marketplace: str | None = None
    version: int = SCHEMA_VERSION
    file: str | None = None

    # -- construction ---------------------------------------------------------------------
    @classmethod
    def from_text(
        cls, text: str, *, file: str | Path = "<string>", name: str | None = None
    ) -> Recipe:
        """Parse and validate YAML text; errors name ``file``, the line and the key."""
        return _parse(text, str(file), name)

    @classmethod
    def from_yaml(cls, path: str | Path) -> Recipe:
        """Read a recipe file."""
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise RecipeError("no such recipe file", file=p) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise RecipeError(f"cannot read the recipe: {exc}", file=p) from None
        return _parse(text, str(p), p.stem)

    @classmethod
    def preset(cls, name: str) -> Recipe:
        """A marketplace preset shipped with ProductStudio (see :func:`list_presets`)."""
        key = name.strip().lower()
        res = importlib.resources.files("productstudio.recipes").joinpath("presets", f"{key}.yaml")
        if not res.is_file():
            raise RecipeError(
                f"unknown preset '{name}'. Presets: {', '.join(list_presets())}; or pass a path "
                "to a recipe .yaml file"
            )
        return _parse(res.read_text(encoding="utf-8"), f"preset:{key}", key)

    def with_params(
        self, overrides: Mapping[str, Mapping[str, Any]], *, name: str | None = None
    ) -> Recipe:
        """A copy whose steps named in ``overrides`` get those params (merged over theirs and
        validated like YAML), e.g. ``recipe.with_params({"canvas": {"fill": 0.9}})``.

        Raises:
            RecipeError: the recipe has no such step, or a value is invalid (names the key).
        """
        names = {s.name for s in self.steps}
        missing = sorted(set(overrides) - names)
        if missing:
            raise RecipeError(
                f"recipe '{self.name}' has no step {', '.join(map(repr, missing))} to override; "
                f"its steps are {', '.join(s.name for s in self.steps)}",
                file=self.file,
            )
        steps: list[RecipeStep] = []
        for st in self.steps:
            if st.name not in overrides:
                steps.append(st)
                continue
            raw = {**st.params.model_dump(), **dict(overrides[st.name])}
            try:
                params = st.spec.parse(raw)
            except ValidationError as exc:
                raise _validation_error(exc, self.file or "<overrides>", None, [st.name]) from None
            steps.append(dataclasses.replace(st, params=params))
        return dataclasses.replace(self, steps=tuple(steps), name=name or self.name)

    # -- running --------------------------------------------------------------------------
    def apply(
        self,
        image: np.ndarray | LoadedImage | str | Path,
        ctx: StepContext | None = None,
    ) -> RecipeResult:
        """Run every step on ``image``.

        Args:
            image: pixels ((H, W, 3|4) uint8/uint16), a :class:`LoadedImage`, or a file path.
            ctx: the run's context (segmenter choice, attributes …); a fresh one by default.
                ``ctx.source`` and ``ctx.original`` are filled in when missing.

        Returns:
            :class:`RecipeResult` with the pixels and the encode settings.

        Raises:
            ProductStudioError subclasses from the steps (bad input, missing weights …).
        """
        c = ctx or StepContext()
        if isinstance(image, str | Path):
            image = load_image(image)
        if isinstance(image, LoadedImage):
            c.source = c.source or image.source
            pixels = image.pixels
        else:
            pixels = image
        check_image(pixels)
        px = np.ascontiguousarray(to_uint8(pixels))
        if c.original is None:
            c.original = px
        if c.base_dir is None and self.file and not self.file.startswith(("preset:", "<")):
            c.base_dir = Path(self.file).parent
        for step in self.steps:
            px = step.spec(c, px, step.params)
        return RecipeResult(px, c.encode or EncodeSettings(), c.notes, c)

    def encode(
        self, result: RecipeResult | np.ndarray, settings: EncodeSettings | None = None
    ) -> bytes:
        """Encoded bytes of a result (or raw pixels) with the recipe's output settings."""
        if isinstance(result, RecipeResult):
            return encode_with(result.pixels, settings or result.encode, result.notes)
        return encode_with(result, settings or self.output_settings())

    def output_settings(self) -> EncodeSettings:
        """The ``output`` step's settings (the last one), else JPEG 92."""
        for step in reversed(self.steps):
            if isinstance(step.params, EncodeSettings):
                return step.params
        return EncodeSettings()

    # -- display --------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The recipe with every default filled in (what `recipe show` prints)."""
        return {
            "version": self.version,
            "name": self.name,
            "description": self.description,
            "marketplace": self.marketplace,
            "steps": [{s.name: s.params.model_dump(mode="json")} for s in self.steps],
            "rules": self.rules.model_dump(mode="json", exclude_none=True),
        }

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)


# -- YAML with line numbers -------------------------------------------------------------
def _node_for(root: yaml.Node | None, path: Sequence[str | int]) -> yaml.Node | None:
    """The deepest YAML node along ``path`` (a key's *key* node when the path ends on a key)."""
    node = root
    found = root
    for part in path:
        if isinstance(node, yaml.MappingNode):
            nxt = None
            for k, v in node.value:
                if str(k.value) == str(part):
                    found, nxt = k, v
                    break
            if nxt is None:
                return found
            node = nxt
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if not 0 <= part < len(node.value):
                return found
            node = node.value[part]
            found = node
        else:
            return found
    return found if found is not None else node


def _line(root: yaml.Node | None, path: Sequence[str | int]) -> int | None:
    n = _node_for(root, path)
    return n.start_mark.line + 1 if n is not None else None


def _key_text(path: Sequence[str | int]) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _validation_error(
    exc: ValidationError, file: str, root: yaml.Node | None, prefix: Sequence[str | int]
) -> RecipeError:
    e = exc.errors()[0]
    loc = [p for p in e["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
    msg = e["msg"]
    if not loc:  # a whole-model check (an op's dataclass): find the field it names
        import re

        found = re.search(r"\b[A-Z]\w*Params\.(\w+)\b", msg)
        if found:
            loc = [found.group(1)]
    path = [*prefix, *loc]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    if e["type"] == "extra_forbidden":
        msg = "unknown key (typo?)"
    more = len(exc.errors()) - 1
    if more:
        msg += f" (and {more} more error{'s' if more > 1 else ''})"
    return RecipeError(msg, file=file, line=_line(root, path), key=_key_text(path) or None)


def _parse(text: str, file: str, name: str | None) -> Recipe:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise RecipeError(f"invalid YAML: {exc.problem or exc}", file=file, line=line) from None
    except yaml.YAMLError as exc:
        raise RecipeError(f"invalid YAML: {exc}", file=file) from None
    if not isinstance(data, dict):
        raise RecipeError(
            "a recipe must be a YAML mapping with `version: 1` and `steps:`", file=file, line=1
        )
    if "version" in data and data["version"] != SCHEMA_VERSION:
        raise RecipeError(
            f"unsupported recipe version {data['version']!r}: this ProductStudio reads version "
            f"{SCHEMA_VERSION}",
            file=file,
            line=_line(root, ["version"]),
            key="version",
        )
    if isinstance(data.get("steps"), list):  # item shape first, for precise messages
        for i, item in enumerate(data["steps"]):
            if not (isinstance(item, dict) and len(item) == 1):
                raise RecipeError(
                    "each step must be one `name: {params}` mapping, e.g. `- canvas: {fill: 0.85}`",
                    file=file,
                    line=_line(root, ["steps", i]),
                    key=f"steps[{i}]",
                )
    try:
        top = RecipeFile.model_validate(data)
    except ValidationError as exc:
        raise _validation_error(exc, file, root, []) from None
    steps: list[RecipeStep] = []
    for i, item in enumerate(top.steps):
        ((sname, raw),) = item.items()
        line = _line(root, ["steps", i, sname])
        try:
            spec = get_step(sname)
        except UnknownBackendError:
            raise RecipeError(
                f"unknown step '{sname}'. Steps: {', '.join(step_names())}",
                file=file,
                line=line,
                key=f"steps[{i}]",
            ) from None
        if raw is not None and not isinstance(raw, dict):
            raise RecipeError(
                "step params must be a mapping", file=file, line=line, key=f"steps[{i}].{sname}"
            )
        try:
            params = spec.parse(raw)
        except ValidationError as exc:
            raise _validation_error(exc, file, root, ["steps", i, sname]) from None
        except InvalidParamsError as exc:
            raise RecipeError(str(exc), file=file, line=line, key=f"steps[{i}].{sname}") from None
        steps.append(RecipeStep(spec.name, params, spec, line))
    return Recipe(
        name=top.name or name or "recipe",
        steps=tuple(steps),
        rules=top.rules,
        description=top.description,
        marketplace=top.marketplace,
        version=top.version,
        file=file,
    )


def list_presets() -> list[str]:
    """Names of the presets shipped in ``productstudio/recipes/presets``."""
    folder = importlib.resources.files("productstudio.recipes").joinpath("presets")
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


def main_image_recipe(
    *,
    canvas: CanvasParams | None = None,
    cutout: CutoutParams | None = None,
    background: str | None = "#ffffff",
    fmt: ImageFormat = ImageFormat.JPEG,
    quality: int = 92,
    keep_alpha: bool = True,
) -> Recipe:
    """The main job as a recipe: the :data:`MAIN_PRESET` preset with ``run``'s options.

    Args:
        canvas: canvas geometry (``None``: the preset's).
        cutout: alpha refinement (``None``: the preset's).
        background: canvas colour, or ``None`` to keep transparency.
        fmt, quality: output format and quality.
        keep_alpha: an input that already has transparency is used as its own cut-out.

    Example:
        >>> r = main_image_recipe(canvas=CanvasParams(width=800, height=800), fmt=ImageFormat.PNG)
        >>> [s.name for s in r.steps], r.output_settings().format.value
        (['cutout', 'canvas', 'background', 'output'], 'png')
    """
    over: dict[str, dict[str, Any]] = {"cutout": {"keep_alpha": keep_alpha}}
    if cutout is not None:
        over["cutout"].update(dataclasses.asdict(cutout))
    if canvas is not None:
        over["canvas"] = dataclasses.asdict(canvas)
        if canvas.visible_on is None:
            # fill is measured as the checker will see it: on the canvas colour
            over["canvas"]["visible_on"] = background
    over["background"] = {"kind": "solid", "color": background}
    if background is None:
        over["background"] = {"kind": "transparent"}
    over["output"] = {"format": fmt, "quality": quality}
    return Recipe.preset(MAIN_PRESET).with_params(over)


def load_recipe(name_or_path: str | Path) -> Recipe:
    """A recipe from a file path (``*.yaml``/``*.yml`` or any existing file) or a preset name.

    Raises:
        RecipeError: no such file or preset, or the recipe is invalid (file, line, key).
    """
    text = str(name_or_path)
    p = Path(text).expanduser()
    if p.is_file() or p.suffix.lower() in (".yaml", ".yml") or "/" in text:
        return Recipe.from_yaml(p)
    return Recipe.preset(text)


__all__ = [
    "MAIN_PRESET",
    "SCHEMA_VERSION",
    "Recipe",
    "RecipeFile",
    "RecipeResult",
    "RecipeStep",
    "encode_with",
    "list_presets",
    "load_recipe",
    "main_image_recipe",
]
