"""personalize layer: image variants per audience that learn from clicks.

* :mod:`~productstudio.personalize.variants`: recipe matrix → variants (id, recipe, features).
* :mod:`~productstudio.personalize.context`, :mod:`~productstudio.personalize.segments`:
  users (audience + free features) and YAML segment rules.
* :mod:`~productstudio.personalize.policies`: Thompson sampling, linear TS / LinUCB,
  epsilon-greedy, uniform — each returns the exact probability of its choice.
* :mod:`~productstudio.personalize.store`: ``choose`` / ``record`` on SQLite or PostgreSQL.
* :mod:`~productstudio.personalize.ope`: IPS, SNIPS, DR with bootstrap intervals.
* :mod:`~productstudio.personalize.simulate`: a simulator with known truth.
* :mod:`~productstudio.personalize.report`: the HTML feedback report.
* :mod:`~productstudio.personalize.audience`: the generators' audience effect.

The store (SQLAlchemy) loads only when one of its names is used, so importing this package stays
light.
"""

from __future__ import annotations

import importlib
from typing import Any

# Audience effect (imports numpy only; models are passed in).
from productstudio.personalize.audience import (
    AudienceEffect,
    AudienceProfile,
    colour_stats,
    measure_audience_effect,
)
from productstudio.personalize.context import UserContext
from productstudio.personalize.events import Decision, Event, EventKind, RecordResult
from productstudio.personalize.policies import PolicyKind, PolicyParams
from productstudio.personalize.segments import SegmentRules
from productstudio.personalize.variants import VariantMatrix, VariantRecord

_LAZY = {
    "FeedbackStore": "productstudio.personalize.store",
    "FeedbackConfig": "productstudio.personalize.store",
    "evaluate_store": "productstudio.personalize.offline",
    "write_report": "productstudio.personalize.report",
}


def __getattr__(name: str) -> Any:
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module 'productstudio.personalize' has no attribute {name!r}")
    return getattr(importlib.import_module(mod), name)


__all__ = [
    "AudienceEffect",
    "AudienceProfile",
    "Decision",
    "Event",
    "EventKind",
    "FeedbackConfig",
    "FeedbackStore",
    "PolicyKind",
    "PolicyParams",
    "RecordResult",
    "SegmentRules",
    "UserContext",
    "VariantMatrix",
    "VariantRecord",
    "colour_stats",
    "evaluate_store",
    "measure_audience_effect",
    "write_report",
]
