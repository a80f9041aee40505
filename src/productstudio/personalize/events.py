"""Feedback events and decisions: the values that ``choose`` returns and ``record`` stores.

An **impression** says that a variant was shown, with the probability the policy chose it with
(``propensity``) and the user context; **clicks** and **conversions** point at their impression
by ``impression_id``. Every event has a caller-chosen ``event_id``: sending the same event again
is a no-op (idempotent retries), sending a *different* event under a used id is an error.

Example:
    >>> e = Event.from_dict({"type": "click", "event_id": "c1", "impression_id": "i1"})
    >>> e.kind, e.impression_id
    (<EventKind.CLICK: 'click'>, 'i1')
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from productstudio.errors import EventError, InvalidParamsError
from productstudio.personalize.context import UserContext

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@/+=-]{0,127}$")
ID_RULE = "1-128 characters: letters, digits and _ . : @ / + = - (starting with a letter or digit)"


class EventKind(StrEnum):
    IMPRESSION = "impression"
    CLICK = "click"
    CONVERSION = "conversion"


class RecordStatus(StrEnum):
    RECORDED = "recorded"
    DUPLICATE = "duplicate"  # the same event was already recorded: nothing changed


def check_id(value: str, what: str, event_id: str | None = None) -> str:
    if not isinstance(value, str) or not _ID.match(value):
        raise EventError(f"{what} {value!r} is not a valid id ({ID_RULE})", event_id=event_id)
    return value


@dataclass(frozen=True)
class Event:
    """One feedback event.

    Attributes:
        kind: impression, click or conversion.
        event_id: unique id chosen by the caller (retries reuse it).
        impression_id: clicks/conversions: the impression's event id (impressions: own id).
        product, variant, propensity, user, segment, policy, decision_id: impressions only;
            ``segment`` is computed from ``user`` by the store's rules when empty.
        ts: time (seconds since the epoch); the store fills it in when ``None``.
    """

    kind: EventKind
    event_id: str
    impression_id: str = ""
    product: str = ""
    variant: str = ""
    propensity: float | None = None
    user: UserContext = field(default_factory=UserContext)
    segment: str = ""
    policy: str = ""
    decision_id: str = ""
    ts: float | None = None

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "kind", EventKind(self.kind))
        except ValueError:
            raise EventError(
                f"unknown event type {self.kind!r}; use impression, click or conversion",
                event_id=self.event_id or None,
            ) from None
        check_id(self.event_id, "event_id")
        if self.kind is EventKind.IMPRESSION:
            if self.impression_id and self.impression_id != self.event_id:
                raise EventError(
                    "an impression's impression_id is its own event_id; leave it empty",
                    event_id=self.event_id,
                )
            object.__setattr__(self, "impression_id", self.event_id)
            if not self.product or not self.variant:
                raise EventError(
                    "an impression needs `product` and `variant`", event_id=self.event_id
                )
            if self.propensity is None:
                raise EventError(
                    "an impression needs `propensity`: the probability with which the policy "
                    "chose this variant (Decision.propensity); without it the log cannot be "
                    "used for off-policy evaluation",
                    event_id=self.event_id,
                    reason="missing_propensity",
                )
            p = float(self.propensity)
            if not 0.0 < p <= 1.0:
                raise EventError(
                    f"propensity must be in (0, 1], got {self.propensity!r}",
                    event_id=self.event_id,
                    reason="missing_propensity",
                )
            object.__setattr__(self, "propensity", p)
        else:
            if not self.impression_id:
                raise EventError(
                    f"a {self.kind.value} needs `impression_id`: the event_id of the "
                    "impression it belongs to",
                    event_id=self.event_id,
                )
            check_id(self.impression_id, "impression_id", self.event_id)
            extra = [
                k
                for k in ("product", "variant", "segment", "policy", "decision_id")
                if getattr(self, k)
            ]
            if self.propensity is not None or extra:
                raise EventError(
                    f"a {self.kind.value} carries only event_id, impression_id and ts; it "
                    f"inherits {', '.join(extra) or 'propensity'} from its impression",
                    event_id=self.event_id,
                )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Event:
        """From the JSON body of ``POST /v1/events`` / a JSONL line (``type`` or ``kind``)."""
        if not isinstance(data, Mapping):
            raise EventError("an event must be a JSON object")
        known = {
            "type",
            "kind",
            "event_id",
            "impression_id",
            "product",
            "variant",
            "propensity",
            "user",
            "segment",
            "policy",
            "decision_id",
            "ts",
        }
        eid = data.get("event_id")
        extra = sorted(set(data) - known)
        if extra:
            raise EventError(f"unknown event fields {extra}", event_id=eid)
        kind = data.get("type", data.get("kind"))
        if kind is None:
            raise EventError("an event needs `type`: impression, click or conversion", event_id=eid)
        if not isinstance(eid, str):
            raise EventError("an event needs a string `event_id`")
        try:
            user = UserContext.from_dict(data.get("user") or {})
        except InvalidParamsError as exc:
            raise EventError(f"bad `user`: {exc}", event_id=eid) from None
        prop = data.get("propensity")
        if prop is not None and (isinstance(prop, bool) or not isinstance(prop, int | float)):
            raise EventError(f"propensity must be a number, got {prop!r}", event_id=eid)
        ts = data.get("ts")
        if ts is not None and (isinstance(ts, bool) or not isinstance(ts, int | float)):
            raise EventError(f"ts must be a number (seconds), got {ts!r}", event_id=eid)
        return cls(
            kind=kind,
            event_id=eid,
            impression_id=str(data.get("impression_id") or ""),
            product=str(data.get("product") or ""),
            variant=str(data.get("variant") or ""),
            propensity=None if prop is None else float(prop),
            user=user,
            segment=str(data.get("segment") or ""),
            policy=str(data.get("policy") or ""),
            decision_id=str(data.get("decision_id") or ""),
            ts=None if ts is None else float(ts),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.kind.value, "event_id": self.event_id}
        if self.kind is EventKind.IMPRESSION:
            out.update(
                product=self.product,
                variant=self.variant,
                propensity=self.propensity,
                user=self.user.to_dict(),
                segment=self.segment,
                policy=self.policy,
                decision_id=self.decision_id,
            )
        else:
            out["impression_id"] = self.impression_id
        if self.ts is not None:
            out["ts"] = self.ts
        return out

    def digest(self) -> str:
        """sha256 of the event's content without ``ts`` (what makes a retry "the same")."""
        d = self.to_dict()
        d.pop("ts", None)
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class Decision:
    """What ``choose`` returns: the variant, its propensity and how it was chosen.

    Attributes:
        decision_id: id of this decision (reusing it with the same store state and seed gives
            the same decision).
        probabilities: every variant's probability under the policy (sums to 1).
    """

    decision_id: str
    product: str
    variant: str
    propensity: float
    segment: str
    policy: str
    probabilities: dict[str, float]
    user: UserContext = field(default_factory=UserContext)

    def impression(self, event_id: str | None = None, ts: float | None = None) -> Event:
        """The impression event for showing this decision (event id = decision id)."""
        return Event(
            kind=EventKind.IMPRESSION,
            event_id=event_id or self.decision_id,
            product=self.product,
            variant=self.variant,
            propensity=self.propensity,
            user=self.user,
            segment=self.segment,
            policy=self.policy,
            decision_id=self.decision_id,
            ts=ts,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "decision_id": self.decision_id,
            "product": self.product,
            "variant": self.variant,
            "propensity": self.propensity,
            "segment": self.segment,
            "policy": self.policy,
            "probabilities": dict(self.probabilities),
        }


@dataclass(frozen=True)
class RecordResult:
    event_id: str
    status: RecordStatus
    counted: bool  # the event changed a counter (first click of an impression …)

    def to_dict(self) -> dict[str, Any]:
        return {"event_id": self.event_id, "status": self.status.value, "counted": self.counted}


__all__ = [
    "ID_RULE",
    "Decision",
    "Event",
    "EventKind",
    "RecordResult",
    "RecordStatus",
    "check_id",
]
