"""The scene op: product pixels bit-exact over any generated background, the repaint mask,
the edge harmonisation and its halo score, on real cut-outs and real indoor scenes."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from conftest import shared_path
from productstudio.errors import InvalidParamsError
from productstudio.ops.canvas import place
from productstudio.ops.composite import composite
from productstudio.ops.scene import (
    SceneParams,
    changed_share,
    composite_scene,
    edge_band_difference,
    harmonise_edge,
    refill_under,
    scene_input,
    scene_mask,
)
from strategies import rgba_images
from tiny_pipelines import real_cutouts


@pytest.fixture(scope="module")
def cutouts() -> list[tuple[str, np.ndarray]]:
    """Three real products cut out with the shipped segmenter, placed on a scene canvas."""
    from productstudio.models.pipelines.scene import SceneLayout, plan_canvas

    out = []
    for name, prod in real_cutouts(3):
        out.append((name, place(prod, plan_canvas(prod, SceneLayout()))))
    return out


@pytest.fixture(scope="module")
def scenes() -> list[np.ndarray]:
    """Real indoor photos (NYU Depth V2 samples) standing in for generated scenes."""
    root = shared_path("data", "backgrounds")
    with (root / "manifest.csv").open(newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r["name"].startswith("nyu_")][:3]
    return [np.asarray(Image.open(root / r["file"]).convert("RGB")) for r in rows]


def _fit(bg: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    return np.asarray(Image.fromarray(bg).resize((shape[1], shape[0])))


def _product(h: int = 40, w: int = 30) -> np.ndarray:
    p = np.zeros((h, w, 4), np.uint8)
    p[10:30, 8:22] = (180, 40, 40, 255)
    p[10:30, 7, 3] = 120
    p[10:30, 22, 3] = 60
    return p


def test_product_pixels_bit_exact_on_real_cutouts(
    cutouts: list[tuple[str, np.ndarray]], scenes: list[np.ndarray]
) -> None:
    """Every alpha-255 pixel of a real cut-out is the product's own value over real scenes,
    with the default shadow and harmonisation and with light wrap."""
    for _name, placed in cutouts:
        opaque = placed[..., 3] == 255
        assert opaque.sum() > 1000
        for bg in scenes:
            for params in (SceneParams(), SceneParams(light_wrap=0.6, grow_px=0, band_px=9)):
                out = composite_scene(placed, _fit(bg, placed.shape), params)
                assert out.shape == (*placed.shape[:2], 3) and out.dtype == np.uint8
                assert np.array_equal(out[opaque], placed[..., :3][opaque])
                assert changed_share(placed[..., :3], out, opaque) == 0.0


def test_harmonisation_lowers_the_halo_score(
    cutouts: list[tuple[str, np.ndarray]], scenes: list[np.ndarray]
) -> None:
    """On every real cut-out x real scene pair the soft edge strays less from a clean
    product/scene blend after harmonisation (measured: 2.3-7.9 → 1.1-3.7 ΔE2000)."""
    for _name, placed in cutouts:
        for bg in scenes:
            b = _fit(bg, placed.shape)
            before = edge_band_difference(
                composite_scene(placed, b, SceneParams(harmonise=0)), placed
            )
            after = edge_band_difference(composite_scene(placed, b), placed)
            assert after < 0.75 * before, (before, after)


def test_background_pixels_are_the_scene() -> None:
    """Without a shadow, every alpha-0 pixel is the background's own value."""
    p = _product()
    rng = np.random.default_rng(0)
    bg = rng.integers(0, 256, (40, 30, 3), dtype=np.uint8)
    out = composite_scene(p, bg, SceneParams(shadow=None))
    empty = p[..., 3] == 0
    assert np.array_equal(out[empty], bg[empty])


def test_neutral_params_are_a_plain_composite() -> None:
    """harmonise 0, no shadow, no light wrap: exactly ops.composite."""
    p = _product()
    bg = np.full((40, 30, 3), 77, np.uint8)
    out = composite_scene(p, bg, SceneParams(harmonise=0.0, shadow=None))
    assert np.array_equal(out, composite(p, bg))


