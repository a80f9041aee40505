"""Backgrounds: the STYLE.md op set, the alpha-255 promise, real scenes and photos."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from conftest import read_manifest, shared_path
from productstudio.errors import InvalidParamsError
from productstudio.ops.backgrounds import (
    BackgroundKind,
    BackgroundParams,
    Fit,
    apply_background,
    fit_image,
    make_background,
    make_bokeh,
    make_linear_gradient,
    make_radial_gradient,
    make_solid,
)
from rgba_photos import real_rgba
from strategies import rgba_images

KINDS_NO_SCENE = [BackgroundKind.SOLID, BackgroundKind.LINEAR, BackgroundKind.RADIAL]


def _product(h: int = 30, w: int = 40) -> np.ndarray:
    img = np.zeros((h, w, 4), np.uint8)
    img[5:25, 10:30] = (200, 30, 40, 255)
    img[4, 10:30, 3] = 128
    return img


@pytest.mark.parametrize("kind", list(BackgroundKind))
def test_smoke_every_kind_shape_dtype(kind: BackgroundKind) -> None:
    """Every kind returns uint8 of the product's size (RGBA only for transparent)."""
    scene = np.full((50, 70, 3), 90, np.uint8)
    out = apply_background(_product(), BackgroundParams(kind=kind), scene=scene)
    assert out.dtype == np.uint8
    assert out.shape == ((30, 40, 4) if kind is BackgroundKind.TRANSPARENT else (30, 40, 3))


@settings(max_examples=40, deadline=None)
@given(
    rgba_images(), st.sampled_from([*KINDS_NO_SCENE, BackgroundKind.IMAGE, BackgroundKind.BOKEH])
)
def test_alpha_255_pixels_are_bit_identical(img: np.ndarray, kind: BackgroundKind) -> None:
    """A background change never alters a pixel whose alpha is 255."""
    scene = np.random.default_rng(0).integers(0, 256, (20, 33, 3), dtype=np.uint8)
    out = apply_background(img, BackgroundParams(kind=kind, color="#123456"), scene=scene)
    full = img[..., 3] == 255
    assert np.array_equal(out[..., :3][full], img[..., :3][full])


def test_alpha_0_pixels_are_exactly_the_colour() -> None:
    out = apply_background(_product(), BackgroundParams(color="#0a141e"))
    assert out[0, 0].tolist() == [10, 20, 30]
    assert (out[26:, :] == (10, 20, 30)).all()


def test_transparent_is_identity() -> None:
    img = _product()
    out = apply_background(img, BackgroundParams(kind=BackgroundKind.TRANSPARENT))
    assert np.array_equal(out, img) and out is not img


def test_solid_with_alpha_gives_rgba() -> None:
    out = apply_background(_product(), BackgroundParams(color="#ff000080"))
    assert out.shape[2] == 4
    assert out[0, 0].tolist() == [255, 0, 0, 128]
    assert out[10, 15].tolist() == [200, 30, 40, 255]


@pytest.mark.parametrize(
    "kw",
    [
        {"color": "nonsense"},
        {"radius": 0.0},
        {"blur": 0.9},
        {"center": (5.0, 0.5)},
        {"angle_deg": float("nan")},
    ],
)
def test_bad_params_raise(kw: dict) -> None:
    with pytest.raises(InvalidParamsError):
        BackgroundParams(**kw)


def test_bad_inputs_raise() -> None:
    with pytest.raises(InvalidParamsError):
        apply_background(np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(InvalidParamsError, match="needs a photo"):
        apply_background(_product(), BackgroundParams(kind=BackgroundKind.IMAGE))
    with pytest.raises(InvalidParamsError):
        make_solid(0, 5)


def test_linear_gradient_endpoints_and_monotone() -> None:
    g = make_linear_gradient(8, 50, "#000000", "#ffffff", 0.0)
    assert g[0, 0].tolist() == [0, 0, 0] and g[-1, 0].tolist() == [255, 255, 255]
    col = g[:, 3, 0].astype(int)
    assert (np.diff(col) >= 0).all()
    # linear-light mixing: the middle is brighter than the sRGB average (128)
    assert col[25] > 160
    flipped = make_linear_gradient(50, 8, "#000000", "#ffffff", 90.0)
    assert flipped[0, -1, 0] == 0 and flipped[0, 0, 0] == 255


def test_radial_gradient_centre_and_edge() -> None:
    g = make_radial_gradient(41, 41, "#ffffff", "#000000", center=(0.5, 0.5), radius=0.5)
    assert g[20, 20].tolist() == [255, 255, 255]
    assert g[0, 0].tolist() == [0, 0, 0]


def test_fit_cover_and_contain() -> None:
    scene = np.zeros((10, 20, 3), np.uint8)
    scene[:, 10:] = 255
    cover = fit_image(scene, 10, 10, Fit.COVER)
    assert cover.shape == (10, 10, 3) and cover[:, :4].max() == 0 and cover[:, 6:].min() == 255
    contain = fit_image(scene, 20, 20, Fit.CONTAIN, "#00ff00")
    assert contain[0, 0].tolist() == [0, 255, 0] and contain[10, 0].tolist() == [0, 0, 0]


def test_bokeh_keeps_product_colour_out() -> None:
    """The product's colour does not smear into the blurred backdrop."""
    photo = np.full((60, 60, 3), 200, np.uint8)
    photo[20:40, 20:40] = (255, 0, 0)
    mask = np.zeros((60, 60), np.float32)
    mask[20:40, 20:40] = 1
    out = make_bokeh(photo, mask, 60, 60, blur=0.05)
    assert np.abs(out.astype(int) - 200).max() <= 2
    smeared = make_bokeh(photo, None, 60, 60, blur=0.05)
    assert smeared[30, 30, 1] < 150


def test_real_scene_and_product() -> None:
    """A GroceryStoreDataset scene behind a DIS5K product (GT alpha) keeps the product exact."""
    rows = [
        r
        for r in read_manifest("data", "backgrounds", "manifest.csv")
        if r["name"].startswith("grocery")
    ]
    scene = np.asarray(
        Image.open(shared_path("data", "backgrounds", rows[0]["file"])).convert("RGB")
    )
    product = real_rgba(long_side=300)
    for p in (
        BackgroundParams(kind=BackgroundKind.IMAGE, blur=0.01),
        BackgroundParams(kind=BackgroundKind.IMAGE, fit=Fit.CONTAIN),
        BackgroundParams(kind=BackgroundKind.BOKEH),
    ):
        src = product[..., :3] if p.kind is BackgroundKind.BOKEH else scene
        out = apply_background(product, p, scene=src, mask=product[..., 3])
        full = product[..., 3] == 255
        assert out.shape == (*product.shape[:2], 3)
        assert np.array_equal(out[full], product[..., :3][full])
        assert not np.array_equal(out[~full], product[..., :3][~full])
    bg = make_background(64, 48, BackgroundParams(kind=BackgroundKind.IMAGE), scene=scene)
    assert bg.shape == (48, 64, 4) and (bg[..., 3] == 255).all()


def test_docstring_examples() -> None:
    import doctest

    import productstudio.ops.backgrounds as mod

    assert doctest.testmod(mod, extraglobs={"np": np}).failed == 0
