"""ops/inpaint: mask handling, crop-around-mask, exact paste-back, classical Telea/NS."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from productstudio.errors import InvalidParamsError
from productstudio.ops.inpaint import (
    InpaintMethod,
    InpaintParams,
    box_to_mask,
    crop_around,
    hole_mask,
    inpaint,
    mask_bbox,
    parse_box,
)
from rgba_photos import real_rgba
from strategies import rgb_images


def _gradient(h: int = 64, w: int = 80) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return np.dstack([x * 3 % 256, y * 3 % 256, (x + y) % 256]).astype(np.uint8)


def _bar_mask(h: int = 64, w: int = 80) -> np.ndarray:
    m = np.zeros((h, w), np.float32)
    m[30:34, 10:70] = 1.0
    return m


@pytest.mark.parametrize("method", list(InpaintMethod))
def test_smoke_fills_a_flat_hole_with_the_surround(method: InpaintMethod) -> None:
    """A scratch on a flat colour is filled with that colour."""
    img = np.full((40, 40, 3), (40, 120, 200), np.uint8)
    img[18:22, 5:35] = 255
    m = np.zeros((40, 40), np.uint8)
    m[17:23, 4:36] = 255
    out = inpaint(img, m, InpaintParams(method=method))
    assert np.abs(out[17:23, 4:36].astype(int) - [40, 120, 200]).max() <= 2


def test_outside_the_hole_is_bit_identical_rgba_alpha_kept() -> None:
    """Only hole pixels change, alpha is never touched."""
    img = np.dstack([_gradient(), np.full((64, 80), 77, np.uint8)])
    m = _bar_mask()
    out = inpaint(img, m, InpaintParams(dilate=2))
    hole = hole_mask(m, img.shape[:2], dilate=2)
    assert out.shape == img.shape and out.dtype == img.dtype
    assert np.array_equal(out[~hole], img[~hole])
    assert np.array_equal(out[..., 3], img[..., 3])


def test_uint16_is_supported_and_exact_outside() -> None:
    img = _gradient().astype(np.uint16) * 257
    out = inpaint(img, _bar_mask())
    assert out.dtype == np.uint16
    assert np.array_equal(out[_bar_mask() < 0.5], img[_bar_mask() < 0.5])


@pytest.mark.parametrize(
    "mask",
    [np.zeros((64, 80), np.float32), np.zeros((10, 10), np.float32), np.zeros(5, np.float32)],
    ids=["empty", "wrong-size", "wrong-rank"],
)
def test_bad_masks_raise_typed_errors(mask: np.ndarray) -> None:
    with pytest.raises(InvalidParamsError):
        inpaint(_gradient(), mask)


@pytest.mark.parametrize("kw", [{"radius": 0}, {"dilate": -1}, {"margin": -3}])
def test_bad_params(kw: dict[str, int]) -> None:
    with pytest.raises(InvalidParamsError):
        InpaintParams(**kw)  # type: ignore[arg-type]


def test_boxes_and_crop_geometry() -> None:
    """box_to_mask/parse_box/mask_bbox/crop_around agree on coordinates."""
    m = box_to_mask((50, 60), parse_box("10, 5, 20, 8"))
    assert m.sum() == 160 and m[5, 10] == 1 and m[12, 29] == 1 and m[13, 30] == 0
    assert mask_bbox(m > 0) == (5, 13, 10, 30)
    assert mask_bbox(m > 0, margin=100) == (0, 50, 0, 60)
    crop, sub, box = crop_around(np.zeros((50, 60, 3), np.uint8), m > 0, 4)
    assert box == (1, 17, 6, 34) and crop.shape[:2] == sub.shape and sub.sum() == 160
    for bad in ("1,2,3", "a,b,c,d"):
        with pytest.raises(InvalidParamsError):
            parse_box(bad)
    with pytest.raises(InvalidParamsError):
        box_to_mask((50, 60), (100, 100, 5, 5))
    with pytest.raises(InvalidParamsError):
        box_to_mask((50, 60), (1, 1, 0, 5))


@settings(max_examples=25, deadline=None)
@given(img=rgb_images(min_side=8, max_side=40), data=st.data())
def test_property_pixels_outside_any_hole_never_change(
    img: np.ndarray, data: st.DataObject
) -> None:
    h, w = img.shape[:2]
    y = data.draw(st.integers(0, h - 1))
    x = data.draw(st.integers(0, w - 1))
    m = np.zeros((h, w), np.float32)
    m[y : y + data.draw(st.integers(1, 6)), x : x + data.draw(st.integers(1, 6))] = 1.0
    out = inpaint(img, m, InpaintParams(margin=data.draw(st.integers(0, 10))))
    assert np.array_equal(out[m < 0.5], img[m < 0.5])


def test_real_photo_object_removal_beats_leaving_the_overlay() -> None:
    """On a real photo, a drawn opaque bar is replaced by something close to the truth."""
    rgba = real_rgba(long_side=300)
    img = np.ascontiguousarray(rgba[..., :3])
    m = np.zeros(img.shape[:2], np.float32)
    m[100:108, 40:200] = 1
    over = img.copy()
    over[m > 0] = (255, 0, 255)
    out = inpaint(over, m)
    err_before = np.abs(over[m > 0].astype(int) - img[m > 0]).mean()
    err_after = np.abs(out[m > 0].astype(int) - img[m > 0]).mean()
    assert err_after < 0.3 * err_before