def test_shadow_only_darkens_the_floor() -> None:
    """The contact shadow lowers pixels under the product and never lightens any."""
    p = _product()
    bg = np.full((40, 30, 3), 200, np.uint8)
    plain = composite_scene(p, bg, SceneParams(shadow=None, harmonise=0.0))
    shaded = composite_scene(p, bg, SceneParams(harmonise=0.0))
    assert (shaded <= plain).all()
    assert shaded[31, 15].sum() < plain[31, 15].sum()


@settings(max_examples=40, deadline=None)
@given(rgba_images(min_side=4, max_side=32), st.integers(0, 2**32 - 1), st.floats(0.0, 1.0))
def test_exact_property(product: np.ndarray, seed: int, wrap: float) -> None:
    """Any RGBA product, any background, any light wrap: alpha-255 pixels bit-exact."""
    if not (product[..., 3] > 0).any():
        product[0, 0, 3] = 255
    bg = np.random.default_rng(seed).integers(0, 256, (*product.shape[:2], 3), dtype=np.uint8)
    out = composite_scene(product, bg, SceneParams(light_wrap=wrap))
    opaque = product[..., 3] == 255
    assert np.array_equal(out[opaque], product[..., :3][opaque])


def test_scene_mask_grows_into_the_product() -> None:
    """1 everywhere but the opaque core shrunk by grow_px; 0 deep inside the product."""
    p = np.zeros((40, 40, 4), np.uint8)
    p[10:30, 10:30, 3] = 255
    m0 = scene_mask(p, 0)
    assert m0.dtype == np.float32 and set(np.unique(m0)) == {0.0, 1.0}
    assert np.array_equal(m0 == 0, p[..., 3] == 255)
    m3 = scene_mask(p, 3)
    assert (m3[10:30, 10:30][:3] == 1).all() and m3[20, 20] == 0.0
    assert int((m3 == 0).sum()) == 14 * 14


def test_scene_input_shows_the_product_over_the_fill() -> None:
    p = _product()
    img = scene_input(p, "#808080")
    assert img[0, 0].tolist() == [128, 128, 128]
    assert img[15, 15].tolist() == [180, 40, 40]


def test_refill_keeps_uncovered_pixels_and_fills_from_neighbours() -> None:
    bg = np.zeros((20, 20, 3), np.uint8)
    bg[:, :10] = 50
    bg[:, 10:] = 200
    bg[5:15, 5:15] = 0
    covered = np.zeros((20, 20), bool)
    covered[5:15, 5:15] = True
    out = refill_under(bg, covered, 2.0)
    assert np.array_equal(out[~covered], bg[~covered])
    assert 40 <= out[10, 5, 0] <= 70 and 180 <= out[10, 14, 0] <= 210


def test_harmonise_edge_touches_only_the_soft_edge() -> None:
    p = _product()
    p[10:30, 7, :3] = 250  # an old white background colour in the soft edge
    h = harmonise_edge(p, 1.0, 3)
    hard = (p[..., 3] == 0) | (p[..., 3] == 255)
    assert np.array_equal(h[hard], p[hard])
    assert (h[15, 7, :3].astype(int) - [180, 40, 40]).__abs__().sum() < (
        np.abs(p[15, 7, :3].astype(int) - [180, 40, 40]).sum()
    )


def test_bad_inputs() -> None:
    p = _product()
    with pytest.raises(InvalidParamsError, match="canvas"):
        composite_scene(p, np.zeros((10, 10, 3), np.uint8))
    with pytest.raises(InvalidParamsError, match="alpha is empty"):
        composite_scene(np.zeros((8, 8, 4), np.uint8), np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(InvalidParamsError, match="harmonise"):
        SceneParams(harmonise=2.0)
    with pytest.raises(InvalidParamsError, match="grow_px"):
        SceneParams(grow_px=-1)
    with pytest.raises(InvalidParamsError):
        scene_mask(np.zeros((8, 8, 3), np.uint8))
