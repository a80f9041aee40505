"""ops.cutout: refinement, speck removal, holes, decontamination, exact promises."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings

from conftest import shared_path
from productstudio.errors import InvalidParamsError
from productstudio.imaging import load_image
from productstudio.ops.cutout import (
    CutoutParams,
    Refine,
    clean_mask,
    cutout,
    estimate_foreground,
    refine_alpha,
)
from productstudio.ops.opacity import Opacity
from strategies import rgb_images


def _disc_scene(size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """A red disc on green with a 1-px anti-aliased edge, and its exact alpha."""
    yy, xx = np.mgrid[0:size, 0:size]
    d = np.hypot(yy - size / 2, xx - size / 2)
    alpha = np.clip(size / 4 - d + 0.5, 0, 1).astype(np.float32)
    fg = np.array([220, 30, 30], np.float32)
    bg = np.array([30, 200, 40], np.float32)
    img = fg * alpha[..., None] + bg * (1 - alpha[..., None])
    return np.rint(img).astype(np.uint8), alpha


def test_smoke_and_shapes() -> None:
    img, alpha = _disc_scene()
    out = cutout(img, alpha)
    assert out.shape == (64, 64, 4) and out.dtype == np.uint8


@settings(max_examples=30, deadline=None)
@given(rgb_images(min_side=4, max_side=40))
def test_opaque_pixels_keep_source_rgb(img: np.ndarray) -> None:
    """Wherever the returned alpha is 255, RGB equals the source exactly."""
    h, w = img.shape[:2]
    m = np.zeros((h, w), np.float32)
    m[h // 4 : 3 * h // 4 + 1, w // 4 : 3 * w // 4 + 1] = 1.0
    out = cutout(img, m)
    opaque = out[..., 3] == 255
    np.testing.assert_array_equal(out[..., :3][opaque], img[opaque])


def test_refine_none_keeps_the_mask_but_snaps_near_0_and_1() -> None:
    img, alpha = _disc_scene()
    got = refine_alpha(
        img, alpha, CutoutParams(opacity=Opacity.SOFT, refine=Refine.NONE, min_speck=0)
    )
    expected = np.where(alpha > 0.98, 1.0, np.where(alpha < 0.02, 0.0, alpha))
    np.testing.assert_array_equal(got, expected.astype(np.float32))


def test_guided_keeps_far_pixels_binary() -> None:
    """Outside the band the alpha is exactly 0 or 1."""
    img, alpha = _disc_scene()
    params = CutoutParams(refine=Refine.GUIDED, band=2)
    got = refine_alpha(img, (alpha > 0.5).astype(np.float32), params)
    far = np.hypot(*np.mgrid[-32:32, -32:32]) < 10
    assert (got[far] == 1.0).all()
    assert (got[:5, :5] == 0.0).all()


def test_specks_removed_holes_kept() -> None:
    """A 1-px speck far from the product goes; a ring's hole stays open."""
    m = np.zeros((80, 80), np.float32)
    yy, xx = np.mgrid[0:80, 0:80]
    d = np.hypot(yy - 40, xx - 40)
    m[(d < 25) & (d > 10)] = 1.0
    m[3, 3] = 1.0
    got = clean_mask(m)
    assert got[3, 3] == 0.0
    assert got[40, 40] == 0.0 and got[40, 20] == 1.0
    filled = clean_mask(m, CutoutParams(fill_holes_below=0.5))
    assert filled[40, 40] == 1.0


def test_decontamination_removes_background_colour() -> None:
    """Edge pixels of a red disc on green lose the green cast."""
    img, alpha = _disc_scene()
    fg = estimate_foreground(img, alpha)
    edge = (alpha > 0.2) & (alpha < 0.8)
    assert edge.any()
    green_before = img[edge][:, 1].astype(float).mean()
    green_after = fg[edge][:, 1].mean() * 255
    assert green_after < green_before - 40


def test_params_validation() -> None:
    with pytest.raises(InvalidParamsError, match="threshold"):
        CutoutParams(threshold=1.5)
    with pytest.raises(InvalidParamsError, match="band"):
        CutoutParams(band=-1)
    img, _ = _disc_scene()
    with pytest.raises(InvalidParamsError, match="resize the mask"):
        cutout(img, np.zeros((10, 10), np.float32))


def test_closed_form_refine_runs() -> None:
    """Closed-form matting (pymatting) gives a soft edge between 0 and 1."""
    pytest.importorskip("pymatting")
    img, alpha = _disc_scene(48)
    params = CutoutParams(refine=Refine.CLOSED_FORM, band=2)
    got = refine_alpha(img, (alpha > 0.5).astype(np.float32), params)
    assert got.shape == alpha.shape and got.min() >= 0.0 and got.max() <= 1.0
    assert np.abs(got - alpha).mean() < 0.05


def test_real_photo_with_ground_truth_mask() -> None:
    """On a real photo with its human mask, the cut-out keeps IoU ≥ 0.98 against that mask."""
    from productstudio.metrics.segmentation import iou

    img = load_image(
        shared_path("data", "cutout", "images", "dis_te1_bench_22653754305.jpg")
    ).pixels
    gt = load_image(shared_path("data", "cutout", "masks", "dis_te1_bench_22653754305.png")).pixels[
        ..., 0
    ]
    out = cutout(img, gt)
    assert iou(out[..., 3], gt) >= 0.98
    opaque = out[..., 3] == 255
    np.testing.assert_array_equal(out[..., :3][opaque], img[opaque])
