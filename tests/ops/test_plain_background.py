"""ops/plain_background: the border colour and the product as what differs from it."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from productstudio.ops.plain_background import (
    border_is,
    deviation_from,
    difference_mask,
    plain_border_color,
    visible_box,
    visible_mask,
)


def _scene() -> np.ndarray:
    img = np.full((100, 120, 3), 250, np.uint8)
    img[20:80, 30:90] = (30, 60, 160)  # the product
    img[50:52, 5:7] = 0  # a 4 px speck
    img[0:10, 110:120] = 90  # a patch touching the frame
    img[85:95, 40:60] = (200, 30, 30)  # a small sticker: 200 px, 5.6 % of the product
    return img


def test_difference_mask_keeps_the_product_drops_specks_and_frame_patches() -> None:
    m = difference_mask(_scene(), (250, 250, 250))
    assert m[20:80, 30:90].all() and int(m[:, :10].sum()) == 0 and not m[0:10, 110:120].any()
    assert m[85:95, 40:60].all()  # 1 % of the largest part is enough to stay
    strict = difference_mask(_scene(), (250, 250, 250), min_part=0.1)
    assert strict[20:80, 30:90].all() and not strict[85:95, 40:60].any()
    assert int(strict.sum()) == 60 * 60


def test_border_colour_only_when_plain() -> None:
    img = _scene()
    assert plain_border_color(img) == (250, 250, 250)
    assert border_is(img, (255, 255, 255), tolerance=8) and not border_is(img, (255, 255, 255), 2)
    noisy = np.random.default_rng(0).integers(0, 256, (60, 60, 3), dtype=np.uint8)
    assert plain_border_color(noisy) is None


@settings(max_examples=30, deadline=None)
@given(
    soft=st.integers(0, 255),
    noise=st.integers(0, 12),
    seed=st.integers(0, 2**16),
)
def test_visible_mask_reuses_a_given_difference_mask_exactly(
    soft: int, noise: int, seed: int
) -> None:
    """Passing the difference mask the caller already has (the checker does) changes nothing;
    the visible mask adds only differing pixels next to it (soft edges)."""
    rng = np.random.default_rng(seed)
    img = _scene().astype(np.int16) + rng.integers(-noise, noise + 1, (100, 120, 1))
    img[20:80, 29] = soft  # a soft edge column beside the product
    img = np.clip(img, 0, 255).astype(np.uint8)
    c = (250, 250, 250)
    differs = difference_mask(img, c)
    plain = visible_mask(img, c)
    assert np.array_equal(plain, visible_mask(img, c, differs=differs))
    assert (plain >= differs).all()
    added = plain & ~differs
    assert (np.abs(img[added].astype(np.int16) - 250).max(axis=-1) > 8).all()
    box = visible_box(img, c, differs=differs)
    assert box == visible_box(img, c)
    assert box is not None and box[0] <= (29 if abs(soft - 250) > 8 else 30)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    color=st.tuples(st.integers(0, 255), st.integers(0, 255), st.integers(0, 255)),
    h=st.integers(1, 40),
    w=st.integers(1, 40),
)
def test_deviation_from_is_the_largest_channel_difference(
    seed: int, color: tuple[int, int, int], h: int, w: int
) -> None:
    """Exactly max_c |rgb_c − color_c| per pixel (the scalar absdiff must not saturate or
    broadcast differently from the plain numpy definition)."""
    rgb = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    expect = np.abs(rgb.astype(np.int16) - np.asarray(color, np.int16)).max(axis=2)
    got = deviation_from(rgb, color)
    assert got.dtype == np.int16 and np.array_equal(got, expect)
