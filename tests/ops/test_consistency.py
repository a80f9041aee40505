"""Catalogue consistency: physical scale, per-category height, shared baseline, white balance."""

from __future__ import annotations

import numpy as np
import pytest

from productstudio.errors import InvalidParamsError
from productstudio.ops.canvas import CanvasParams, alpha_bbox
from productstudio.ops.consistency import (
    ConsistencyParams,
    apply_gains,
    layout_set,
    match_white_balance,
    target_heights,
    white_point,
)
from rgba_photos import real_rgba


def _item(h: int, w: int, size: int = 80) -> np.ndarray:
    img = np.zeros((size, size, 4), np.uint8)
    img[5 : 5 + h, 5 : 5 + w] = (120, 130, 140, 255)
    return img


PARAMS = ConsistencyParams(canvas=CanvasParams(200, 200, fill=0.8), baseline=0.9)


def test_physical_heights_keep_ratio_and_baseline() -> None:
    items = [_item(60, 20), _item(10, 30), _item(40, 40)]
    attrs = [{"height_cm": 40}, {"height_cm": 10}, {"height_cm": "20"}]
    out = layout_set(items, attrs, PARAMS)
    boxes = [alpha_bbox(o) for o in out]
    heights = [b[3] - b[1] for b in boxes]
    assert heights[0] == 160  # tallest: 0.8 x 200
    assert abs(heights[1] - 40) <= 1 and abs(heights[2] - 80) <= 1
    assert {b[3] for b in boxes} == {180}  # shared baseline at 0.9 x 200


def test_without_heights_every_item_gets_the_same_box_height() -> None:
    items = [_item(60, 20), _item(10, 8)]
    out = layout_set(items, [{"category": "mug"}, {"category": "mug"}], PARAMS)
    hs = [alpha_bbox(o)[3] - alpha_bbox(o)[1] for o in out]
    assert hs[0] == hs[1] == 160


def test_wide_item_is_capped_by_the_canvas() -> None:
    """A product whose shared scale would overflow is shrunk to the canvas width, keeps its
    aspect ratio and still stands on the baseline; the other items keep the shared scale."""
    out = layout_set([_item(5, 70), _item(60, 20)], [{"height_cm": 1}, {"height_cm": 40}], PARAMS)
    # next to a 40 cm item, 1 cm is 1/40 of 160 px: 4 px high, 56 px wide (shared scale)
    assert alpha_bbox(out[0]) == (72, 176, 128, 180)
    assert alpha_bbox(out[1]) == (73, 20, 126, 180)  # 160 px high, 53 px wide
    # as the reference (tallest) item the scale is 32x: 2240 px wide, capped to 200 x 14
    (capped,) = layout_set([_item(5, 70)], [{"height_cm": 1}], PARAMS)
    assert alpha_bbox(capped) == (0, 166, 200, 180)


def test_bad_inputs_raise() -> None:
    with pytest.raises(InvalidParamsError, match="attribute rows"):
        target_heights([_item(5, 5)], [], PARAMS)
    with pytest.raises(InvalidParamsError, match="number"):
        target_heights([_item(5, 5)], [{"height_cm": "tall"}], PARAMS)
    with pytest.raises(InvalidParamsError, match="> 0"):
        target_heights([_item(5, 5)], [{"height_cm": -3}], PARAMS)
    with pytest.raises(InvalidParamsError, match="empty alpha"):
        target_heights([np.zeros((5, 5, 4), np.uint8)], [{}], PARAMS)
    with pytest.raises(InvalidParamsError):
        ConsistencyParams(baseline=1.5)


def test_white_balance_brings_tinted_copies_together() -> None:
    """Warm- and cool-tinted copies of one photo end up with the same grey point."""
    base = real_rgba(long_side=160)
    warm = apply_gains(base, np.array([1.15, 1.0, 0.85], np.float32))
    cool = apply_gains(base, np.array([0.85, 1.0, 1.15], np.float32))

    def chroma(img: np.ndarray) -> np.ndarray:
        wp = white_point(img)
        return wp / wp.sum()

    before = np.abs(chroma(warm) - chroma(cool)).max()
    fixed = match_white_balance([warm, cool])
    after = np.abs(chroma(fixed[0]) - chroma(fixed[1])).max()
    assert after < 0.25 * before
    assert np.array_equal(fixed[0][..., 3], base[..., 3])


def test_white_balance_identity_for_one_image() -> None:
    img = real_rgba(long_side=120)
    out = match_white_balance([img])[0]
    assert np.abs(out.astype(int) - img.astype(int)).max() <= 2
    assert match_white_balance([]) == []
