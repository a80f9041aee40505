"""`productstudio train / sample / evaluate` end to end on a few real photos."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import shared_path
from productstudio.cli import app
from productstudio.imaging import load_image

runner = CliRunner()


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = shared_path("data", "products")
    out = tmp_path_factory.mktemp("vae")
    r = runner.invoke(
        app,
        [
            "-q",
            "train",
            "vae",
            "--data",
            str(data),
            "-o",
            str(out),
            "--size",
            "16",
            "--max-steps",
            "3",
            "--batch-size",
            "8",
            "--limit",
            "200",
            "--text-encoder",
            "hashing",
            "--sample-every",
            "2",
        ],
    )
    assert r.exit_code == 0, r.output
    return out


def test_train_writes_model_logs_and_grids(trained: Path) -> None:
    assert (trained / "model.safetensors").is_file()
    assert json.loads((trained / "train_summary.json").read_text())["steps"] == 3
    assert (trained / "samples" / "step_000002.png").is_file()


def test_train_set_overrides_the_preset(tmp_path: Path) -> None:
    """--set name=value reaches the saved config; an unknown name is one error naming the known."""
    data = shared_path("data", "products")
    base = ["-q", "train", "diffusion", "--data", str(data), "--size", "16", "--limit", "40"]
    base += ["--max-steps", "1", "--batch-size", "4", "--text-encoder", "hashing"]
    r = runner.invoke(app, [*base, "-o", str(tmp_path / "d"), "--set", "snr_gamma=5"])
    assert r.exit_code == 0, r.output
    cfg = json.loads((tmp_path / "d" / "config.json").read_text())["config"]
    assert cfg["snr_gamma"] == 5
    r = runner.invoke(app, [*base, "-o", str(tmp_path / "e"), "--set", "snr_gama=5"])
    assert r.exit_code != 0 and "snr_gama" in r.output and "snr_gamma" in r.output
    assert not (tmp_path / "e" / "model.safetensors").exists()


def test_train_resume_continues(trained: Path, tmp_path: Path) -> None:
    """--resume continues the step counter from the checkpoint."""
    data = shared_path("data", "products")
    r = runner.invoke(
        app,
        [
            "-q",
            "train",
            "vae",
            "--data",
            str(data),
            "-o",
            str(trained),
            "--size",
            "16",
            "--max-steps",
            "5",
            "--batch-size",
            "8",
            "--limit",
            "200",
            "--resume",
        ],
    )
    assert r.exit_code == 0, r.output
    assert json.loads((trained / "train_summary.json").read_text())["steps"] == 5


def test_sample_writes_one_png_per_sample(trained: Path, tmp_path: Path) -> None:
    r = runner.invoke(
        app,
        [
            "sample",
            str(trained),
            "--title",
            "Nike Men Black Shoes",
            "--attr",
            "colour=Black",
            "--audience",
            "interests=noir",
            "-n",
            "3",
            "-o",
            str(tmp_path),
        ],
    )
    assert r.exit_code == 0, r.output
    files = sorted(tmp_path.glob("*.png"))
    assert [f.name for f in files] == ["sample_000.png", "sample_001.png", "sample_002.png"]
    assert load_image(files[0]).pixels.shape == (16, 16, 3)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--attr", "colour"], "name=value"),
        (["--attr", "colour=Mauve"], "Known values"),
        (["--audience", "interests=goth"], "interests"),
    ],
)
def test_sample_bad_input_is_one_red_line(
    trained: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    r = runner.invoke(app, ["sample", str(trained), "-o", str(tmp_path), *args])
    assert r.exit_code == 2
    assert message in r.stderr


def test_sample_missing_model(tmp_path: Path) -> None:
    r = runner.invoke(app, ["sample", str(tmp_path), "-o", str(tmp_path / "o")])
    assert r.exit_code == 2 and "productstudio train" in r.stderr


def test_evaluate_writes_json_and_html(trained: Path, tmp_path: Path) -> None:
    """evaluate → report.json (named feature network, baselines) + report.html."""
    data = shared_path("data", "products")
    shared_path("weights", "features", "efficientnet_lite0_imagenet.onnx")
    r = runner.invoke(
        app,
        [
            "-q",
            "evaluate",
            str(trained),
            "--data",
            str(data),
            "--limit",
            "200",
            "-n",
            "12",
            "--classifier-steps",
            "5",
            "-o",
            str(tmp_path),
        ],
    )
    assert r.exit_code == 0, r.output
    rep = json.loads((tmp_path / "report.json").read_text())
    assert rep["feature_network"] == "efficientnet_lite0_imagenet"
    assert set(rep["baselines"]) == {"baseline: class mean + noise", "baseline: random other class"}
    row = rep["models"][trained.name]
    assert np.isfinite(row["kid"]) and 0 <= row["acc_category"] <= 1 and "recon_psnr" in row
    assert 0 <= row["acc_cnn_category"] <= 1 and 0 <= rep["reference"]["acc_cnn_colour"] <= 1
    assert "KID" in r.stdout
    page = (tmp_path / "report.html").read_text()
    # table, then charts: KID, FID, 2 probe + 2 CNN accuracies, the model's training curves
    assert "<table>" in page and page.count("<svg") == 7
