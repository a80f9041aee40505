"""imaging/types: the one transparency rule (when an image carries its own product mask)."""

from __future__ import annotations

import numpy as np
from hypothesis import given

from productstudio.imaging import OPAQUE_ALPHA_MIN, alpha_product_mask, has_transparency
from strategies import rgba_images


def test_threshold_rule() -> None:
    """Alpha 250..255 everywhere is an opaque photo; one pixel below 250 makes a cut-out."""
    px = np.full((4, 5, 4), 100, np.uint8)
    px[..., 3] = 250
    assert OPAQUE_ALPHA_MIN == 250
    assert not has_transparency(px) and alpha_product_mask(px) is None
    assert not has_transparency(px[..., :3]) and alpha_product_mask(px[..., :3]) is None
    px[1, 2, 3] = 249
    m = alpha_product_mask(px)
    assert m is not None and m.dtype == np.float32 and m.shape == (4, 5)
    assert m[1, 2] == np.float32(249 / 255) and m[0, 0] == np.float32(250 / 255)


def test_sixteen_bit_alpha_uses_the_same_rule() -> None:
    px = np.full((2, 2, 4), 65535, np.uint16)
    px[0, 0, 3] = 250 * 257  # 250 in 8 bits: still opaque
    assert not has_transparency(px)
    px[0, 0, 3] = 249 * 257
    assert has_transparency(px)


@given(rgba_images())
def test_mask_is_the_alpha_whenever_there_is_transparency(rgba: np.ndarray) -> None:
    m = alpha_product_mask(rgba)
    assert (m is not None) == bool((rgba[..., 3] < 250).any())
    if m is not None:
        assert np.array_equal(np.rint(m * 255).astype(np.uint8), rgba[..., 3])
