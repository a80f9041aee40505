"""ops.composite: exact promises, identity, errors, properties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings

from productstudio.errors import InvalidParamsError
from productstudio.ops.composite import CompositeParams, composite, over
from strategies import colors, rgba_images


@settings(max_examples=60, deadline=None)
@given(rgba_images(), colors)
def test_opaque_pixels_are_bit_identical(img: np.ndarray, bg: tuple[int, int, int]) -> None:
    """alpha 255 → source RGB exactly; alpha 0 → background exactly (both blend modes)."""
    for linear in (False, True):
        out = composite(img, bg, CompositeParams(linear=linear))
        a = img[..., 3]
        np.testing.assert_array_equal(out[a == 255], img[..., :3][a == 255])
        assert (out[a == 0] == np.asarray(bg, np.uint8)).all()


@settings(max_examples=60, deadline=None)
@given(rgba_images(), colors)
def test_partial_alpha_stays_between_fg_and_bg(img: np.ndarray, bg: tuple[int, int, int]) -> None:
    """Every channel lands between foreground and background (both modes), and the sRGB blend
    is the straight-alpha formula fg·a + bg·(1 − a) to within rounding."""
    fg = img[..., :3].astype(int)
    b = np.broadcast_to(np.asarray(bg, int), fg.shape)
    lo, hi = np.minimum(fg, b), np.maximum(fg, b)
    for linear in (False, True):
        out = composite(img, bg, CompositeParams(linear=linear)).astype(int)
        assert (out >= lo).all() and (out <= hi).all(), f"linear={linear}"
    a = img[..., 3:].astype(float) / 255.0
    expected = fg * a + b * (1.0 - a)
    np.testing.assert_allclose(composite(img, bg).astype(float), expected, atol=0.5 + 1e-9)


def test_half_alpha_is_the_mean() -> None:
    img = np.zeros((1, 1, 4), np.uint8)
    img[0, 0] = (0, 100, 200, 128)
    out = composite(img, "#ffffff")
    expected = np.rint(np.array([0, 100, 200]) * 128 / 255 + 255 * 127 / 255)
    np.testing.assert_allclose(out[0, 0], expected, atol=1)


def test_image_background_and_size_mismatch() -> None:
    img = np.zeros((4, 4, 4), np.uint8)
    bg = np.full((4, 4, 3), 9, np.uint8)
    assert (composite(img, bg) == 9).all()
    with pytest.raises(InvalidParamsError, match="resize"):
        composite(img, np.zeros((3, 4, 3), np.uint8))


def test_bad_inputs() -> None:
    with pytest.raises(InvalidParamsError):
        composite(np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(InvalidParamsError, match="not a colour"):
        composite(np.zeros((4, 4, 4), np.uint8), "not-a-colour")


@settings(max_examples=30, deadline=None)
@given(rgba_images(max_side=16))
def test_over_keeps_opaque_top(img: np.ndarray) -> None:
    bottom = np.full_like(img, 77)
    bottom[..., 3] = 255
    out = over(img, bottom)
    a = img[..., 3]
    np.testing.assert_array_equal(out[a == 255], img[a == 255])
    np.testing.assert_array_equal(out[a == 0], bottom[a == 0])
    assert (out[..., 3] == 255).all()
