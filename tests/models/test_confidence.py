"""The "unsure" flag: percentages a seller can read, and shipped weights that are the ones
measured (``benchmarks/results/cutout_unsure.json`` is scored on the committed rows)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import cv2
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from productstudio.models.segmenters.base import Segmentation, mask_confidence
from productstudio.models.segmenters.confidence import (
    FEATURES,
    WEIGHTS,
    colour_overlap,
    cutout_features,
    judge_cutout,
)
from productstudio.ops.opacity import HandDecision, SolidReport

RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results"


def _percentages(texts: tuple[str, ...] | list[str]) -> list[int]:
    return [int(m) for t in texts for m in re.findall(r"(\d+)%", t)]


@settings(max_examples=40, deadline=None)
@given(
    core=st.integers(1, 30),
    halo=st.integers(0, 30),
    level=st.floats(0.25, 0.75),
)
def test_messages_never_exceed_100_percent(core: int, halo: int, level: float) -> None:
    """A tiny sure core inside a wide undecided halo (the case that printed "308 %")."""
    p = np.zeros((80, 80), np.float32)
    c = 40
    outer, inner = (
        slice(c - halo - core // 2, c + halo + core // 2 + 1),
        slice(c - core // 2, c + core // 2 + 1),
    )
    p[outer, outer] = level
    p[inner, inner] = 1.0
    conf, notes = mask_confidence(p)
    assert 0.0 <= conf <= 1.0
    img = np.full((80, 80, 3), 240, np.uint8)
    img[p > 0] = (30, 90, 160)
    j = judge_cutout(img, Segmentation(p, conf, "test", tuple(notes)), p)
    assert all(v <= 100 for v in _percentages([*notes, *j.reasons])), (notes, j.reasons)
    assert 0.0 <= j.confidence <= 1.0


def _report(hand: HandDecision, share: float, soft: float) -> SolidReport:
    return SolidReport(
        soft_before=soft, hand=hand, hand_share=share, specks=0.0, holes=0.0, changed=0.0
    )


def test_removed_hand_is_a_reason_and_counts_against_confidence() -> None:
    p = np.zeros((60, 60), np.float32)
    p[10:50, 10:50] = 1.0
    seg = Segmentation(p, 1.0, "test")
    img = np.zeros((60, 60, 3), np.uint8)
    clean = judge_cutout(img, seg, p, _report(HandDecision.NONE, 0.0, 0.0))
    handed = judge_cutout(img, seg, p, _report(HandDecision.REMOVED, 0.4, 0.3))
    assert handed.features["hand_removed"] == 0.4 and clean.features["hand_removed"] == 0.0
    if WEIGHTS["hand_removed"] > 0 or WEIGHTS["soft_before"] > 0:
        assert handed.confidence < clean.confidence
    if handed.unsure:
        assert any("hand" in r for r in handed.reasons)


def test_features_are_the_documented_ones() -> None:
    p = np.zeros((30, 30), np.float32)
    p[5:25, 5:25] = 1.0
    f = cutout_features(np.zeros((30, 30, 3), np.uint8), Segmentation(p, 0.7, "t"), p, None)
    assert tuple(f) == FEATURES
    assert set(WEIGHTS) == {"bias", *FEATURES}
    assert abs(f["backend_doubt"] - 0.3) < 1e-6 and f["undecided"] == 0.0


@settings(max_examples=30, deadline=None)
@given(
    product=st.tuples(st.integers(0, 255), st.integers(0, 255), st.integers(0, 255)),
    background=st.tuples(st.integers(0, 255), st.integers(0, 255), st.integers(0, 255)),
    share=st.floats(0.0, 1.0),
    side=st.integers(200, 700),
)
def test_colour_overlap_is_the_shared_share_of_colour(
    product: tuple[int, int, int], background: tuple[int, int, int], share: float, side: int
) -> None:
    """Closed forms of the Bhattacharyya coefficient on two flat colours: a product painted
    with ``share`` of its pixels in the background's colour overlaps by sqrt(share) (exactly 0
    for distinct colours, 1 for one colour), at any photo size (it works at 320 px)."""
    img = np.zeros((side, side, 3), np.uint8)
    img[:] = background
    a = np.zeros((side, side), np.float32)
    q = side // 4
    a[q : 3 * q, q : 3 * q] = 1.0
    img[q : 3 * q, q : 3 * q] = product
    rows = round(share * 2 * q / 16) * 16  # whole 16-px strips survive the 320-px resize
    img[q : q + rows, q : 3 * q] = background
    f = rows / (2 * q)
    lab = [
        cv2.cvtColor(np.asarray(x, np.uint8).reshape(1, 1, 3), cv2.COLOR_RGB2LAB) // 16
        for x in (product, background)
    ]
    same_bin = bool((lab[0] == lab[1]).all())
    expected = 1.0 if same_bin else float(np.sqrt(f))
    assert abs(colour_overlap(img, a) - expected) < 0.03, (expected, colour_overlap(img, a))
    assert colour_overlap(img, np.zeros_like(a)) == 1.0  # nothing cut out: nothing to trust


def test_shipped_weights_are_the_measured_ones() -> None:
    """Rescoring the committed evidence rows with ``WEIGHTS`` gives exactly the precision and
    recall that the committed results file (and docs/cutout.md) quote."""
    rows = json.loads((RESULTS / "cutout_unsure_rows.json").read_text())
    quoted = json.loads((RESULTS / "cutout_unsure.json").read_text())["results"]
    for q in (r for r in quoted if r["case"] == "cutout/unsure-vs-iou<0.90"):
        sel = [r for r in rows if q["backend"] in ("all", r["backend"])]
        x = np.array([[r[k] for k in FEATURES] for r in sel], float)
        bad = np.array([r["iou"] < 0.90 for r in sel])
        flag = WEIGHTS["bias"] + x @ np.array([WEIGHTS[k] for k in FEATURES]) > 0
        assert int(flag.sum()) == q["flagged"], q["backend"]
        assert int((flag & bad).sum()) == round(q["precision"] * q["flagged"]), q["backend"]
        assert int(bad.sum()) == q["bad"] and len(sel) == q["n"]
