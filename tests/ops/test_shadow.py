"""Shadows: product pixels untouched, darken only, floor side only; real DIS5K product."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from productstudio.errors import InvalidParamsError
from productstudio.ops.composite import composite
from productstudio.ops.shadow import (
    CastShadowParams,
    ContactShadowParams,
    DropShadowParams,
    ReflectionParams,
    apply_shadow,
    cast_shadow,
    cast_shadow_map,
    contact_shadow,
    contact_shadow_map,
    darken,
    drop_shadow,
    floor_row,
    reflection,
)
from rgba_photos import real_rgba

DARKENING = [ContactShadowParams(), DropShadowParams(), CastShadowParams()]
FLOOR_SIDE = [
    ContactShadowParams(),
    CastShadowParams(),
    CastShadowParams(azimuth_deg=180.0),
    DropShadowParams(floor_only=True, offset_y=-0.2),
    ReflectionParams(),
]
ALL = [*DARKENING, ReflectionParams()]


def _product(h: int = 60, w: int = 50) -> np.ndarray:
    img = np.zeros((h, w, 4), np.uint8)
    img[10:40, 15:35] = (180, 40, 30, 255)
    img[10:40, 14, 3] = 100
    img[40, 15:35] = (180, 40, 30, 140)
    return img


@st.composite
def products(draw: st.DrawFn) -> np.ndarray:
    h, w = draw(st.integers(12, 40)), draw(st.integers(12, 40))
    y0, x0 = draw(st.integers(0, h // 2)), draw(st.integers(0, w // 2))
    y1, x1 = draw(st.integers(y0 + 2, h)), draw(st.integers(x0 + 2, w))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    img = np.zeros((h, w, 4), np.uint8)
    img[y0:y1, x0:x1, :3] = rng.integers(0, 256, (y1 - y0, x1 - x0, 3))
    img[y0:y1, x0:x1, 3] = rng.choice([0, 1, 128, 254, 255, 255, 255], (y1 - y0, x1 - x0))
    img[y0, x0, 3] = 255
    return img


@pytest.mark.parametrize("params", ALL, ids=lambda p: type(p).__name__)
def test_smoke_shape_dtype(params: object) -> None:
    out = apply_shadow(_product(), "#ffffff", params)  # type: ignore[arg-type]
    assert out.shape == (60, 50, 3) and out.dtype == np.uint8
    assert not np.array_equal(out, composite(_product(), "#ffffff")), "no visible shadow"


@settings(max_examples=30, deadline=None)
@given(products(), st.sampled_from(ALL), st.tuples(*[st.integers(0, 255)] * 3))
def test_product_pixels_never_change(img: np.ndarray, params: object, bg: tuple) -> None:
    """Where the product's alpha is 255 the output is bit-identical to the product."""
    out = apply_shadow(img, bg, params)  # type: ignore[arg-type]
    full = img[..., 3] == 255
    assert np.array_equal(out[full], img[..., :3][full])


@settings(max_examples=30, deadline=None)
@given(products(), st.sampled_from(DARKENING), st.integers(0, 2**16))
def test_shadows_darken_never_lighten(img: np.ndarray, params: object, seed: int) -> None:
    bg = np.random.default_rng(seed).integers(0, 256, (*img.shape[:2], 3), dtype=np.uint8)
    out = apply_shadow(img, bg, params)  # type: ignore[arg-type]
    assert (out <= composite(img, bg)).all()


@settings(max_examples=30, deadline=None)
@given(products(), st.sampled_from(FLOOR_SIDE))
def test_floor_side_only(img: np.ndarray, params: object) -> None:
    """No pixel above the floor row changes."""
    out = apply_shadow(img, "#dddddd", params)  # type: ignore[arg-type]
    row = floor_row(img, params.floor_band)  # type: ignore[attr-defined]
    assert np.array_equal(out[:row], composite(img, "#dddddd")[:row])


def test_zero_opacity_is_identity() -> None:
    img = _product()
    plain = composite(img, "#ffffff")
    for p in (
        ContactShadowParams(opacity=0),
        DropShadowParams(opacity=0),
        CastShadowParams(opacity=0),
    ):
        assert np.array_equal(apply_shadow(img, "#ffffff", p), plain)
    assert np.array_equal(reflection(img, "#ffffff", ReflectionParams(opacity=0)), plain)


