"""Prompts for the pretrained pipelines, built from product metadata through YAML templates.

A prompt comes from four sources, each optional:

* the **product** (:class:`ProductInfo`): title, category, colour, material and any other
  catalogue attributes (a ``metadata.csv`` row, a catalogue item's attributes);
* the **audience** (:class:`~productstudio.models.conditioning.audience.AudienceProfile`, the
  schema our own generators are conditioned on: age band, gender, interests, region);
* a **scene** (a named preset from ``presets/scenes.yaml`` or free text);
* a marketplace/channel **style** (``amazon``, ``etsy``, ``zalando`` …).

:class:`PromptBook` holds the templates, styles, audience phrases, attribute phrases and
scene presets (``presets/prompts.yaml`` and ``presets/scenes.yaml``; a user file given with
``--templates`` overrides keys of the same name). :meth:`PromptBook.build` fills a template,
drops empty parts, never repeats a word the title already has ("Black Fleece Jacket" +
colour Black + category Jackets → "Black Fleece Jacket"), keeps the prompt within CLIP's
77-token window by dropping the least important parts first (audience, style, details), and
returns a :class:`BuiltPrompt` that is saved beside every output.

Example:
    >>> book = PromptBook.default()
    >>> p = book.build(ProductInfo(title="Puma Men Black Fleece Jacket", category="Jackets",
    ...                            colour="Black"), scene="marble-counter", style="amazon")
    >>> p.prompt.startswith("professional product photo of Puma Men Black Fleece Jacket,")
    True
    >>> p.prompt.lower().count("black")
    1
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from productstudio.errors import InvalidParamsError, RecipeError
from productstudio.models.conditioning.audience import AudienceProfile
from productstudio.models.pipelines.options import DEFAULT_NEGATIVE

log = logging.getLogger(__name__)

#: CLIP reads 77 tokens, 75 after its start/end tokens; see :func:`token_estimate`.
MAX_TOKENS = 75
#: metadata columns that never go into a prompt
_NOT_ATTRIBUTES = {
    "id",
    "file",
    "path",
    "image",
    "url",
    "title",
    "name",
    "category",
    "colour",
    "color",
    "base_colour",
    "material",
    "width",
    "height",
    "source",
    "license",
    "licence",
}
_NOT_ATTRIBUTE_SUFFIXES = ("_repo", "_path", "_commit", "_id", "_url")
_PLACEHOLDERS = ("subject", "details", "scene", "audience", "style", "extra")


# -- the YAML files ------------------------------------------------------------------------
class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Template(_Strict):
    prompt: str
    negative: str = ""
    summary: str = ""


class _Style(_Strict):
    prompt: str
    negative: str = ""


class _Audience(_Strict):
    age_band: dict[str, str] = Field(default_factory=dict)
    gender: dict[str, str] = Field(default_factory=dict)
    interests: dict[str, str] = Field(default_factory=dict)
    region: dict[str, str] = Field(default_factory=dict)


class _PromptsFile(_Strict):
    version: int = 1
    negative: str | None = None
    templates: dict[str, _Template] = Field(default_factory=dict)
    styles: dict[str, _Style] = Field(default_factory=dict)
    audience: _Audience = Field(default_factory=_Audience)
    attributes: dict[str, str] = Field(default_factory=dict)
    scenes: dict[str, _Scene] = Field(default_factory=dict)


class _Layout(_Strict):
    fill: float = Field(default=0.55, gt=0.0, le=1.0)
    align: str = Field(default="baseline", pattern="^(center|bottom|top|baseline)$")
    baseline: float = Field(default=0.8, gt=0.0, le=1.0)
    aspect: float = Field(default=1.0, ge=0.25, le=4.0)


class _Scene(_Strict):
    prompt: str
    summary: str = ""
    negative: str = ""
    layout: _Layout = Field(default_factory=lambda: _Layout())
    shadow: float = Field(default=0.5, ge=0.0, le=1.0)
    harmonise: float = Field(default=1.0, ge=0.0, le=1.0)
    light_wrap: float = Field(default=0.0, ge=0.0, le=1.0)
    grow_px: int = Field(default=3, ge=0, le=64)


class _ScenesFile(_Strict):
    version: int = 1
    scenes: dict[str, _Scene] = Field(default_factory=dict)


_PromptsFile.model_rebuild()


@dataclass(frozen=True, slots=True)
class ScenePreset:
    """A named scene: what to paint around the product and where the product sits.

    Attributes mirror ``presets/scenes.yaml`` (see its header).
    """

    name: str
    prompt: str
    summary: str = ""
    negative: str = ""
    fill: float = 0.55
    align: str = "baseline"
    baseline: float = 0.8
    aspect: float = 1.0
    shadow: float = 0.5
    harmonise: float = 1.0
    light_wrap: float = 0.0
    grow_px: int = 3


@dataclass(frozen=True, slots=True)
class ProductInfo:
    """What a prompt says about the product.

    Attributes:
        title: the product's name ("Puma Men Ferrari Black Fleece Jacket").
        category: its type ("Jackets").
        colour: main colour ("Black").
        material: main material ("leather").
        attributes: other ``(name, value)`` pairs (gender, season, usage, size …), in order.
    """

    title: str = ""
    category: str = ""
    colour: str = ""
    material: str = ""
    attributes: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_mapping(cls, row: Mapping[str, Any]) -> ProductInfo:
        """From a metadata/catalogue row: ``title`` (or ``name``), ``category``, ``colour``
        (or ``color``/``base_colour``), ``material``; the other non-empty text columns become
        attributes, except file/licence/source bookkeeping columns."""

        def get(*keys: str) -> str:
            for k in keys:
                v = row.get(k)
                if v is not None and str(v).strip():
                    return str(v).strip()
            return ""

        attrs: list[tuple[str, str]] = []
        for k, v in row.items():
            key = str(k).strip().lower()
            if (
                key in _NOT_ATTRIBUTES
                or key.endswith(_NOT_ATTRIBUTE_SUFFIXES)
                or v is None
                or not str(v).strip()
            ):
                continue
            attrs.append((key, str(v).strip()))
        return cls(
            title=get("title", "name"),
            category=get("category"),
            colour=get("colour", "color", "base_colour"),
            material=get("material"),
            attributes=tuple(attrs),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "category": self.category,
            "colour": self.colour,
            "material": self.material,
            "attributes": dict(self.attributes),
        }


@dataclass(frozen=True, slots=True)
class BuiltPrompt:
    """A prompt and everything that went into it (saved beside each output).

    Attributes:
        prompt, negative_prompt: what the pipeline gets.
        template, scene, style: the names used (``None`` when not used).
        parts: the text of each placeholder.
        dropped: placeholders dropped to stay within the token window.
    """

    prompt: str
    negative_prompt: str
    template: str = "default"
    scene: str | None = None
    style: str | None = None
    parts: dict[str, str] = field(default_factory=dict)
    dropped: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "prompt": self.prompt,
            "negative_prompt": self.negative_prompt,
            "template": self.template,
            "scene": self.scene,
            "style": self.style,
            "parts": dict(self.parts),
            "dropped": list(self.dropped),
        }


# -- text helpers ----------------------------------------------------------------------------
def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def _stem(word: str) -> str:
    w = word.lower()
    for suffix in ("ies", "es", "s"):
        if w.endswith(suffix) and len(w) > len(suffix) + 2:
            return w[: -len(suffix)] + ("y" if suffix == "ies" else "")
    return w


def token_estimate(text: str) -> int:
    """A tokenizer-free estimate of CLIP's token count: one per word and per comma, one more
    per long word (BPE splits rare and long words).

    Example:
        >>> token_estimate("red shoe, studio light")
        5
    """
    words = _words(text)
    return len(words) + text.count(",") + sum(1 for w in words if len(w) > 7)


_STOP = {"a", "an", "and", "by", "for", "in", "of", "on", "the", "to", "with"}


def _new_words(text: str, seen: set[str]) -> bool:
    """Whether ``text`` has a word (other than 'for', 'the' …) not yet in ``seen``
    (singular/plural-insensitive)."""
    return any(_stem(w) not in seen for w in _words(text) if w not in _STOP)


def _clean(text: str) -> str:
    """Collapse the commas and spaces empty placeholders leave behind."""
    parts = [p.strip() for p in re.sub(r"\s+", " ", text).split(",")]
    return ", ".join(p for p in parts if p)


class PromptBook:
    """Templates, styles, audience and attribute phrases, and scene presets.

    Build with :meth:`default` (the packaged YAML files) or :meth:`from_yaml` (a user file
    whose keys replace the packaged ones of the same name).
    """

    def __init__(
        self,
        prompts: _PromptsFile,
        scenes: dict[str, _Scene],
        *,
        source: str = "built-in",
    ) -> None:
        self._p = prompts
        self._scenes = scenes
        self.source = source

    @classmethod
    def default(cls) -> PromptBook:
        """The packaged ``presets/prompts.yaml`` and ``presets/scenes.yaml``."""
        return _default_book()

    @classmethod
    def from_yaml(cls, path: str | Path) -> PromptBook:
        """The packaged book with the keys of ``path`` laid over it.

        ``path`` may hold any of ``negative``, ``templates``, ``styles``, ``audience``,
        ``attributes`` and ``scenes``.

        Raises:
            RecipeError: unreadable YAML or an unknown/invalid key (the file and key named).
        """
        p = Path(path).expanduser()
        try:
            raw = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise RecipeError(f"cannot read the prompt templates: {exc}", file=p) from None
        user = _parse(_PromptsFile, raw, p)
        base = cls.default()
        merged = base._p.model_copy(
            update={
                "negative": user.negative if user.negative is not None else base._p.negative,
                "templates": {**base._p.templates, **user.templates},
                "styles": {**base._p.styles, **user.styles},
                "audience": _Audience(
                    age_band={**base._p.audience.age_band, **user.audience.age_band},
                    gender={**base._p.audience.gender, **user.audience.gender},
                    interests={**base._p.audience.interests, **user.audience.interests},
                    region={**base._p.audience.region, **user.audience.region},
                ),
                "attributes": {**base._p.attributes, **user.attributes},
            }
        )
        return cls(merged, {**base._scenes, **user.scenes}, source=str(p))

    # -- listing ------------------------------------------------------------------------
    def template_names(self) -> list[str]:
        return sorted(self._p.templates)

    def style_names(self) -> list[str]:
        return sorted(self._p.styles)

    def scene_names(self) -> list[str]:
        return sorted(self._scenes)

    def template_summary(self, name: str) -> str:
        return self._template(name).summary

    @property
    def default_negative(self) -> str:
        return self._p.negative if self._p.negative is not None else DEFAULT_NEGATIVE

    def scene(self, name: str) -> ScenePreset:
        """The scene preset ``name``.

        Raises:
            InvalidParamsError: unknown name (the known ones listed).
        """
        key = name.strip().lower()
        if key not in self._scenes:
            raise InvalidParamsError(
                f"unknown scene '{name}'. Scenes: {', '.join(self.scene_names())} "
                "(or give your own with --prompt)"
            )
        s = self._scenes[key]
        return ScenePreset(
            name=key,
            prompt=s.prompt,
            summary=s.summary,
            negative=s.negative,
            fill=s.layout.fill,
            align=s.layout.align,
            baseline=s.layout.baseline,
            aspect=s.layout.aspect,
            shadow=s.shadow,
            harmonise=s.harmonise,
            light_wrap=s.light_wrap,
            grow_px=s.grow_px,
        )

    def _template(self, name: str) -> _Template:
        if name not in self._p.templates:
            raise InvalidParamsError(
                f"unknown prompt template '{name}'. Templates: {', '.join(self.template_names())}"
            )
        return self._p.templates[name]

    def _style(self, name: str) -> _Style:
        key = name.strip().lower()
        if key not in self._p.styles:
            raise InvalidParamsError(
                f"unknown style '{name}'. Styles: {', '.join(self.style_names())}"
            )
        return self._p.styles[key]

    # -- parts --------------------------------------------------------------------------
    def subject(self, product: ProductInfo) -> tuple[str, set[str]]:
        """ "colour material title category" with nothing the title already says."""
        seen = {_stem(w) for w in _words(product.title)}
        lead: list[str] = []
        for value in (product.colour, product.material):
            fresh = [w for w in _words(value) if _stem(w) not in seen]
            if fresh:  # "Navy Blue" on a "… Blue Sweatshirt" adds only "navy"
                lead.append(" ".join(fresh))
                seen |= {_stem(w) for w in fresh}
        words = [*lead, product.title] if product.title else lead
        if product.category and _new_words(product.category, seen):
            cat = product.category.lower()
            words.append(f"({cat})" if product.title else cat)
            seen |= {_stem(w) for w in _words(product.category)}
        return " ".join(w for w in words if w).strip(), seen

    def details(self, product: ProductInfo, seen: set[str]) -> str:
        """The remaining attributes as phrases (``presets/prompts.yaml`` ``attributes``)."""
        out: list[str] = []
        for key, value in product.attributes:
            phrase = self._p.attributes.get(key, "{value}")
            if not phrase or not _new_words(value, seen):
                continue
            out.append(phrase.format(value=value.lower()))
            seen |= {_stem(w) for w in _words(value)}
        return ", ".join(out)

    def audience(self, profile: AudienceProfile | None, seen: set[str] | None = None) -> str:
        """The audience as phrases (``presets/prompts.yaml`` ``audience``), leaving out those
        whose words are all in ``seen`` (already said by the product or the scene)."""
        if profile is None:
            return ""
        seen = set() if seen is None else seen
        a = self._p.audience
        bits = [
            a.age_band.get(profile.age_band, "") if profile.age_band else "",
            a.gender.get(profile.gender, "") if profile.gender else "",
            *(a.interests.get(i, "") for i in profile.interests),
            a.region.get(profile.region, "") if profile.region else "",
        ]
        out: list[str] = []
        for b in bits:
            if b and _new_words(b, seen):
                out.append(b)
                seen |= {_stem(w) for w in _words(b)}
        return ", ".join(out)

    # -- building -------------------------------------------------------------------------
    def build(
        self,
        product: ProductInfo | None = None,
        *,
        template: str = "default",
        scene: str | ScenePreset | None = None,
        scene_text: str | None = None,
        style: str | None = None,
        audience: AudienceProfile | None = None,
        extra: str = "",
        negative: str | None = None,
        max_tokens: int = MAX_TOKENS,
    ) -> BuiltPrompt:
        """Fill ``template`` (see the module docstring).

        Args:
            product: what is shown (``None``: only scene/style/extra).
            template: a template name.
            scene: a scene preset (name or object): its prompt fills ``{scene}`` and its
                negative is added.
            scene_text: free scene text instead of (or on top of) a preset's.
            style: a marketplace style name.
            audience: who it is for.
            extra: free text added as ``{extra}``.
            negative: replaces the default negative prompt (template, style and scene
                negatives are still added); ``""`` for none at all.
            max_tokens: while :func:`token_estimate` is above it, drop the style, then the
                details, then the audience, then the extra text.

        Raises:
            InvalidParamsError: unknown template, style or scene; nothing to draw.
        """
        tpl = self._template(template)
        preset = self.scene(scene) if isinstance(scene, str) else scene
        prod = product or ProductInfo()
        subject, seen = self.subject(prod)
        details = self.details(prod, seen)
        scene_part = ", ".join(t for t in ((preset.prompt if preset else ""), scene_text) if t)
        seen |= {_stem(w) for w in _words(scene_part)}
        parts = {
            "subject": subject or "a product",
            "details": details,
            "scene": scene_part,
            "audience": self.audience(audience, seen),
            "style": self._style(style).prompt if style else "",
            "extra": extra.strip(),
        }
        if not (subject or parts["scene"] or parts["extra"]):
            raise InvalidParamsError(
                "nothing to draw: give a title (or other product metadata), a scene or a prompt"
            )
        dropped: list[str] = []
        prompt = _clean(tpl.prompt.format(**parts))
        for key in ("style", "details", "audience", "extra"):
            if token_estimate(prompt) <= max_tokens:
                break
            if parts[key]:
                parts[key] = ""
                dropped.append(key)
                prompt = _clean(tpl.prompt.format(**parts))
        if token_estimate(prompt) > max_tokens:
            log.warning(
                "the prompt is about %d tokens; CLIP reads 75 and drops the rest",
                token_estimate(prompt),
            )
        if dropped:
            log.info("prompt: dropped %s to stay within CLIP's 77 tokens", ", ".join(dropped))
        negs = [self.default_negative if negative is None else negative, tpl.negative]
        if style:
            negs.append(self._style(style).negative)
        if preset is not None:
            negs.append(preset.negative)
        return BuiltPrompt(
            prompt=prompt,
            negative_prompt=_clean(", ".join(n for n in negs if n)),
            template=template,
            scene=preset.name if preset else None,
            style=style,
            parts=parts,
            dropped=tuple(dropped),
        )


def _parse(model: type[Any], raw: Any, path: Path | str) -> Any:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(x) for x in err["loc"])
        raise RecipeError(err["msg"], file=path, key=key) from None


@lru_cache(maxsize=1)
def _default_book() -> PromptBook:
    pkg = resources.files("productstudio.models.pipelines") / "presets"
    prompts_raw = yaml.safe_load((pkg / "prompts.yaml").read_text(encoding="utf-8"))
    scenes_raw = yaml.safe_load((pkg / "scenes.yaml").read_text(encoding="utf-8"))
    prompts = _parse(_PromptsFile, prompts_raw, "presets/prompts.yaml")
    scenes = _parse(_ScenesFile, scenes_raw, "presets/scenes.yaml")
    return PromptBook(prompts, dict(scenes.scenes))


__all__ = [
    "MAX_TOKENS",
    "BuiltPrompt",
    "ProductInfo",
    "PromptBook",
    "ScenePreset",
    "token_estimate",
]
