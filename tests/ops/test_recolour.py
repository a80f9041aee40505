"""ops/recolour: hits the target colour, keeps shading, exact outside the mask."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import shared_path
from productstudio.errors import InvalidParamsError
from productstudio.imaging import delta_e2000, load_image
from productstudio.ops.recolour import (
    RecolourParams,
    median_lab,
    parse_palette,
    recolour,
    recolour_palette,
    target_lab,
)
from rgba_photos import real_rgba
from strategies import rgba_images


def _shaded(base: tuple[int, int, int] = (180, 40, 40)) -> np.ndarray:
    """An RGBA 'product' with a lighting gradient and a transparent border."""
    h, w = 40, 50
    shade = np.linspace(0.5, 1.0, w)[None, :, None]
    rgb = np.clip(np.array(base)[None, None, :] * shade, 0, 255).astype(np.uint8)
    rgb = np.repeat(rgb, h, axis=0)
    a = np.zeros((h, w), np.uint8)
    a[5:35, 5:45] = 255
    a[5:35, 4] = 128
    return np.dstack([rgb, a])


@pytest.mark.parametrize("color", ["#1f3a93", "navy", "#f5f5f5", "#111111", "rgb(46, 204, 113)"])
def test_median_lands_on_target(color: str) -> None:
    img = _shaded()
    out = recolour(img, RecolourParams(color=color))
    de = float(delta_e2000(median_lab(out), target_lab(color)))
    assert de < 1.5, de


def test_shading_is_kept_and_outside_is_exact() -> None:
    """Left (shadowed) stays darker than right; alpha-0 pixels and alpha are untouched."""
    img = _shaded()
    out = recolour(img, RecolourParams(color="#2ecc71"))
    assert np.array_equal(out[img[..., 3] == 0], img[img[..., 3] == 0])
    assert np.array_equal(out[..., 3], img[..., 3])
    left, right = out[20, 6, :3].astype(int).sum(), out[20, 43, :3].astype(int).sum()
    assert left < right - 30


def test_white_product_goes_dark_and_dark_goes_white() -> None:
    """Lightness moves too, not only hue."""
    white = recolour(_shaded((250, 250, 250)), RecolourParams(color="#202060"))
    black = recolour(_shaded((25, 25, 25)), RecolourParams(color="#e8e8e8"))
    assert median_lab(white)[0] < 25 and median_lab(black)[0] > 85


def test_strength_zero_is_identity_and_uint16_works() -> None:
    img = _shaded()
    assert np.array_equal(recolour(img, RecolourParams(color="red", strength=0.0)), img)
    img16 = img.astype(np.uint16) * 257
    out = recolour(img16, RecolourParams(color="#1f3a93"))
    assert out.dtype == np.uint16 and out.shape == img16.shape


def test_errors() -> None:
    rgb = np.full((10, 10, 3), 100, np.uint8)
    with pytest.raises(InvalidParamsError, match="mask"):
        recolour(rgb, RecolourParams(color="red"))
    with pytest.raises(InvalidParamsError):
        recolour(rgb, RecolourParams(color="red"), np.zeros((10, 10), np.float32))
    with pytest.raises(InvalidParamsError):
        recolour(rgb, RecolourParams(color="red"), np.ones((5, 5), np.float32))
    for bad in ("notacolour", "#12345"):
        with pytest.raises(InvalidParamsError):
            RecolourParams(color=bad)
    with pytest.raises(InvalidParamsError):
        RecolourParams(color="red", strength=2)
    with pytest.raises(InvalidParamsError):
        parse_palette(" , ")
    with pytest.raises(InvalidParamsError):
        recolour_palette(_shaded(), [])


def test_palette_gives_one_image_per_colour() -> None:
    outs = recolour_palette(_shaded(), parse_palette("#ff0000, navy;#00aa00"))
    assert len(outs) == 3 and not np.array_equal(outs[0], outs[1])


@settings(max_examples=20, deadline=None)
@given(img=rgba_images(min_side=2, max_side=24), color=st.sampled_from(["red", "#123456", "white"]))
def test_property_alpha_zero_pixels_never_change(img: np.ndarray, color: str) -> None:
    if not (img[..., 3] >= 128).any():
        img[0, 0, 3] = 255
    out = recolour(img, RecolourParams(color=color))
    assert np.array_equal(out[img[..., 3] == 0], img[img[..., 3] == 0])


def test_real_cutout_recolour_hits_target() -> None:
    """A real DIS5K product with its GT mask reaches the target within ΔE2000 3."""
    rgba = real_rgba(long_side=240)
    out = recolour(rgba, RecolourParams(color="#c0392b"))
    assert float(delta_e2000(median_lab(out), target_lab("#c0392b"))) <= 3.0


def test_real_myntra_products_by_metadata_colour() -> None:
    """Black/white/blue Myntra products (metadata colour) reach a navy target within ΔE 3."""
    meta = shared_path("data", "products", "metadata.csv")
    with meta.open(newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r["source"] == "myntra-small"]
    picked = [
        next(r for r in rows if r["colour"] == c and r["master_category"] == "Apparel")
        for c in ("Black", "White", "Blue")
    ]
    for r in picked:
        img = load_image(shared_path("data", "products", r["file"])).pixels
        m = ((255 - img.astype(int)).max(axis=2) > 25).astype(np.float32)
        out = recolour(img, RecolourParams(color="#1f3a93"), m)
        assert float(delta_e2000(median_lab(out, m), target_lab("#1f3a93"))) <= 3.0, r["id"]
