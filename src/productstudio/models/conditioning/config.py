"""Condition settings and prompts without torch: the CLI and the configs import these cheaply.

:class:`ConditionConfig` is stored in every generator's ``config.json``; :class:`Fusion` and
:class:`TextEncoderKind` are the choices the CLI offers; :class:`Prompt` says what to generate.
The torch modules that use them live in :mod:`productstudio.models.conditioning.fusion`.

Example:
    >>> from productstudio.models.data import Vocab
    >>> v = Vocab.build([{"colour": "Red"}], ("colour",))
    >>> c = ConditionConfig.from_vocab(v, fusion="concat")
    >>> c.attr_names, c.attr_sizes, c.fusion is Fusion.CONCAT
    (('colour',), (2,), True)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum

from productstudio.errors import InvalidParamsError
from productstudio.models.conditioning.audience import AudienceProfile, audience_sizes
from productstudio.models.conditioning.image_features import ImageEncoderKind
from productstudio.models.conditioning.text import TEXT_DIM
from productstudio.models.data import Vocab

__all__ = ["ConditionConfig", "Fusion", "Prompt", "TextEncoderKind"]


class Fusion(StrEnum):
    """How the condition tokens become one vector (see ``fusion.ConditionEncoder``)."""

    CONCAT = "concat"
    FILM = "film"


class TextEncoderKind(StrEnum):
    """Title encoders (``text.get_text_encoder``)."""

    MINILM = "minilm"
    HASHING = "hashing"


@dataclass(frozen=True)
class ConditionConfig:
    """Shape of the condition encoder (stored in each model's config.json)."""

    attr_names: tuple[str, ...] = ()
    attr_sizes: tuple[int, ...] = ()
    audience_sizes: tuple[int, ...] = field(default_factory=audience_sizes)
    text_dim: int = TEXT_DIM
    text_encoder: str = TextEncoderKind.MINILM.value
    emb_dim: int = 64
    out_dim: int = 128
    fusion: Fusion = Fusion.FILM
    use_image: bool = False
    image_encoder: ImageEncoderKind = ImageEncoderKind.CNN  # used when use_image

    def __post_init__(self) -> None:
        if len(self.attr_names) != len(self.attr_sizes):
            raise InvalidParamsError("ConditionConfig: attr_names and attr_sizes differ in length")
        if self.emb_dim < 1 or self.out_dim < 1:
            raise InvalidParamsError("ConditionConfig: emb_dim and out_dim must be >= 1")
        object.__setattr__(self, "fusion", Fusion(self.fusion))
        object.__setattr__(self, "image_encoder", ImageEncoderKind(self.image_encoder))

    @classmethod
    def from_vocab(cls, vocab: Vocab, **kw: object) -> ConditionConfig:
        names = vocab.names
        return cls(attr_names=names, attr_sizes=tuple(vocab.size(n) for n in names), **kw)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Prompt:
    """What to generate: a title, attribute values and (optionally) an audience."""

    title: str = ""
    attrs: dict[str, str] = field(default_factory=dict)
    audience: AudienceProfile | None = None

    def with_attrs(self, changes: Mapping[str, str]) -> Prompt:
        """The same prompt with some attribute values changed; where the title names an old
        value as a word (case-insensitive), it names the new one instead, so title and
        attributes do not contradict each other.

        Example:
            >>> p = Prompt("Nike Men Black Shoes", {"colour": "Black", "gender": "Men"})
            >>> q = p.with_attrs({"colour": "Red"})
            >>> q.title, q.attrs["colour"], q.attrs["gender"]
            ('Nike Men Red Shoes', 'Red', 'Men')
        """
        title = self.title
        for name, new in changes.items():
            old = self.attrs.get(name, "").strip()
            if old and new and old.lower() != new.lower():
                title = re.sub(rf"(?i)\b{re.escape(old)}\b", new, title)
        return replace(self, title=title, attrs={**self.attrs, **changes})
