"""The compliance report: one verdict per rule, and the image's overall verdict."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    """A rule's verdict. ``skip`` is only used where the rule does not apply to the image
    (no background to judge, no file to weigh); a rule that *could not be checked* (no text
    detector) is a ``warn``."""

    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"


@dataclass(frozen=True)
class RuleResult:
    """One rule's verdict."""

    rule: str
    status: Status
    measured: str
    limit: str
    message: str = ""
    source: str = ""
    confirmed: bool = True


@dataclass
class ComplianceReport:
    """All verdicts for one image."""

    file: str
    results: list[RuleResult] = field(default_factory=list)
    preset: str | None = None

    @property
    def failed(self) -> bool:
        return any(r.status is Status.FAIL for r in self.results)

    @property
    def verdict(self) -> Status:
        for s in (Status.FAIL, Status.WARN):
            if any(r.status is s for r in self.results):
                return s
        return Status.PASS

    def get(self, rule: str) -> RuleResult:
        for r in self.results:
            if r.rule == rule:
                return r
        raise KeyError(rule)

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "preset": self.preset,
            "verdict": self.verdict.value,
            "results": [{**asdict(r), "status": r.status.value} for r in self.results],
        }


__all__ = ["ComplianceReport", "RuleResult", "Status"]
