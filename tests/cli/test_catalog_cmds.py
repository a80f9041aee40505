"""`run` as a catalogue tool (issue 10 fixes), `status` and `report`, through CliRunner."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from catalog_helpers import outputs, real_photos
from productstudio.cli import app
from productstudio.imaging import load_image

runner = CliRunner()
QUICK = ["--model", "classical", "--size", "240", "--executor", "serial"]


def test_every_failure_line_names_its_file(tmp_path: Path) -> None:
    """✗ lines name the file even when the error itself would not (e.g. a failed cut-out)."""
    src = tmp_path / "in"
    real_photos(src, 1)
    (src / "junk.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    blank = src / "blank.png"
    from PIL import Image

    Image.new("RGB", (64, 64), (255, 255, 255)).save(blank)  # nothing to cut out
    r = runner.invoke(app, ["run", str(src), "-o", str(tmp_path / "out"), *QUICK])
    assert r.exit_code == 1, r.output
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("✗")]
    assert len(lines) == 2
    assert any("junk.jpg" in ln for ln in lines) and any("blank.png" in ln for ln in lines)
    assert "manifest:" in r.stderr


@pytest.mark.parametrize("case", ["proc", "under-file", "read-only"])
def test_unusable_output_folder(tmp_path: Path, case: str) -> None:
    """One red line naming the folder, exit 2, no traceback, no --store mention."""
    src = tmp_path / "in"
    real_photos(src, 1)
    if case == "proc":
        target = Path("/proc/x")
    elif case == "under-file":
        (tmp_path / "f").write_text("x")
        target = tmp_path / "f" / "out"
    else:
        if os.geteuid() == 0:
            pytest.skip("root can write to read-only folders")
        target = tmp_path / "ro"
        target.mkdir()
        target.chmod(0o555)
    r = runner.invoke(app, ["run", str(src), "-o", str(target), *QUICK])
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output and "--store" not in r.stderr and "store" not in r.stderr
    assert str(target) in r.stderr and "output folder" in r.stderr
    assert r.stderr.count("error:") == 1


def test_one_photo_to_one_file(tmp_path: Path) -> None:
    """`run one.jpg -o out.jpg` writes that file, not a folder; `-o x.png` writes a PNG."""
    (photo,) = real_photos(tmp_path / "in", 1)
    for name, fmt in (("out.jpg", "JPEG"), ("cut.png", "PNG")):
        target = tmp_path / "res" / name
        r = runner.invoke(app, ["run", str(photo), "-o", str(target), *QUICK])
        assert r.exit_code == 0, r.output
        assert target.is_file() and load_image(target).format == fmt
    assert sorted(p.name for p in (tmp_path / "res").iterdir()) == ["cut.png", "out.jpg"]


def test_switching_the_model_redoes_items(tmp_path: Path, weights_dir: Path) -> None:
    """Done with classical, re-run with u2netp: every item is redone (model = name + hash)."""
    src = tmp_path / "in"
    real_photos(src, 2)
    out = tmp_path / "out"
    base = ["run", str(src), "-o", str(out), "--size", "240", "--executor", "serial"]
    r = runner.invoke(app, [*base, "--model", "classical"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, [*base, "--model", "classical"])
    assert re.search(r"skipped \(already done\)\W+2", r.stdout), r.stdout
    u2 = str(weights_dir / "segmentation" / "u2netp.onnx")
    r = runner.invoke(app, [*base, "--model", u2])
    assert re.search(r"^\W*done\W+2", r.stdout, re.M), r.output


def test_status_and_report(tmp_path: Path) -> None:
    """`status` shows the counts from the store; `report` writes one HTML file with the
    counts, the failure with its reason, thumbnails and the two plots."""
    src = tmp_path / "in"
    real_photos(src, 3)
    (src / "bad.jpg").write_bytes(b"nope")
    out = tmp_path / "out"
    runner.invoke(app, ["run", str(src), "-o", str(out), *QUICK])
    r = runner.invoke(app, ["status", str(out), "--json"])
    assert r.exit_code == 0, r.output
    st = json.loads(r.stdout)
    assert st["counts"] == {"done": 3, "failed": 1} and st["runs"][0]["state"] == "finished"
    r = runner.invoke(app, ["status", str(out)])
    assert "bad.jpg" in r.stdout and "done" in r.stdout
    page = tmp_path / "r.html"
    r = runner.invoke(app, ["report", str(out), "-o", str(page)])
    assert r.exit_code == 0, r.output
    text = page.read_text()
    assert text.count("data:image/jpeg;base64,") == 6  # 3 before/after pairs
    assert "bad.jpg" in text and "not an image" in text
    assert text.count("<svg") == 2 and "throughput over time" in text
    r = runner.invoke(app, ["status", str(tmp_path / "nothing")])
    assert r.exit_code == 2 and "no job store" in r.stderr


def test_several_presets_cli(tmp_path: Path) -> None:
    src = tmp_path / "in"
    photos = real_photos(src, 1)
    out = tmp_path / "out"
    r = runner.invoke(
        app,
        [
            "run",
            str(src),
            "-o",
            str(out),
            "--model",
            "classical",
            "--executor",
            "serial",
            "--preset",
            "etsy",
            "--preset",
            "ebay",
            "--manifest",
            "csv",
        ],
    )
    assert r.exit_code == 0, r.output
    assert sorted(outputs(out)) == [f"{photos[0].stem}/ebay.jpg", f"{photos[0].stem}/etsy.jpg"]
    assert len(list((out / "manifests").glob("*.csv"))) == 1
