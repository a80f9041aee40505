"""`productstudio feedback …` end to end with CliRunner (stdout JSON, stderr errors, exit codes)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from conftest import ROOT
from productstudio.cli import app

EX = ROOT / "docs" / "examples" / "personalize"


def _run(*args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(app, list(args))
    return r.exit_code, r.stdout, r.stderr


def test_feedback_end_to_end(tmp_path: Path) -> None:
    """variants → config → choose --record → record click (+ a JSONL with a bad line) → stats
    → evaluate → simulate → report."""
    store = ["--store", str(tmp_path / "fb.sqlite")]
    code, out, err = _run(
        "feedback", "variants", str(EX / "variant_matrix.yaml"), "--product", "apple-1", *store
    )
    assert code == 0, err
    assert "dark+contact" in out
    code, out, err = _run(
        "feedback", "config", "--segments", str(EX / "segments.yaml"), "--seed", "5", *store
    )
    assert code == 0, err
    assert json.loads(out)["segments"][-1] == "everyone"
    code, out, err = _run(
        "feedback", "choose", "apple-1", "--user", "user=u1,interests=noir", "--record", *store
    )
    assert code == 0, err
    d = json.loads(out)
    assert (
        d["segment"] == "noir"
        and d["recorded"]
        and d["propensity"] == d["probabilities"][d["variant"]]
    )
    code, out, err = _run(
        "feedback", "record", "click", "--id", "c1", "--impression", d["decision_id"], *store
    )
    assert code == 0, err
    assert json.loads(out) == {"event_id": "c1", "status": "recorded", "counted": True}
    lines = [
        json.dumps(
            {
                "type": "impression",
                "event_id": "i2",
                "product": "apple-1",
                "variant": "dark+none",
                "propensity": 0.125,
                "user": {"interests": ["pastel"]},
            }
        ),
        json.dumps({"type": "click", "event_id": "c2", "impression_id": "i2"}),
        json.dumps(
            {
                "type": "impression",
                "event_id": "i3",
                "product": "apple-1",
                "variant": "neon",
                "propensity": 0.1,
            }
        ),
        json.dumps({"type": "click", "event_id": "c1", "impression_id": "i2"}),
        "{not json",
    ]
    f = tmp_path / "events.jsonl"
    f.write_text("\n".join(lines) + "\n")
    code, out, err = _run("feedback", "record", "--file", str(f), *store)
    assert code == 1
    assert json.loads(out) == {"recorded": 2, "refused": 3}
    assert "unknown variant 'neon'" in err and "already used" in err and "not JSON" in err
    code, out, err = _run("feedback", "stats", "--json", *store)
    rows = {(r["segment"], r["variant"]): r for r in json.loads(out)}
    assert (
        rows[("pastel", "dark+none")]["clicks"] == 1
        and sum(r["impressions"] for r in rows.values()) == 2
    )
    for i in range(40):
        assert (
            _run("feedback", "choose", "apple-1", "--user", f"user=x{i}", "--record", *store)[0]
            == 0
        )
    code, out, err = _run("feedback", "evaluate", "--policy", "uniform", "--boot", "100", *store)
    assert code == 0, err
    assert {e["estimator"] for e in json.loads(out)["estimates"]} == {"ips", "snips", "dr"}
    sim = tmp_path / "sim.json"
    code, out, err = _run(
        "feedback",
        "simulate",
        "-o",
        str(sim),
        "-n",
        "2000",
        "--seeds",
        "1",
        "--policy",
        "uniform",
        "--policy",
        "thompson",
    )
    assert code == 0, err
    assert json.loads(out)["summary"]["uniform"]["regret_vs_uniform"] == 1.0
    code, out, err = _run(
        "feedback", "report", "-o", str(tmp_path / "r.html"), "--simulation", str(sim), *store
    )
    assert code == 0, err
    page = (tmp_path / "r.html").read_text()
    assert "True cumulative regret" in page and "apple-1 · segment noir" in page


def test_feedback_errors_are_one_red_line(tmp_path: Path) -> None:
    """Bad input → exit 2 and a message naming the problem and the fix."""
    store = ["--store", str(tmp_path / "fb.sqlite")]
    code, _, err = _run("feedback", "choose", "nothing", *store)
    assert code == 2 and "has no variants" in err and "feedback variants" in err
    code, _, err = _run(
        "feedback", "record", "impression", "--id", "i1", "--product", "p", "--variant", "v", *store
    )
    assert code == 2 and "needs `propensity`" in err
    code, _, err = _run("feedback", "config", "--set", "epsilon=2", *store)
    assert code == 2 and "epsilon" in err
