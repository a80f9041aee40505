"""The manifest's check verdict: each output against its recipe's rules, on the bytes the
worker wrote — the same verdict `productstudio check` gives for that file; the OCR text rule
only when asked for."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from catalog_helpers import real_photos
from productstudio.catalog import JobSpec, RunOptions, run_catalog
from productstudio.recipes import load_recipe

ORDER = {"pass": 0, "skip": 0, "warn": 1, "fail": 2}


def _recipe(folder: Path) -> Path:
    """amazon-main with a 600 px canvas (its rules unchanged: the text rule included)."""
    main = load_recipe("amazon-main").to_dict()
    main["name"] = "main-600"
    main["steps"][1]["canvas"].update(width=600, height=600)
    path = folder / "main-600.yaml"
    path.write_text(json.dumps(main))  # JSON is YAML
    return path


def _cli_check(path: str, recipe: Path) -> dict[str, Any]:
    from productstudio.cli import app

    r = CliRunner().invoke(
        app, ["check", path, "--preset", str(recipe), "--json", "--model", "classical"]
    )
    assert r.exit_code in (0, 1), r.output
    (report,) = json.loads(r.stdout)
    return dict(report)


def _manifest(summary: Any) -> list[dict[str, Any]]:
    return [json.loads(x) for x in summary.manifest.read_text().splitlines()]


def test_verdict_is_what_check_says(tmp_path: Path) -> None:
    """Default: every rule but text, no OCR (the worst status of the other rules); with
    check_text: exactly `productstudio check`'s verdict and failed rules."""
    src = tmp_path / "in"
    real_photos(src, 2, kind="grocery_iconic")
    recipe = _recipe(tmp_path)
    spec = JobSpec(model="classical", recipe=str(recipe))
    out = tmp_path / "out"
    cheap = _manifest(run_catalog(src, out, spec, RunOptions(executor="serial")))  # type: ignore[arg-type]
    full = RunOptions(executor="serial", check_text=True, overwrite=True)  # type: ignore[arg-type]
    texted = _manifest(run_catalog(src, out, spec, full))
    assert [r["status"] for r in cheap] == [r["status"] for r in texted] == ["done", "done"]
    for row, again in zip(cheap, texted, strict=True):
        assert row["sha256"] == again["sha256"]  # the same file, checked twice
        cli = _cli_check(row["output"], recipe)
        assert any(r["rule"] == "text" and r["status"] != "skip" for r in cli["results"])
        assert again["verdict"] == cli["verdict"]
        assert again["failed_rules"] == [r["rule"] for r in cli["results"] if r["status"] == "fail"]
        others = [r for r in cli["results"] if r["rule"] != "text"]
        worst = max((r["status"] for r in others), key=ORDER.__getitem__)
        assert row["verdict"] == worst
        assert row["failed_rules"] == [r["rule"] for r in others if r["status"] == "fail"]
        assert "check" in row["timings"]
    off = RunOptions(executor="serial", check=False, overwrite=True)  # type: ignore[arg-type]
    assert {r["verdict"] for r in _manifest(run_catalog(src, out, spec, off))} == {""}
    skipped = _manifest(run_catalog(src, out, spec, RunOptions(executor="serial")))  # type: ignore[arg-type]
    assert {(r["status"], r["verdict"]) for r in skipped} == {("skipped", "")}


def test_a_failing_rule_is_named(tmp_path: Path) -> None:
    """A 300 px output fails amazon-main's 500 px minimum: the verdict says fail and names
    the dimensions rule (CSV manifest: rules joined by ';')."""
    src = tmp_path / "in"
    real_photos(src, 1, kind="grocery_iconic")
    main = load_recipe("amazon-main").to_dict()
    main["steps"][1]["canvas"].update(width=300, height=300)
    path = tmp_path / "small.yaml"
    path.write_text(json.dumps(main))
    opts = RunOptions(executor="serial", manifest="csv")  # type: ignore[arg-type]
    s = run_catalog(src, tmp_path / "out", JobSpec(model="classical", recipe=str(path)), opts)
    import csv

    assert s.manifest is not None
    (row,) = csv.DictReader(s.manifest.open())
    assert row["verdict"] == "fail" and "dimensions" in row["failed_rules"].split(";")
