"""`run`'s output passes `check` of the same preset, and `check --fix` never makes a rule worse.

Both sides measure the product box with one definition (``ops.plain_background.visible_box``):
the canvas lays the product out by what shows on the background, the checker measures the same.
"""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import shared_path
from productstudio.catalog.worker import JobSpec, MainImageWorker, Task
from productstudio.imaging import ImageFormat, load_image, save_image
from productstudio.recipes import check_file, load_recipe
from productstudio.recipes.compliance import Status
from productstudio.recipes.compliance.fix import FixMethod, fix_image, worse_rules


def _text_photos(kind: str) -> list[Path]:
    folder = shared_path("data", "text")
    rows = csv.DictReader((folder / "manifest.csv").open())
    return [folder / r["file"] for r in rows if kind in r["photo_kind"]]


def _main_images(paths: list[Path], model: str, out: Path) -> list[Path]:
    worker = MainImageWorker(JobSpec(model=model))
    made = []
    for i, p in enumerate(paths):
        res = worker(Task(str(i), p, out / f"{p.stem}.jpg"))
        assert res.output is not None, res.message
        made.append(res.output)
    return made


def _no_failed_geometry(path: Path) -> None:
    """Every rule but the text rule (covered by the slow test) passes or only warns, and the
    fill rule passes outright."""
    rules = load_recipe("amazon-main").rules
    rep = check_file(path, rules, text_detector=None, preset="amazon-main")
    failed = [(r.rule, r.measured) for r in rep.results if r.status is Status.FAIL]
    assert not failed, (path.name, failed)
    assert rep.get("fill").status is Status.PASS, (path.name, rep.get("fill").measured)


def test_classical_packshots_pass_their_own_check(tmp_path: Path) -> None:
    """No weights needed: the built-in segmenter on retailer packshots (plain backgrounds)."""
    photos = [p for p in _text_photos("packshot") if p.exists()][:6]
    if not photos:
        pytest.skip("no packshots in ../shared/data/text")
    for out in _main_images(photos, "classical", tmp_path):
        _no_failed_geometry(out)


@pytest.mark.slow
def test_u2netp_outputs_pass_their_own_check_text_rule_included(tmp_path: Path) -> None:
    """With a model: hand-held in-store photos and packshots, the full check (OCR included)."""
    model = str(shared_path("weights", "segmentation", "u2netp.onnx"))
    photos = _text_photos("hand-held")[:4] + _text_photos("packshot")[:2]
    rules = load_recipe("amazon-main").rules
    for out in _main_images(photos, model, tmp_path):
        rep = check_file(out, rules, preset="amazon-main")
        failed = [(r.rule, r.measured) for r in rep.results if r.status is Status.FAIL]
        assert not failed, (out.name, failed)


def _degrade(path: Path, dest: Path) -> None:
    """A main image gone wrong: the product shrunk to ~60 % of the frame, grey specks on the
    background and a faint grey corner — fill and background both fail."""
    px = load_image(path).pixels[..., :3]
    h, w = px.shape[:2]
    small = cv2.resize(px, (int(w * 0.7), int(h * 0.7)), interpolation=cv2.INTER_AREA)
    canvas = np.full_like(px, 255)
    y0, x0 = (h - small.shape[0]) // 2, (w - small.shape[1]) // 2
    canvas[y0 : y0 + small.shape[0], x0 : x0 + small.shape[1]] = small
    canvas[20:60, 20:60] = 200
    canvas[h - 90 : h - 40, w - 90 : w - 40] = 140
    save_image(canvas, dest, fmt=ImageFormat.JPEG, quality=92)


def test_check_fix_never_makes_a_rule_worse(tmp_path: Path) -> None:
    photos = [p for p in _text_photos("packshot") if p.exists()][:3]
    if not photos:
        pytest.skip("no packshots in ../shared/data/text")
    recipe = load_recipe("amazon-main")
    for made in _main_images(photos, "classical", tmp_path):
        bad = tmp_path / f"bad_{made.name}"
        _degrade(made, bad)
        before = check_file(bad, recipe.rules, text_detector=None, preset=recipe.name)
        assert before.get("fill").status is Status.FAIL
        fixed = fix_image(bad, recipe, before)
        assert fixed.method is FixMethod.PLAIN_BACKGROUND
        assert worse_rules(before, fixed.after) == ()
        assert fixed.data is not None
        assert fixed.after.get("fill").status is Status.PASS, fixed.after.get("fill").measured
        # the specks are gone; faint near-white product parts may still earn a warning
        assert fixed.after.get("background").status is not Status.FAIL
        # the product's own pixels are kept: the fix re-lays out, it does not re-cut
        out = load_image(fixed.data).pixels[..., :3]
        assert out.shape == load_image(made).pixels[..., :3].shape


def test_a_fix_that_would_make_a_rule_worse_is_refused(tmp_path: Path) -> None:
    """When the recipe's result is worse on some rule, nothing is written."""
    photos = [p for p in _text_photos("packshot") if p.exists()][:1]
    if not photos:
        pytest.skip("no packshots in ../shared/data/text")
    recipe = load_recipe("amazon-main")
    made = _main_images(photos, "classical", tmp_path)[0]
    before = check_file(made, recipe.rules, text_detector=None, preset=recipe.name)
    assert not before.failed
    # a recipe whose canvas is too small for the dimensions rule makes that rule worse
    small = recipe.with_params({"canvas": {"width": 300, "height": 300}})
    fixed = fix_image(made, small, before)
    assert "dimensions" in fixed.worse
    assert fixed.data is None
