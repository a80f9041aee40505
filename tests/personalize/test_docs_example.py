"""docs/examples/personalize/feedback_api.py runs and records what it says."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pytest

from conftest import ROOT
from productstudio.personalize.store import FeedbackStore


def test_feedback_api_example(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "fb.sqlite"
    monkeypatch.setattr(sys, "argv", ["feedback_api.py", str(db)])
    runpy.run_path(str(ROOT / "docs" / "examples" / "personalize" / "feedback_api.py"))
    segment, variant, imps, clicks = capsys.readouterr().out.split()
    assert (segment, imps, clicks) == ("noir", "1", "1")
    assert variant in {v.variant_id for v in FeedbackStore.open(db).variants("apple-1")}
