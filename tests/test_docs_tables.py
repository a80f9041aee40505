"""docs/tables.py: tables quoting benchmark numbers are rendered from benchmarks/results/*.json."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tables() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_tables", ROOT / "docs" / "tables.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["docs_tables"] = mod  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture
def results(tables: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A results folder with one small file, and a table registered on it."""
    folder = tmp_path / "results"
    folder.mkdir()
    data = {
        "metadata": {
            "command": "python benchmarks/demo.py",
            "git_commit": "abc1234",
            "git_dirty": False,
            "time": "2026-12-01T10:00:00Z",
            "load_avg_before": [3.0, 2.0, 1.0],
            "load_avg_after": [4.25, 2.0, 1.0],
            "cpu_count": 2,
        },
        "results": [
            {"case": "a", "backend": "x", "psnr": 30.123},
            {"case": "b", "backend": "x", "psnr": float("nan")},
        ],
    }
    (folder / "demo.json").write_text(json.dumps(data))
    monkeypatch.setattr(tables, "RESULTS", folder)
    monkeypatch.setitem(
        tables.TABLES,
        "demo",
        tables.Entry(
            "demo",
            "demo.json",
            lambda r: tables.Table(
                ["case", "PSNR"], [[x["case"], tables.num(x["psnr"])] for x in r.results]
            ),
            True,
        ),
    )
    return folder


def test_rewrite_fills_the_markers_from_the_json(tables: ModuleType, results: Path) -> None:
    """The body between the markers becomes the table (nan as –) and a caption naming the
    file, command, commit, date and load; text outside the markers is kept as it was."""
    doc = ROOT / "docs" / "demo.md"
    text = "Intro\n<!-- table:demo -->\nstale\n<!-- /table -->\nOutro\n"
    got = tables.rewrite(text, doc)
    assert got.startswith("Intro\n<!-- table:demo -->\n| case | PSNR |\n| --- | --- |\n")
    assert "| a | 30.12 |\n| b | – |\n" in got
    assert "`python benchmarks/demo.py`, commit abc1234, 2026-12-01, load 3.0 → 4.2" in got
    assert got.endswith("<!-- /table -->\nOutro\n")
    assert tables.rewrite(got, doc) == got  # idempotent


def test_markers_in_code_fences_are_examples(tables: ModuleType, results: Path) -> None:
    """A marker shown inside a fenced code block is left alone."""
    text = "```markdown\n<!-- table:demo -->\n<!-- /table -->\n```\n"
    assert tables.rewrite(text, ROOT / "docs" / "x.md") == text


def test_unknown_table_names_the_file_and_the_fix(tables: ModuleType, results: Path) -> None:
    with pytest.raises(SystemExit, match=r"docs/x\.md uses <!-- table:nope -->.*add a @table"):
        tables.rewrite("<!-- table:nope -->\n<!-- /table -->", ROOT / "docs" / "x.md")


