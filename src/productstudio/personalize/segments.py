"""Segment rules in YAML: which audience a user belongs to (first matching rule wins).

File format (``version: 1``)::

    version: 1
    default: everyone                  # segment of users no rule matches
    segments:
      - name: noir                     # any of the listed interests
        when: {interests: [noir]}
      - name: young-women              # every key must match (AND); a list means any-of
        when: {gender: women, age_band: [18-24, 25-34]}
      - name: big-basket               # free features: numbers compare with gt/gte/lt/lte/eq/ne
        when: {basket: {gte: 100}}
      - name: mobile
        when: {device: mobile}

Audience keys (``age_band``, ``gender``, ``interests``, ``region``) are checked against the
audience schema when the file is loaded; any other key is a free user feature. Errors name the
file, the line and the key.

Example:
    >>> from productstudio.personalize.context import UserContext
    >>> rules = SegmentRules.from_text(
    ...     "version: 1\\nsegments:\\n  - {name: noir, when: {interests: noir}}\\n"
    ...     "  - {name: big, when: {basket: {gte: 100}}}\\n")
    >>> rules.assign(UserContext.parse("interests=noir+sport")), rules.names
    ('noir', ('noir', 'big', 'everyone'))
    >>> rules.assign(UserContext.parse("basket=150")), rules.assign(UserContext.parse("basket=5"))
    ('big', 'everyone')
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from productstudio.errors import InvalidParamsError
from productstudio.models.conditioning.audience import (
    AGE_BANDS,
    AUDIENCE_GENDERS,
    INTERESTS,
    MAX_INTERESTS,
    REGIONS,
    AudienceProfile,
)
from productstudio.personalize._yaml import load_model, node_line
from productstudio.personalize.context import UserContext, read_text

_ALLOWED: dict[str, tuple[str, ...]] = {
    "age_band": AGE_BANDS,
    "gender": AUDIENCE_GENDERS,
    "interests": tuple(INTERESTS),
    "region": REGIONS,
}
_OPS: dict[str, Callable[[float, float], bool]] = {
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
    "eq": operator.eq,
    "ne": operator.ne,
}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    when: dict[str, Any] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError(
                f"segment names are 1-64 letters, digits, '_', '.', '-' (no spaces), got {v!r}"
            )
        return v


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: Literal[1]
    default: str = "everyone"
    segments: list[_Rule] = Field(default_factory=list)


@dataclass(frozen=True)
class Condition:
    """One ``key: value`` test of a rule."""

    key: str
    values: tuple[str, ...] = ()  # equality, any-of
    compare: tuple[tuple[str, float], ...] = ()  # numeric comparisons, all must hold

    def matches(self, user: UserContext) -> bool:
        v = user.value(self.key)
        if v is None:
            return False
        if self.compare:
            return isinstance(v, float) and all(_OPS[op](v, t) for op, t in self.compare)
        if isinstance(v, tuple):  # interests: any of the user's interests is listed
            return any(i in self.values for i in v)
        text = f"{v:g}" if isinstance(v, float) else v
        return text in self.values or (isinstance(v, float) and _num_in(v, self.values))


def _num_in(v: float, values: tuple[str, ...]) -> bool:
    for s in values:
        try:
            if float(s) == v:
                return True
        except ValueError:
            continue
    return False


@dataclass(frozen=True)
class Segment:
    name: str
    conditions: tuple[Condition, ...]

    def matches(self, user: UserContext) -> bool:
        return all(c.matches(user) for c in self.conditions)


def _condition(key: str, raw: Any) -> Condition:
    if isinstance(raw, Mapping):
        if key in _ALLOWED:
            raise ValueError(f"'{key}' is an audience field: give a value or a list, not {raw}")
        bad = sorted(set(raw) - set(_OPS))
        if bad or not raw:
            raise ValueError(f"comparisons are {', '.join(_OPS)}; got {sorted(raw) or 'none'}")
        try:
            cmp = tuple((str(op), float(t)) for op, t in raw.items())
        except (TypeError, ValueError):
            raise ValueError(f"comparison thresholds must be numbers, got {raw}") from None
        return Condition(key, compare=cmp)
    items = raw if isinstance(raw, list) else [raw]
    if not items or any(isinstance(i, dict | list) or i is None for i in items):
        raise ValueError("expected a value, a list of values or a comparison mapping")
    values = tuple(str(i) for i in items)
    allowed = _ALLOWED.get(key)
    if allowed is not None:
        wrong = [v for v in values if v not in allowed]
        if wrong:
            raise ValueError(f"unknown {key} {wrong}; known: {', '.join(allowed)}")
    return Condition(key, values=values)


@dataclass(frozen=True)
class SegmentRules:
    """Ordered segment rules; :meth:`assign` returns the first matching segment's name."""

    segments: tuple[Segment, ...] = ()
    default: str = "everyone"
    source: str = "<default>"

    @property
    def names(self) -> tuple[str, ...]:
        """Every segment a user can land in (rules in order, then the default)."""
        return (*(s.name for s in self.segments), self.default)

    def audience(self, name: str) -> AudienceProfile:
        """The audience a segment stands for: the first value its rule allows for each
        audience field (up to two interests); the default segment is the empty audience.

        Raises:
            InvalidParamsError: no such segment, or its rule reads only free features.
        """
        if name == self.default:
            return AudienceProfile()
        seg = next((s for s in self.segments if s.name == name), None)
        if seg is None:
            raise InvalidParamsError(
                f"{self.source}: no segment '{name}'; segments: {', '.join(self.names)}"
            )
        kw: dict[str, Any] = {}
        for c in seg.conditions:
            if c.key == "interests":
                kw["interests"] = c.values[:MAX_INTERESTS]
            elif c.key in _ALLOWED and c.values:
                kw[c.key] = c.values[0]
        if not kw:
            raise InvalidParamsError(
                f"{self.source}: segment '{name}' is defined by free features only, not by "
                "age_band, gender, interests or region; give the audience instead"
            )
        return AudienceProfile(**kw)

    def assign(self, user: UserContext) -> str:
        for s in self.segments:
            if s.matches(user):
                return s.name
        return self.default

    @classmethod
    def from_text(cls, text: str, *, file: str = "<string>") -> SegmentRules:
        """Parse and validate YAML; :class:`InvalidParamsError` names the file, line, key."""
        top, root = load_model(_File, text, file=file, what="segment rules")
        segs: list[Segment] = []
        seen: set[str] = {top.default}
        for i, rule in enumerate(top.segments):
            if rule.name in seen:
                line = node_line(root, ["segments", i])
                raise InvalidParamsError(
                    f"{file}, line {line}: segment name '{rule.name}' is used "
                    "twice (or equals the default); names must be unique"
                )
            seen.add(rule.name)
            conds = []
            for key, raw in rule.when.items():
                try:
                    conds.append(_condition(str(key), raw))
                except ValueError as exc:
                    raise InvalidParamsError(
                        f"{file}, line {node_line(root, ['segments', i, 'when', str(key)])}, key "
                        f"'segments[{i}].when.{key}': {exc}"
                    ) from None
            segs.append(Segment(rule.name, tuple(conds)))
        return cls(tuple(segs), top.default, file)

    @classmethod
    def from_yaml(cls, path: str | Path) -> SegmentRules:
        return cls.from_text(read_text(path, "segment rules"), file=str(path))

    @classmethod
    def by_interest(cls) -> SegmentRules:
        """One segment per interest (the first of the schema's interests the user has, in schema
        order), ``everyone`` for users without one."""
        segs = tuple(Segment(i, (Condition("interests", (i,)),)) for i in INTERESTS)
        return cls(segs, "everyone", "<by-interest>")


__all__ = ["Condition", "Segment", "SegmentRules"]