def test_darken_exact_where_zero_and_colour() -> None:
    bg = np.full((4, 4, 3), 200, np.uint8)
    s = np.zeros((4, 4), np.float32)
    s[0, 0] = 1.0
    out = darken(bg, s, "#000000")
    assert out[0, 0].tolist() == [0, 0, 0] and (out[1:] == 200).all()
    tinted = darken(bg, s, "#ff0000")
    assert tinted[0, 0].tolist() == [200, 0, 0]


@pytest.mark.parametrize(
    "factory",
    [
        lambda: ContactShadowParams(opacity=1.5),
        lambda: ContactShadowParams(color="nope"),
        lambda: DropShadowParams(blur=-1),
        lambda: CastShadowParams(elevation_deg=90),
        lambda: CastShadowParams(floor_tilt=2),
        lambda: ReflectionParams(length=0),
        lambda: ReflectionParams(gap_px=-1),
    ],
)
def test_bad_params_raise(factory) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidParamsError):
        factory()


def test_bad_inputs_raise() -> None:
    with pytest.raises(InvalidParamsError, match="no visible pixel"):
        contact_shadow(np.zeros((10, 10, 4), np.uint8))
    with pytest.raises(InvalidParamsError):
        drop_shadow(np.zeros((10, 10, 3), np.uint8))
    with pytest.raises(InvalidParamsError, match="background is"):
        cast_shadow(_product(), np.zeros((5, 5, 3), np.uint8))
    with pytest.raises(InvalidParamsError, match="opaque or fully transparent"):
        contact_shadow(_product(), "#ffffff80")


def test_transparent_background_gives_shadow_layer() -> None:
    img = _product()
    out = contact_shadow(img, (0, 0, 0, 0))
    assert out.shape == img.shape
    assert np.array_equal(out[img[..., 3] == 255], img[img[..., 3] == 255])
    assert out[42:46, 20:30, 3].max() > 0  # the shadow is visible under the product


def test_contact_shadow_is_under_the_product() -> None:
    m = contact_shadow_map(_product())
    cols = np.flatnonzero(m.max(axis=0) > 0.2)
    assert cols.min() >= 10 and cols.max() <= 40  # around the product's columns 15..34
    assert m[: floor_row(_product(), 0.02)].max() == 0.0


def test_cast_shadow_direction_and_penumbra() -> None:
    """Light from the back right throws the shadow left; its blur widens away from the contact."""
    img = np.zeros((200, 200, 4), np.uint8)
    img[40:150, 95:105] = (50, 50, 50, 255)  # a thin pole standing on row 149
    m = cast_shadow_map(img, CastShadowParams(azimuth_deg=60, elevation_deg=45, floor_tilt=0.5))
    assert m[150:, :95].sum() > 5 * m[150:, 105:].sum()
    straight = cast_shadow_map(img, CastShadowParams(azimuth_deg=0, elevation_deg=30, fade=0))

    def width(row: int) -> int:
        prof = straight[row]
        return int((prof > 0.1 * prof.max()).sum())

    assert width(190) > width(152)


def test_real_product_all_promises() -> None:
    """A DIS5K product with its ground-truth alpha: every shadow keeps the promises."""
    from productstudio.ops.canvas import CanvasParams, layout

    img = layout(real_rgba("dis_te1_bench_22653754305", 400), CanvasParams(300, 300, fill=0.8))
    plain = composite(img, "#f0f0f0")
    full = img[..., 3] == 255
    for p in ALL:
        out = apply_shadow(img, "#f0f0f0", p)
        assert np.array_equal(out[full], img[..., :3][full])
        if not isinstance(p, DropShadowParams):  # a default drop shadow is a flat-lay
            row = floor_row(img, p.floor_band)
            assert np.array_equal(out[:row], plain[:row]), type(p).__name__
        if not isinstance(p, ReflectionParams):
            assert (out <= plain).all()
        assert (out != plain).any()


def test_docstring_examples() -> None:
    import doctest

    import productstudio.ops.shadow as mod

    assert doctest.testmod(mod, extraglobs={"np": np}).failed == 0