def test_check_fails_on_a_stale_doc_and_passes_after_rewrite(
    tables: ModuleType,
    results: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--check exits 1 with a diff when a number differs; the rewrite makes it pass."""
    doc = tmp_path / "README.md"
    doc.write_text(
        "<!-- table:demo -->\n| case | PSNR |\n| --- | --- |\n| a | 31.00 |\n<!-- /table -->\n"
    )
    monkeypatch.setattr(tables, "docs", lambda: [doc])
    assert tables.main(["--check"]) == 1
    assert "-| a | 31.00 |" in capsys.readouterr().out
    assert tables.main([]) == 0
    assert tables.main(["--check"]) == 0
    doc.write_text("<!-- table:demo -->\nno end marker\n")
    with pytest.raises(SystemExit, match="without its <!-- /table -->"):
        tables.main(["--check"])


def test_committed_docs_agree_with_committed_json(tables: ModuleType) -> None:
    """What CI's lint step runs: every quoted table equals its rendering from the JSON."""
    assert tables.main(["--check"]) == 0


def test_generator_tables_take_every_number_from_the_json(
    tables: ModuleType, tmp_path: Path
) -> None:
    """The generator tables (issue 15) read KID ×10³, accuracies, CPU minutes, targets and
    edits from the benchmark rows; models come first, baselines after, missing values as –."""

    def row(name: str, kid: float, targets: dict[str, bool] | None, **kw: object) -> dict:
        base = {"backend": name, "kid": kid, "kid_std": 0.001, "fid": 100.0}
        return (
            base
            | {"precision": 0.5, "recall": 0.25, "median_s": 0.01}
            | kw
            | {"targets_met": targets}
        )

    data = {
        "metadata": {"ldm_vs_pixel_diffusion": {"ldm vs diffusion": {"kid": True}}},
        "results": [
            row("baseline: class mean + noise", 0.3, None, median_s=float("nan")),
            row(
                "vae",
                0.1234,
                {"kid_le_0.5x_class_mean": True, "acc_colour_ge_0.6x_real": False},
                acc_colour=0.31,
                acc_cnn_colour=0.47,
                train_steps=1234,
                train_cpu_s=3600.0,
                edits={
                    "n": 300,
                    "edit_colour_probe": 0.4,
                    "edit_colour_cnn": 0.7,
                    "input_reads_as_target_probe": 0.05,
                    "input_reads_as_target_cnn": 0.06,
                    "grey_ssim": 0.654,
                    "structure_ssim": 0.9,
                },
            ),
        ],
    }
    res = tables.Results(tmp_path / "generators.json", data)

    def render(name: str) -> list[str]:
        return tables._markdown(tables.TABLES[name].render(res)).splitlines()

    main = render("generators")
    assert main[2].startswith("| CVAE, FiLM fusion | 1,234 | 60.0 | 123.4 ± 1.0 | 100.0 |")
    assert "| 0.31 / 0.47 |" in main[2] and main[2].endswith("| – | 10.0 |")
    assert main[3].startswith("| baseline: class mean + noise | – | – | 300.0 ± 1.0 |")
    assert main[3].endswith("| – |")
    assert render("generators-targets")[2] == "| CVAE, FiLM fusion | yes | **no** |"
    edits = render("generators-edits")
    assert edits[2] == "| CVAE, FiLM fusion | 300 | 0.40 / 0.70 | 0.05 / 0.06 | 0.654 | 0.900 |"
    assert render("generators-ldm-vs-pixel")[2] == "| ldm vs diffusion | kid: yes |"


def test_style_gan_table_reads_budget_and_comparison(tables: ModuleType, tmp_path: Path) -> None:
    """gen-style (issue 17): steps and CPU minutes from the model's train summary, the verdict
    from the comparison in the metadata; rows other than the two GANs are left out."""
    row = {"backend": "gan_style", "kid": 0.05, "kid_std": 0.002, "fid": 80.0}
    data = {
        "metadata": {
            "n_test": 300,
            "size": 64,
            "train_summaries": {"gan_style": {"steps": 1800, "cpu_seconds": 1800.0}},
            "comparison": {"a_lower_kid": True, "a_higher_recall": False},
        },
        "results": [
            {"backend": "vae", "kid": 0.2, "fid": 90.0},
            row | {"precision": 0.4, "recall": 0.3, "acc_category": 0.2},
        ],
    }
    t = tables.TABLES["gen-style"].render(tables.Results(tmp_path / "x.json", data))
    assert list(t.rows[0][:5]) == [
        "style GAN (StyleGAN2-like)",
        "1,800",
        "30.0",
        "50.0 ± 2.0",
        "80.0",
    ]
    assert t.rows[0][6] == "0.20 / –"
    assert len(t.rows) == 1
    assert "KID lower, recall not higher" in t.note


def test_recorded_commands_name_paths_from_the_repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    """benchmarks/common.command(): absolute paths in the repo or beside it (../models,
    ../shared) are written relative to the root, so a results file names no machine path."""
    spec = importlib.util.spec_from_file_location("bench_common", ROOT / "benchmarks" / "common.py")
    assert spec is not None and spec.loader is not None
    common = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(common)
    argv = [
        str(ROOT / "benchmarks" / "generators.py"),
        "--models-dir",
        str(ROOT.parent / "models" / "generators"),
        "--json",
        "benchmarks/results/x.json",
        "--elsewhere",
        "/etc/hosts",
    ]
    monkeypatch.setattr(sys, "argv", argv)
    assert common.command() == (
        "python benchmarks/generators.py --models-dir ../models/generators "
        "--json benchmarks/results/x.json --elsewhere /etc/hosts"
    )
