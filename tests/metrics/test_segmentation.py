"""Cut-out metrics: known cases, edge cases, properties and a real DIS5K mask."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image
from scipy import ndimage

import productstudio.metrics.segmentation as seg
from conftest import read_manifest, shared_path
from productstudio.errors import InvalidParamsError
from productstudio.metrics import (
    BoundaryScores,
    MaskScores,
    boundary_f,
    boundary_scores,
    evaluate_mask,
    gradient_error,
    iou,
    mae,
    mse,
    sad,
    summarise,
)


def square(size: int = 64, top: int = 16, left: int = 16, side: int = 32) -> np.ndarray:
    m = np.zeros((size, size), np.uint8)
    m[top : top + side, left : left + side] = 255
    return m


bool_masks = st.integers(1, 24).flatmap(
    lambda h: st.integers(1, 24).flatmap(
        lambda w: st.tuples(arrays(np.bool_, (h, w)), arrays(np.bool_, (h, w)))
    )
)


def test_doctests() -> None:
    """The docstring examples run and hold."""
    result = doctest.testmod(seg, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 5
    assert result.failed == 0


# --- IoU -------------------------------------------------------------------------------------


def test_iou_identical_disjoint_half() -> None:
    """IoU is 1 for identical, 0 for disjoint and 1/3 for half-overlapping equal squares."""
    a = square(left=0, side=32)
    assert iou(a, a) == 1.0
    disjoint = np.zeros_like(a)
    disjoint[:, 40:] = 255
    assert iou(a, disjoint) == 0.0
    half = square(left=16, side=32)  # same rows, shifted by half its width
    assert iou(a, half) == pytest.approx(1 / 3)


def test_iou_both_empty_is_one_and_one_empty_is_zero() -> None:
    """Empty vs empty agrees perfectly; empty vs something scores 0."""
    z = np.zeros((8, 8), np.uint8)
    assert iou(z, z) == 1.0
    assert iou(z, square(8, 2, 2, 4)) == 0.0


def test_iou_threshold_matches_uint8_128() -> None:
    """The default threshold keeps uint8 values >= 128 (the shared README's GT rule)."""
    gt = np.array([[127, 128, 255, 0]], np.uint8)
    pred = np.array([[0, 255, 255, 0]], np.uint8)
    assert iou(pred, gt) == 1.0
    assert iou(pred, gt, threshold=0.6) == 0.5  # 128/255 < 0.6: only the 255 pixel stays


def test_dtypes_agree() -> None:
    """uint8, uint16, bool and float forms of the same mask score the same."""
    a, b = square(), square(left=20)
    forms = [
        lambda m: m,
        lambda m: m.astype(np.uint16) * 257,
        lambda m: m > 127,
        lambda m: m.astype(np.float32) / 255,
    ]
    values = {round(iou(f(a), f(b)), 12) for f in forms}
    assert len(values) == 1
    assert sad(a, b) == sad(a > 127, b.astype(np.float64) / 255)


def test_rgba_prediction_uses_alpha() -> None:
    """An RGBA cut-out is scored by its alpha channel."""
    gt = square()
    rgba = np.zeros((*gt.shape, 4), np.uint8)
    rgba[..., 3] = gt
    rgba[..., :3] = 200  # colour must not matter
    assert iou(rgba, gt) == 1.0


@pytest.mark.parametrize(
    ("pred", "gt", "match"),
    [
        (np.zeros((4, 4), np.uint8), np.zeros((4, 5), np.uint8), "resize"),
        (np.full((4, 4), 2.0), np.zeros((4, 4)), r"\[0, 1\]"),
        (np.full((4, 4), np.nan), np.zeros((4, 4)), "NaN"),
        (np.zeros((4, 4), np.int64), np.zeros((4, 4), np.uint8), "dtype"),
        (np.zeros((0, 4), np.uint8), np.zeros((0, 4), np.uint8), "non-empty"),
        (np.zeros(4, np.uint8), np.zeros(4, np.uint8), r"\(H, W\)"),
        ([[0, 1]], np.zeros((1, 2), np.uint8), "numpy array"),
    ],
)
def test_bad_inputs_raise_typed_error(pred: object, gt: np.ndarray, match: str) -> None:
    """Wrong size, range, dtype or rank raises InvalidParamsError naming the problem."""
    for fn in (iou, boundary_f, sad, mse, mae, gradient_error, evaluate_mask):
        with pytest.raises(InvalidParamsError, match=match):
            fn(pred, gt)  # type: ignore[operator]


@pytest.mark.parametrize("threshold", [0.0, -0.1, 1.5, math.nan])
def test_bad_threshold(threshold: float) -> None:
    """A threshold outside (0, 1] is rejected."""
    with pytest.raises(InvalidParamsError, match="threshold"):
        iou(square(), square(), threshold=threshold)


@pytest.mark.parametrize("tol", [-1, math.nan, math.inf])
def test_bad_tolerance(tol: float) -> None:
    """A negative or non-finite tolerance is rejected."""
    with pytest.raises(InvalidParamsError, match="tolerance_px"):
        boundary_f(square(), square(), tolerance_px=tol)


# --- boundary F ------------------------------------------------------------------------------


def test_boundary_f_shift_within_tolerance_is_one() -> None:
    """A 1 px shift in any direction is fully matched at a 3 px tolerance."""
    gt = square()
    for axis in (0, 1):
        for shift in (-1, 1):
            assert boundary_f(np.roll(gt, shift, axis=axis), gt, tolerance_px=3) == 1.0


def test_boundary_f_large_shift_is_low() -> None:
    """A 10 px shift of a 32 px square leaves only parts of two edges matched."""
    gt = square()
    s = boundary_scores(np.roll(gt, 10, axis=1), gt, tolerance_px=3)
    # Of the 124 ring pixels of the shifted square, 2 x 25 on the top/bottom rows (the 22
    # overlapping columns + 3 of tolerance) and 2 x 3 on its left column near the GT's corners
    # lie within 3 px of the GT ring: 56 / 124.
    assert s.f == pytest.approx(56 / 124)
    assert s.f < 0.5
    assert s.precision == pytest.approx(s.recall)  # same shape, same boundary length


def test_boundary_f_zero_tolerance_exact() -> None:
    """With tolerance 0 only exactly coinciding boundary pixels count."""
    gt = square()
    assert boundary_f(gt, gt, tolerance_px=0) == 1.0
    assert boundary_f(np.roll(gt, 1, axis=1), gt, tolerance_px=0) < 1.0


def test_boundary_f_exact_tolerance_edge() -> None:
    """A shift of exactly the tolerance is a hit; one pixel more is not (no float slack leak)."""
    gt = square()
    assert boundary_f(np.roll(gt, 3, axis=1), gt, tolerance_px=3) == 1.0
    assert boundary_f(np.roll(gt, 4, axis=1), gt, tolerance_px=3) < 1.0


def test_boundary_of_full_frame_object_is_empty() -> None:
    """The image frame is not a boundary: two full masks agree, full vs empty scores 0."""
    full = np.full((10, 10), 255, np.uint8)
    empty = np.zeros_like(full)
    assert boundary_scores(full, full) == BoundaryScores(1.0, 1.0, 1.0)
    assert boundary_scores(empty, empty) == BoundaryScores(1.0, 1.0, 1.0)
    assert boundary_scores(square(10, 2, 2, 4), empty) == BoundaryScores(0.0, 0.0, 0.0)


def test_boundary_pixels_are_inner_contour() -> None:
    """The boundary of a filled square is its 1 px inner ring."""
    b = seg._boundary(square(10, 2, 2, 5) > 0)
    assert int(b.sum()) == 16  # 4*5 - 4 corners counted once
    assert not b[4, 4]
    assert b[2, 2] and b[6, 6]


def _brute_force_boundary(p: np.ndarray, g: np.ndarray, tol: float) -> tuple[float, float]:
    bp, bg = np.argwhere(seg._boundary(p)), np.argwhere(seg._boundary(g))
    d = np.sqrt(((bp[:, None, :] - bg[None, :, :]) ** 2).sum(-1))
    return float((d.min(axis=1) <= tol).mean()), float((d.min(axis=0) <= tol).mean())


@settings(max_examples=60, deadline=None)
@given(bool_masks, st.sampled_from([0, 1, 1.5, 2, 3, 5]))
def test_boundary_matches_brute_force(pair: tuple[np.ndarray, np.ndarray], tol: float) -> None:
    """Precision/recall equal an all-pairs distance computation (checks crop + transform)."""
    p, g = pair
    s = boundary_scores(p, g, tolerance_px=tol)
    if seg._boundary(p).any() and seg._boundary(g).any():
        prec, rec = _brute_force_boundary(p, g, tol)
        assert s.precision == pytest.approx(prec)
        assert s.recall == pytest.approx(rec)


# --- SAD / MSE / MAE / gradient --------------------------------------------------------------


def test_sad_mse_mae_known_difference() -> None:
    """A 20x10 block off by 0.5 gives SAD 0.1 (thousands), MAE and MSE by hand."""
    gt = np.zeros((100, 100), np.float32)
    pred = gt.copy()
    pred[:20, :10] = 0.5
    assert sad(pred, gt) == pytest.approx(200 * 0.5 / 1000)
    assert mae(pred, gt) == pytest.approx(100 / 10_000)
    assert mse(pred, gt) == pytest.approx(200 * 0.25 / 10_000)


def test_sad_uses_soft_values() -> None:
    """SAD uses uint8 alpha as value/255, not a binarised mask."""
    gt = np.zeros((10, 10), np.uint8)
    pred = gt.copy()
    pred[0, :] = 51  # 0.2 each
    assert sad(pred, gt) == pytest.approx(10 * 0.2 / 1000)
    assert iou(pred, gt) == 1.0  # both empty after thresholding


def test_gradient_error_sees_blur_but_not_identity() -> None:
    """Blurring the edge raises the gradient error; identity gives exactly 0."""
    gt = square().astype(np.float32) / 255
    assert gradient_error(gt, gt) == 0.0
    soft = ndimage.gaussian_filter(gt, 1.0)
    softer = ndimage.gaussian_filter(gt, 3.0)
    assert 0 < gradient_error(soft, gt) < gradient_error(softer, gt)


# --- evaluate / summarise --------------------------------------------------------------------


def test_evaluate_mask_matches_single_metrics() -> None:
    """evaluate_mask returns the same numbers as the individual functions."""
    gt = square()
    pred = ndimage.gaussian_filter(np.roll(gt, 2, axis=0).astype(np.float32) / 255, 1.0)
    s = evaluate_mask(pred, gt)
    b = boundary_scores(pred, gt)
    assert s == MaskScores(
        iou=iou(pred, gt),
        boundary_f=b.f,
        boundary_precision=b.precision,
        boundary_recall=b.recall,
        sad=pytest.approx(sad(pred, gt)),  # type: ignore[arg-type]
        mae=pytest.approx(mae(pred, gt)),  # type: ignore[arg-type]
        mse=pytest.approx(mse(pred, gt)),  # type: ignore[arg-type]
        gradient_error=pytest.approx(gradient_error(pred, gt)),  # type: ignore[arg-type]
    )
    assert evaluate_mask(pred, gt, gradient=False).gradient_error is None
    assert set(s.as_dict()) == {
        "iou",
        "boundary_f",
        "boundary_precision",
        "boundary_recall",
        "sad",
        "mae",
        "mse",
        "gradient_error",
    }


def test_mask_scores_frozen() -> None:
    """MaskScores cannot be modified."""
    s = evaluate_mask(square(), square())
    with pytest.raises(AttributeError):
        s.iou = 0.0  # type: ignore[misc]


def test_summarise_mean_median_and_missing_gradient() -> None:
    """summarise gives mean/median/min/max per metric and skips None values."""
    gt = square()
    scores = [
        evaluate_mask(gt, gt),
        evaluate_mask(np.roll(gt, 10, axis=1), gt),
        evaluate_mask(np.zeros_like(gt), gt, gradient=False),
    ]
    s = summarise(scores)
    ious = [x.iou for x in scores]
    assert s["iou"]["mean"] == pytest.approx(sum(ious) / 3)
    assert s["iou"]["median"] == sorted(ious)[1]
    assert s["iou"]["min"] == 0.0 and s["iou"]["max"] == 1.0
    assert s["gradient_error"]["n"] == 2
    assert s["iou"]["n"] == 3
    with pytest.raises(InvalidParamsError):
        summarise([])


# --- properties ------------------------------------------------------------------------------


@settings(max_examples=80, deadline=None)
@given(bool_masks)
def test_properties_symmetry_range_identity(pair: tuple[np.ndarray, np.ndarray]) -> None:
    """IoU and boundary-F are symmetric and in [0, 1]; every score of (x, x) is perfect."""
    a, b = pair
    assert iou(a, b) == iou(b, a)
    assert 0.0 <= iou(a, b) <= 1.0
    assert boundary_f(a, b) == pytest.approx(boundary_f(b, a))
    sab, sba = boundary_scores(a, b), boundary_scores(b, a)
    assert (sab.precision, sab.recall) == (sba.recall, sba.precision)
    assert 0.0 <= sab.f <= 1.0
    assert iou(a, a) == 1.0
    assert evaluate_mask(a, a) == MaskScores(1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0)
    assert sad(a, b) == sad(b, a) >= 0.0


@settings(max_examples=40, deadline=None)
@given(
    st.integers(2, 20).flatmap(
        lambda n: st.tuples(
            arrays(np.float32, (n, n), elements=st.floats(0, 1, width=32)),
            arrays(np.float32, (n, n), elements=st.floats(0, 1, width=32)),
        )
    )
)
def test_soft_metrics_ranges(pair: tuple[np.ndarray, np.ndarray]) -> None:
    """MAE and MSE are in [0, 1], MSE <= MAE, SAD*1000 = MAE*N."""
    a, b = pair
    assert 0.0 <= mse(a, b) <= mae(a, b) <= 1.0
    assert sad(a, b) * 1000 == pytest.approx(mae(a, b) * a.size, rel=1e-9, abs=1e-9)


# --- a real DIS5K ground-truth mask ----------------------------------------------------------


@pytest.fixture(scope="module")
def real_gt() -> np.ndarray:
    rows = read_manifest("data", "cutout", "manifest.csv")
    # A large solid product (bench, few thin parts); fall back to the first product-like item.
    wanted = [r for r in rows if r["name"] == "dis_te1_bench_22653754305"]
    row = wanted[0] if wanted else next(r for r in rows if r["product_like"] == "1")
    path = shared_path("data", "cutout", "masks", f"{row['name']}.png")
    with Image.open(path) as im:
        return np.asarray(im.convert("L"))


def test_real_gt_eroded_by_3px(real_gt: np.ndarray) -> None:
    """The GT against itself eroded by 3 px: IoU in (0.8, 1), boundary-F at 3 px near 1."""
    binary = real_gt >= 128
    eroded = ndimage.binary_erosion(binary, iterations=3, border_value=1)
    s = evaluate_mask(eroded, real_gt)
    assert 0.8 < s.iou < 1.0
    assert s.boundary_f > 0.95  # every eroded edge is within 3 px of the original one
    assert boundary_f(eroded, real_gt, tolerance_px=1) < s.boundary_f
    assert s.sad > 0 and s.mse > 0
    assert evaluate_mask(real_gt, real_gt).sad == 0.0


def test_real_gt_worse_prediction_scores_worse(real_gt: np.ndarray) -> None:
    """A 25 px shift of the real GT scores worse than a 3 px erosion on every metric."""
    binary = real_gt >= 128
    eroded = evaluate_mask(ndimage.binary_erosion(binary, iterations=3, border_value=1), real_gt)
    shifted = evaluate_mask(np.roll(real_gt, 25, axis=1), real_gt)
    assert shifted.iou < eroded.iou
    assert shifted.boundary_f < eroded.boundary_f
    assert shifted.sad > eroded.sad
    assert shifted.gradient_error is not None and eroded.gradient_error is not None
    assert shifted.gradient_error > eroded.gradient_error
