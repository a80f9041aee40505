"""Where the product goes in a scene (no model): scale 1 by default, a fixed canvas on request."""

from __future__ import annotations

import numpy as np

from productstudio.models.pipelines.scene import MAX_CANVAS, SceneLayout, plan_canvas, work_size
from productstudio.ops.canvas import place


def _product(h: int, w: int) -> np.ndarray:
    p = np.zeros((h + 20, w + 20, 4), np.uint8)
    p[10 : 10 + h, 10 : 10 + w] = (30, 160, 90, 255)
    p[10 : 10 + h, 10 : 10 + w, 0] = np.arange(w, dtype=np.uint8)[None, :]  # a gradient
    return p


def test_default_layout_keeps_the_product_pixels_at_scale_one() -> None:
    prod = _product(120, 60)
    plan = plan_canvas(prod, SceneLayout(fill=0.5, aspect=1.0))
    assert plan.scale == 1.0 and plan.size == (60, 120)
    assert plan.canvas[0] >= 240 and plan.canvas[0] == plan.canvas[1]
    placed = place(prod, plan)
    x, y = plan.offset
    assert np.array_equal(placed[y : y + 120, x : x + 60], prod[10:130, 10:70])


def test_fixed_and_capped_canvases() -> None:
    plan = plan_canvas(_product(120, 60), SceneLayout(size=400, aspect=0.8))
    assert plan.canvas == (400, 500)
    big = plan_canvas(_product(3000, 200), SceneLayout(fill=0.5))
    assert max(big.canvas) <= MAX_CANVAS and big.scale < 1.0


def test_work_size_keeps_the_aspect_in_multiples_of_eight() -> None:
    assert work_size((1000, 500), 512) == (512, 256)
    w, h = work_size((333, 777), 1024)
    assert h == 1024 and w % 8 == 0 and abs(w / h - 333 / 777) < 0.02
