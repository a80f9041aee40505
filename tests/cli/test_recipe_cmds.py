"""CLI: `check` (table, JSON, exit codes, --fix) and `recipe validate|show|list`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from productstudio.cli import app
from productstudio.imaging import save_image

runner = CliRunner()

RULES_ONLY = """version: 1
name: small-white
steps:
  - cutout: {model: classical}
  - canvas: {width: 600, height: 600, fill: 0.85}
  - background: {color: "#ffffff"}
  - output: {format: jpeg, quality: 92}
rules:
  background: {color: "#ffffff", source: test}
  fill: {min: 0.85, source: test}
  dimensions: {min_long: 500, source: test}
  format: {allowed: [jpeg], source: test}
  borders: {source: test}
"""


@pytest.fixture
def recipe(tmp_path: Path) -> Path:
    p = tmp_path / "small.yaml"
    p.write_text(RULES_ONLY)
    return p


def _packshot(path: Path, size: int = 600, fill: float = 0.9) -> Path:
    img = np.full((size, size, 3), 255, np.uint8)
    n = round(size * fill)
    o = (size - n) // 2
    img[o : o + n, o + 20 : o + n - 20] = (30, 60, 120)
    save_image(img, path)
    return path


def test_check_pass_exit_0(tmp_path: Path, recipe: Path) -> None:
    img = _packshot(tmp_path / "good.jpg")
    r = runner.invoke(app, ["check", str(img), "--preset", str(recipe), "--model", "classical"])
    assert r.exit_code == 0, r.output
    assert "PASS" in r.stdout and "fill" in r.stdout


def test_check_fail_exit_1_and_json(tmp_path: Path, recipe: Path) -> None:
    img = _packshot(tmp_path / "small.png", size=300, fill=0.5)
    r = runner.invoke(
        app, ["check", str(img), "--preset", str(recipe), "--model", "classical", "--json"]
    )
    assert r.exit_code == 1, r.output
    (data,) = json.loads(r.stdout)  # a list, even for one file
    status = {x["rule"]: x["status"] for x in data["results"]}
    assert (
        status["dimensions"] == "fail" and status["fill"] == "fail" and status["format"] == "fail"
    )
    assert data["verdict"] == "fail"


def test_check_json_is_a_list_for_one_or_many_files(tmp_path: Path, recipe: Path) -> None:
    """`check --json` prints one shape: a list with one report per file, in argument order."""
    good = _packshot(tmp_path / "good.jpg")
    small = _packshot(tmp_path / "small.png", size=300, fill=0.5)
    for files in ([good], [good, small]):
        r = runner.invoke(
            app, ["check", *map(str, files), "-p", str(recipe), "-m", "classical", "--json"]
        )
        data = json.loads(r.stdout)
        assert isinstance(data, list), data
        assert [d["file"] for d in data] == [str(f) for f in files]
        assert [d["verdict"] for d in data] == ["pass", "fail"][: len(files)]


def test_check_fix_writes_a_passing_image(tmp_path: Path, recipe: Path) -> None:
    img = _packshot(tmp_path / "small.png", size=300, fill=0.5)
    out = tmp_path / "fixed"
    r = runner.invoke(
        app,
        [
            "check",
            str(img),
            "-p",
            str(recipe),
            "-m",
            "classical",
            "--fix",
            "-o",
            str(out),
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    (data,) = json.loads(r.stdout)
    assert data["verdict"] == "fail" and data["fixed"]["verdict"] != "fail"
    assert (out / "small.jpg").is_file()


def test_check_fix_needs_output(tmp_path: Path, recipe: Path) -> None:
    img = _packshot(tmp_path / "a.jpg")
    r = runner.invoke(app, ["check", str(img), "-p", str(recipe), "--fix"])
    assert r.exit_code == 2


def test_check_missing_file_is_one_red_line(tmp_path: Path, recipe: Path) -> None:
    r = runner.invoke(
        app, ["check", str(tmp_path / "nope.jpg"), "-p", str(recipe), "-m", "classical"]
    )
    assert r.exit_code == 2
    assert "no such file" in r.stderr


def test_recipe_validate_ok_and_error_with_line(tmp_path: Path, recipe: Path) -> None:
    r = runner.invoke(app, ["recipe", "validate", str(recipe), "amazon-main"])
    assert r.exit_code == 0, r.output
    assert "ok" in r.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text(RULES_ONLY.replace("fill: 0.85}", "fill: 0.85, colour: red}"))
    r = runner.invoke(app, ["recipe", "validate", str(bad)])
    assert r.exit_code == 2
    assert "line 5" in r.stderr and "colour" in r.stderr


def test_recipe_show_and_list() -> None:
    r = runner.invoke(app, ["recipe", "show", "amazon-main"])
    assert r.exit_code == 0, r.output
    assert "fill: 0.85" in r.stdout and "quality: 92" in r.stdout
    r = runner.invoke(app, ["recipe", "list"])
    assert r.exit_code == 0, r.output
    for name in ("amazon-main", "walmart", "zalando", "taobao", "shadow", "cutout"):
        assert name in r.stdout
