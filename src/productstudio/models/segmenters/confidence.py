"""Is this cut-out good? A calibrated "unsure" flag for sellers.

:func:`judge_cutout` turns what the segmenter and the solid-alpha decision saw into the
probability that the cut-out is good (IoU ≥ 0.90 against a human mask) with a logistic model
fitted on photos with ground truth: the DIS5K product photos and the plain-background
composites made from them, for every backend (``benchmarks/cutout_unsure.py`` refits it and
writes ``benchmarks/results/cutout_unsure.json`` with the cross-validated precision and recall
of "unsure"). A cut-out is *unsure* below :data:`UNSURE_BELOW`; the reasons are written for a
seller, with percentages of the product area (never above 100 %).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from productstudio.imaging.types import Image, Mask, to_uint8
from productstudio.models.segmenters.base import UNSURE_BELOW, Segmentation
from productstudio.ops.opacity import HandDecision, SolidReport

FEATURES = (
    "backend_doubt",  # 1 - the backend's own confidence (plainness, emptiness, …)
    "soft_before",  # soft-interior share of the segmenter's map (ghostly map)
    "undecided",  # share of the candidate area with probability 0.2–0.8
    "hand_removed",  # share of the product area removed as a hand
    "hand_kept",  # 1 when a hand could not be told apart and was kept
    "changed",  # share of pixels the solid decision moved across the threshold
    "edge_touch",  # share of the photo's border covered by the product
    "pieces",  # log2 of the number of separate parts of the product
    "small",  # 1 when the product covers less than 2 % of the photo
    "colour_overlap",  # how much the product's colours are also the background's (0..1)
    "classical",  # 1 for the built-in segmenter (its failures look different)
    "high_res",  # 1 for a learned model working at 1024 px (IS-Net, BiRefNet)
)

# Logistic model of P(bad cut-out) = sigmoid(bias + Σ w·feature), fitted by
# ``python benchmarks/cutout_unsure.py --collect --fit`` on 537 cut-outs (classical, u2netp, IS-Net
# on the 59 DIS5K photos and 120 studio composites; object-grouped 5-fold cross-validation:
# precision 0.873, recall 0.816 for IoU < 0.90; without colour_overlap 0.815 / 0.724). No photo
# with ground truth shows a hand, so the fit gives the hand features no weight: a removed hand is
# reported as a reason, not guessed into the score.
WEIGHTS: dict[str, float] = {
    "bias": -2.351,
    "backend_doubt": 2.926,
    "soft_before": 0.594,
    "undecided": 2.963,
    "hand_removed": 0.0,
    "hand_kept": 0.0,
    "changed": 0.427,
    "edge_touch": -0.501,
    "pieces": 0.216,
    "small": 0.557,
    "colour_overlap": 5.084,
    "classical": 0.094,
    "high_res": -3.693,
}


@dataclass(frozen=True, slots=True)
class CutoutJudgement:
    """How far to trust a cut-out.

    Attributes:
        confidence: estimated probability (0..1) that the cut-out is good.
        unsure: ``confidence`` is below :data:`UNSURE_BELOW`: show it to a person.
        reasons: why, in words a seller understands (empty when sure).
        features: the evidence, by name (see :data:`FEATURES`).
    """

    confidence: float
    unsure: bool
    reasons: tuple[str, ...]
    features: dict[str, float]


def backend_features(backend: str) -> dict[str, float]:
    """Which kind of segmenter answered: the built-in one, or a 1024-px learned model (a
    320-px model is neither); the same evidence means different things for each.

    Example:
        >>> backend_features("isnet-general-use"), backend_features("u2netp")
        ({'classical': 0.0, 'high_res': 1.0}, {'classical': 0.0, 'high_res': 0.0})
    """
    from productstudio.models.segmenters.onnx import ONNX_MODELS

    size = next((m.size for m in ONNX_MODELS if m.name == backend), 0)
    return {"classical": float(backend == "classical"), "high_res": float(size >= 1024)}


#: long side (px) at which :func:`colour_overlap` compares colours
OVERLAP_SIZE = 320
#: overlap above which it is given as a reason (good cut-outs: 75 % of them below 0.2–0.4)
OVERLAP_REASON = 0.4
#: CIELAB levels per channel of :func:`colour_overlap`'s histograms (16³ bins)
OVERLAP_LEVELS = 16


def colour_overlap(image: Image, alpha: Mask) -> float:
    """How much the product's colours are also the background's: the Bhattacharyya
    coefficient of the two CIELAB histograms (16 levels per channel) at 320 px, 0 (no colour
    shared) … 1 (the same colours). A product that looks like its surroundings is where
    segmenters go wrong; this feature lifted the cross-validated recall of "unsure" from 0.71
    to 0.82 (``benchmarks/cutout_unsure.py``).

    Example:
        >>> img = np.zeros((40, 40, 3), np.uint8); img[10:30, 10:30] = (200, 30, 30)
        >>> a = np.zeros((40, 40), np.float32); a[10:30, 10:30] = 1.0
        >>> colour_overlap(img, a), colour_overlap(np.zeros_like(img), a)
        (0.0, 1.0)
    """
    rgb: np.ndarray = np.ascontiguousarray(to_uint8(image)[..., :3])
    a: np.ndarray = np.asarray(alpha, np.float32)
    h, w = a.shape
    scale = OVERLAP_SIZE / max(h, w)
    if scale < 1:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        a = cv2.resize(a, size, interpolation=cv2.INTER_AREA)
    fg = a > 0.5
    if fg.all() or not fg.any():
        return 1.0
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).astype(np.int32) * OVERLAP_LEVELS // 256
    q = (lab[..., 0] * OVERLAP_LEVELS + lab[..., 1]) * OVERLAP_LEVELS + lab[..., 2]
    n = OVERLAP_LEVELS**3
    hf = np.bincount(q[fg], minlength=n) / float(fg.sum())
    hb = np.bincount(q[~fg], minlength=n) / float((~fg).sum())
    return float(min(1.0, np.sqrt(hf * hb).sum()))


def cutout_features(
    image: Image, seg: Segmentation, alpha: Mask, report: SolidReport | None
) -> dict[str, float]:
    """The evidence :func:`judge_cutout` weighs (each in [0, 1] or a small count)."""
    prob = seg.mask
    cand = prob > 0.2
    cand_area = max(1.0, float(cand.sum()))
    undecided = float(((prob > 0.2) & (prob < 0.8)).sum()) / cand_area
    fg = alpha >= 0.5
    area = float(fg.sum())
    edge = np.concatenate([fg[0], fg[-1], fg[:, 0], fg[:, -1]])
    n = cv2.connectedComponents(fg.astype(np.uint8), connectivity=8)[0] - 1 if area else 0
    removed = report is not None and report.hand is HandDecision.REMOVED
    return {
        "backend_doubt": 1.0 - float(seg.confidence),
        "soft_before": report.soft_before if report else 0.0,
        "undecided": min(1.0, undecided),
        "hand_removed": report.hand_share if report is not None and removed else 0.0,
        "hand_kept": 1.0 if report and report.hand is HandDecision.KEPT else 0.0,
        "changed": report.changed if report else 0.0,
        "edge_touch": float(edge.mean()) if area else 0.0,
        "pieces": math.log2(max(1, n)),
        "small": 1.0 if area < 0.02 * fg.size else 0.0,
        "colour_overlap": colour_overlap(image, alpha),
        **backend_features(seg.backend),
    }


def _reasons(seg: Segmentation, f: dict[str, float]) -> list[str]:
    out = list(seg.notes)  # the backend's own (ambiguity, plainness, emptiness …)
    if f["hand_kept"]:
        out.append("a hand holding the product could not be told apart and was kept")
    elif f["hand_removed"] > 0:
        out.append(
            f"a hand holding the product was removed ({min(1.0, f['hand_removed']):.0%} of the "
            "area); check the edge where it held the product"
        )
    if f["edge_touch"] > 0.1:
        out.append(f"the product touches {min(1.0, f['edge_touch']):.0%} of the photo's edge")
    if f["small"]:
        out.append("the product is very small in the photo")
    if f["colour_overlap"] > OVERLAP_REASON:
        out.append(
            f"the product's colours are also the background's ({f['colour_overlap']:.0%} "
            "overlap); check that the outline follows the product"
        )
    return out


def judge_cutout(
    image: Image, seg: Segmentation, alpha: Mask, report: SolidReport | None = None
) -> CutoutJudgement:
    """Calibrated confidence that a cut-out is good, with reasons.

    Args:
        image: the photo that was cut out.
        seg: the segmenter's answer (its map, confidence and notes).
        alpha: the final alpha of the cut-out (float (H, W) in [0, 1]).
        report: what the solid-alpha decision did (None for a soft cut-out).

    Example:
        >>> p = np.zeros((40, 40), np.float32); p[10:30, 10:30] = 1.0
        >>> img = np.zeros((40, 40, 3), np.uint8); img[10:30, 10:30] = 200
        >>> j = judge_cutout(img, Segmentation(p, 1.0, "test"), p)
        >>> j.unsure, j.reasons
        (False, ())
    """
    f = cutout_features(image, seg, alpha, report)
    z = WEIGHTS["bias"] + sum(WEIGHTS[k] * v for k, v in f.items())
    p_bad = 1.0 / (1.0 + math.exp(-z))
    conf = 1.0 - p_bad
    unsure = conf < UNSURE_BELOW
    reasons = tuple(_reasons(seg, f)) if unsure else ()
    if unsure and not reasons:
        reasons = ("the cut-out looks unusual for this segmenter; please check it",)
    return CutoutJudgement(conf, unsure, reasons, f)


__all__ = [
    "FEATURES",
    "WEIGHTS",
    "CutoutJudgement",
    "backend_features",
    "colour_overlap",
    "cutout_features",
    "judge_cutout",
]
