"""Canvas extensions: margins, aspect, baseline, min-size policy; old behaviour unchanged."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from productstudio.errors import InvalidParamsError
from productstudio.ops.canvas import (
    Align,
    CanvasParams,
    MarginUnit,
    MinSize,
    alpha_bbox,
    layout,
    place,
    plan_layout,
)
from rgba_photos import real_rgba


def _box_img(h: int = 40, w: int = 30) -> np.ndarray:
    img = np.zeros((h, w, 4), np.uint8)
    img[10:30, 5:25] = 255
    return img


def test_defaults_unchanged_golden() -> None:
    """The documented example still gives the same box (backward compatibility)."""
    img = np.zeros((10, 10, 4), np.uint8)
    img[2:4, 2:6] = 255
    assert alpha_bbox(layout(img, CanvasParams(width=20, height=20, fill=0.2))) == (8, 9, 12, 11)
    assert alpha_bbox(layout(img, CanvasParams(20, 20, 0.2, Align.BOTTOM))) == (8, 10, 12, 12)


@settings(max_examples=40, deadline=None)
@given(st.integers(5, 60), st.integers(5, 60), st.floats(0.1, 1.0), st.sampled_from(list(Align)))
def test_layout_equals_plan_then_place(w: int, h: int, fill: float, align: Align) -> None:
    p = CanvasParams(width=w, height=h, fill=fill, align=align)
    out = layout(_box_img(), p)
    assert out.shape == (h, w, 4)
    assert np.array_equal(out, place(_box_img(), plan_layout(_box_img(), p)))


def test_margins_px_and_percent() -> None:
    p = CanvasParams(100, 100, fill=1.0, margin=(10, 20, 10, 20))
    assert alpha_bbox(layout(_box_img(), p)) == (20, 20, 80, 80)
    q = CanvasParams(200, 100, fill=1.0, margin=(10, 10, 10, 10), margin_unit=MarginUnit.PERCENT)
    x0, y0, x1, y1 = alpha_bbox(layout(_box_img(), q))
    assert (y0, y1) == (10, 90) and x0 >= 20 and x1 <= 180


def test_aspect_sets_height() -> None:
    p = CanvasParams(width=1000, height=5, aspect=1 / 1.44)
    assert p.size == (1000, 1440)
    assert layout(_box_img(), CanvasParams(width=100, aspect=0.5)).shape == (200, 100, 4)


def test_baseline_alignment() -> None:
    for src in (_box_img(), _box_img(60, 60)):
        out = layout(src, CanvasParams(100, 100, fill=0.5, align=Align.BASELINE, baseline=0.9))
        assert alpha_bbox(out)[3] == 90


def test_min_size_policy() -> None:
    small = _box_img()
    plan = plan_layout(small, CanvasParams(200, 200, min_size=MinSize.WARN))
    assert plan.upscaled and plan.warnings and "enlarged" in plan.warnings[0]
    assert not plan_layout(small, CanvasParams(200, 200)).warnings
    with pytest.raises(InvalidParamsError, match="enlarged"):
        plan_layout(small, CanvasParams(200, 200, min_size=MinSize.ERROR))
    ok = plan_layout(small, CanvasParams(20, 20, min_size=MinSize.ERROR))
    assert not ok.upscaled


def test_scale_override_is_capped_by_margins() -> None:
    plan = plan_layout(_box_img(), CanvasParams(50, 50, margin=(5, 5, 5, 5)), scale=10.0)
    assert plan.size == (40, 40)


@pytest.mark.parametrize(
    "kw",
    [
        {"margin": (-1, 0, 0, 0)},
        {"margin": (60, 0, 0, 0), "margin_unit": MarginUnit.PERCENT},
        {"margin": (1000, 0, 1000, 0)},
        {"aspect": 0.0},
        {"baseline": 0.0},
        {"upscale_tolerance": 0.5},
        {"fill": 0.0},
    ],
)
def test_bad_params_raise(kw: dict) -> None:
    with pytest.raises(InvalidParamsError):
        CanvasParams(**kw)


def test_real_product_fill_and_exactness() -> None:
    """A DIS5K product fills 85 % of a 2000 px canvas' longer side (the Amazon main job)."""
    img = real_rgba(long_side=500)
    out = layout(img, CanvasParams(2000, 2000, fill=0.85))
    x0, y0, x1, y1 = alpha_bbox(out)
    assert max(x1 - x0, y1 - y0) in (1699, 1700, 1701)
    x0, y0, x1, y1 = alpha_bbox(img, 0)
    same = layout(img, CanvasParams(x1 - x0, y1 - y0, fill=1.0, alpha_threshold=0))
    assert np.array_equal(same, img[y0:y1, x0:x1])  # scale 1: an exact copy


def test_second_object_at_the_box_edge_counts_as_product() -> None:
    """Two separate objects (a second pram, a second hanger): the smaller one reaches the
    alpha box's top and right edges, as a second object always does. With ``visible_on`` the
    layout measures both as the checker will on the placed picture, so the pair fills 85 % and
    neither touches the canvas' frame (before: the second object was taken for a mark on the
    background, the first one was scaled to 85 % and the pair was pushed off the canvas)."""
    from productstudio.ops.composite import composite
    from productstudio.ops.plain_background import difference_mask, visible_box

    img = np.zeros((300, 400, 4), np.uint8)
    img[120:300, 0:220] = (40, 90, 160, 255)  # the main product
    img[0:120, 300:400] = (160, 60, 40, 255)  # a second one, at the top right of the box
    out = composite(layout(img, CanvasParams(1000, 1000, fill=0.85, visible_on="white")), "white")
    x0, y0, x1, y1 = visible_box(out, (255, 255, 255))
    assert max(x1 - x0, y1 - y0) >= 850
    parts = difference_mask(out, (255, 255, 255))
    assert parts[:, 0].sum() == parts[:, -1].sum() == parts[0].sum() == parts[-1].sum() == 0
    assert parts[y0:y1, x0:x1].sum() == parts.sum()  # both objects inside the measured box


def test_docstring_examples() -> None:
    import doctest

    import productstudio.ops.canvas as mod

    res = doctest.testmod(mod, extraglobs={"np": np})
    assert res.failed == 0 and res.attempted > 0
