"""Solid product alpha: opaque interiors, hands removed or kept whole, evidence-based holes."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import shared_path
from productstudio.errors import InvalidParamsError
from productstudio.imaging import load_image
from productstudio.ops.cutout import CutoutParams, cutout, refine_alpha
from productstudio.ops.opacity import (
    HandDecision,
    Opacity,
    SolidParams,
    edge_band_px,
    skin_mask,
    soft_interior_share,
    solid_alpha,
)

SKIN = (196, 140, 112)  # a hand under shop light (Lab hue ≈ 55°)
CARTON = (40, 70, 190)


def _held_carton(size: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """A blue carton held by a skin-coloured hand that enters from the left edge; the
    segmenter's map covers both, the hand as a ghost (0.6)."""
    img = np.full((size, size, 3), (120, 125, 118), np.uint8)  # shelf grey
    img[40:160, 80:150] = CARTON
    img[50:150:6, 90:140] = (240, 240, 240)  # printed lines: packaging is textured, skin is not
    img[90:130, 0:100] = SKIN  # arm + fingers over the carton's left side
    prob = np.zeros((size, size), np.float32)
    prob[40:160, 80:150] = 0.95
    prob[90:130, 0:100] = 0.6
    return img, prob


def test_ghostly_map_becomes_solid_inside() -> None:
    """Interior pixels of a product whose map is 0.45–0.9 come out exactly 1."""
    img = np.full((64, 64, 3), 240, np.uint8)
    img[16:48, 16:48] = CARTON
    p = np.zeros((64, 64), np.float32)
    p[16:48, 16:48] = 0.45
    p[20:44, 20:44] = 0.9
    a, rep = solid_alpha(img, p)
    assert (a[18:46, 18:46] == 1.0).all()
    assert (a[:10] == 0.0).all()
    assert soft_interior_share(a) == 0.0
    assert rep.soft_before > 0.05


def test_hand_entering_from_the_edge_is_removed_whole() -> None:
    img, prob = _held_carton()
    a, rep = solid_alpha(img, prob)
    assert rep.hand is HandDecision.REMOVED
    assert (a[95:125, 0:70] == 0).all()  # the arm is gone, not a ghost
    assert (a[50:85, 100:145] == 1).all()  # the carton stays
    assert 0.0 < rep.hand_share <= 1.0


def test_hand_kept_whole_when_product_is_skin_coloured() -> None:
    """A product that itself looks like skin cannot be told apart: nothing is cut away."""
    img, prob = _held_carton()
    img[40:160, 80:150] = SKIN
    a, rep = solid_alpha(img, prob)
    assert rep.hand is HandDecision.KEPT
    assert (a[95:125, 5:95] == 1).all()  # kept completely, not half-transparent
    assert soft_interior_share(a) == 0.0


def test_remove_hands_off_keeps_the_segmenters_decision() -> None:
    img, prob = _held_carton()
    a, rep = solid_alpha(img, prob, SolidParams(remove_hands=False))
    assert rep.hand is HandDecision.NONE
    assert (a[95:125, 5:70] == 1).all()


def test_hole_showing_the_background_stays_and_ghost_hole_is_filled() -> None:
    size = 160
    img = np.full((size, size, 3), (230, 230, 225), np.uint8)
    img[20:140, 20:140] = CARTON
    img[40:70, 40:70] = (230, 230, 225)  # a real hole (handle): background colour
    img[90:120, 90:120] = (45, 75, 185)  # product colour, but a ghost in the map
    p = np.zeros((size, size), np.float32)
    p[20:140, 20:140] = 0.97
    p[40:70, 40:70] = 0.4  # half-believed, but shows the background's colour
    p[90:120, 90:120] = 0.4  # half-believed and shows the product's colour
    a, rep = solid_alpha(img, p)
    assert (a[48:62, 48:62] == 0).all()
    assert (a[98:112, 98:112] == 1).all()
    assert rep.holes > 0.0


def test_far_small_specks_go_near_fragments_stay() -> None:
    img = np.full((200, 200, 3), 200, np.uint8)
    p = np.zeros((200, 200), np.float32)
    p[50:150, 50:150] = 0.95
    p[5:9, 185:189] = 0.6  # a faint speck far away
    p[50:150, 152:154] = 0.6  # a thin soft fragment 2 px beside the body (a chair leg)
    a, rep = solid_alpha(img, p)
    assert a[7, 187] == 0.0
    assert a[100, 152] > 0.0
    assert rep.specks > 0.0


def test_soft_option_keeps_the_segmenters_alpha() -> None:
    img = np.full((64, 64, 3), 240, np.uint8)
    p = np.zeros((64, 64), np.float32)
    p[16:48, 16:48] = 0.45
    a = refine_alpha(img, p, CutoutParams(opacity=Opacity.SOFT))
    assert np.allclose(a[20:44, 20:44], 0.45)


def test_params_are_checked() -> None:
    with pytest.raises(InvalidParamsError, match="weak"):
        SolidParams(threshold=0.5, weak=0.7)
    with pytest.raises(InvalidParamsError, match="edge_px"):
        SolidParams(edge_px=-1)


def test_skin_mask_on_known_colours() -> None:
    px = np.array([[SKIN, CARTON, (250, 250, 250), (20, 20, 20)]], np.uint8)
    assert skin_mask(px).tolist() == [[True, False, False, False]]


@settings(max_examples=25, deadline=None)
@given(
    h=st.integers(24, 80),
    w=st.integers(24, 80),
    seed=st.integers(0, 10_000),
)
def test_alpha_is_binary_away_from_the_outline(h: int, w: int, seed: int) -> None:
    """For any map, alpha is exactly 0 or 1 farther than the edge band from the outline."""
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    prob = cv2.GaussianBlur(rng.random((h, w), dtype=np.float32), (0, 0), 3.0)
    prob = (prob - prob.min()) / max(float(prob.max() - prob.min()), 1e-6)
    a, rep = solid_alpha(img, prob)
    fg = (a >= 0.5).astype(np.uint8)
    r = edge_band_px((h, w)) + 1
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    far = (cv2.erode(fg, k) > 0) | (cv2.dilate(fg, k) == 0)
    assert set(np.unique(a[far]).tolist()) <= {0.0, 1.0}
    for share in (rep.hand_share, rep.specks, rep.holes, rep.changed, rep.soft_before):
        assert 0.0 <= share <= 1.0 + 1e-6


@pytest.mark.slow
def test_hand_held_photos_come_out_solid() -> None:
    """Real hand-held in-store photos with U²-Netp: no see-through interior, opaque pixels
    keep their source colour exactly."""
    from productstudio.models.segmenters import load_segmenter

    seg = load_segmenter(str(shared_path("weights", "segmentation", "u2netp.onnx")))
    folder = shared_path("data", "text", "images")
    names = ["grocery_natural_bravo_apple_juice_012", "grocery_natural_oatly_oat_milk_016"]
    for name in names:
        img = load_image(folder / f"{name}.jpg").pixels[..., :3]
        s = seg.segment(img)
        raw_share = soft_interior_share(s.mask)
        out = cutout(img, s.mask)
        assert soft_interior_share(out[..., 3]) <= 0.02 < raw_share or raw_share <= 0.02
        opaque = out[..., 3] == 255
        assert opaque.mean() > 0.05
        np.testing.assert_array_equal(out[..., :3][opaque], img[opaque])
