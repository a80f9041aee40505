"""The typed Python API (``productstudio.api``, re-exported at the top level) on real photos:
each call does what its CLI command does, with the same parameters and errors."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

import productstudio
from conftest import shared_path
from productstudio import api
from productstudio.errors import CorruptImageError, InvalidParamsError, RecipeError
from productstudio.imaging import load_image
from productstudio.ops.adjust import AdjustParams
from productstudio.ops.cutout import CutoutParams
from productstudio.ops.recolour import RecolourParams


@pytest.fixture(scope="module")
def packshot() -> np.ndarray:
    """A real retailer packshot on white (GroceryStoreDataset, MIT), 198x198."""
    return load_image(shared_path("data", "products", "images", "grocery_iconic_00.jpg")).pixels


@pytest.fixture(scope="module")
def packshot_bytes() -> bytes:
    return shared_path("data", "products", "images", "grocery_iconic_00.jpg").read_bytes()


def test_top_level_reexports_without_loading_the_api() -> None:
    """``import productstudio`` stays light; ``productstudio.cut_out`` is the API's function."""
    code = (
        "import sys, productstudio\n"
        "print('productstudio.api' in sys.modules, 'numpy' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
    assert productstudio.cut_out is api.cut_out
    assert set(productstudio.__all__) - {"__version__"} <= set(api.__all__)
    with pytest.raises(AttributeError):
        _ = productstudio.no_such_name  # type: ignore[attr-defined]


def test_cut_out_keeps_opaque_pixels_exact(packshot: np.ndarray, packshot_bytes: bytes) -> None:
    """RGBA out; every alpha-255 pixel keeps its source colour; bytes and arrays agree."""
    res = api.cut_out(packshot, segmenter="classical")
    assert res.image.shape == (*packshot.shape[:2], 4) and res.image.dtype == np.uint8
    assert res.backend == "classical" and res.confidence is not None
    opaque = res.image[..., 3] == 255
    assert 0.1 < opaque.mean() < 0.9
    np.testing.assert_array_equal(res.image[opaque][:, :3], packshot[opaque])
    assert res.image[0, 0, 3] == 0  # the white corner is background
    from_bytes = api.cut_out(packshot_bytes, segmenter="classical", params=CutoutParams())
    np.testing.assert_array_equal(from_bytes.image, res.image)


def test_cut_out_with_real_weights(packshot: np.ndarray, weights_dir: Path) -> None:
    """A model file path works like ``--model PATH``; an RGBA input can be used as it is."""
    res = api.cut_out(packshot, segmenter=weights_dir / "segmentation" / "u2netp.onnx")
    assert res.backend == "u2netp" and res.image[99, 99, 3] == 255
    again = api.cut_out(res.image, use_input_alpha=True)
    assert again.backend == "input-alpha" and again.confidence is None
    np.testing.assert_array_equal(again.image, res.image)


def test_main_image_then_check_passes(packshot: np.ndarray) -> None:
    """The amazon-main preset makes an image that no amazon-main rule fails, while the raw
    photo (198 px, not square-filled) fails; the slow text rule can be skipped."""
    res = api.main_image(packshot, "amazon-main", segmenter="classical")
    assert res.pixels.shape == (2000, 2000, 3)
    data = res.encode_bytes()
    assert data[:2] == b"\xff\xd8"
    report = api.check(data, "amazon-main", segmenter="classical", text_detector=None)
    assert not report.failed, report.to_dict()
    assert report.get("dimensions").status.value == "pass"
    raw = api.check(packshot, "amazon-main", segmenter="classical", text_detector=None)
    assert raw.failed and raw.get("dimensions").status.value == "fail"


def test_recolour_changes_only_the_product(packshot: np.ndarray) -> None:
    cut = api.cut_out(packshot, segmenter="classical").image
    red = api.recolour(cut, RecolourParams(color="#c0392b"))
    assert red.shape == cut.shape
    np.testing.assert_array_equal(red[..., 3], cut[..., 3])
    inside = cut[..., 3] == 255
    assert red[inside][:, 0].mean() > red[inside][:, 2].mean() + 40
    with pytest.raises(InvalidParamsError):
        RecolourParams(color="not-a-colour")


def test_adjust_auto_and_manual(packshot: np.ndarray) -> None:
    """Neutral params auto-adjust; manual exposure brightens; notes are words."""
    auto = api.adjust(packshot)
    assert auto.image.shape == packshot.shape
    bright = api.adjust(packshot, AdjustParams(exposure_ev=1.0))
    assert bright.image.astype(int).mean() > packshot.astype(int).mean()
    assert all(isinstance(n, str) for n in auto.notes)


def test_erase_touches_only_the_mask(packshot: np.ndarray) -> None:
    mask = np.zeros(packshot.shape[:2], np.float32)
    mask[80:110, 80:110] = 1.0
    out = api.erase(packshot, mask, inpainter="telea")
    outside = mask == 0
    np.testing.assert_array_equal(out[outside], packshot[outside])
    assert not np.array_equal(out[mask == 1], packshot[mask == 1])
    with pytest.raises(InvalidParamsError, match="image's size"):
        api.erase(packshot, mask[:50], inpainter="telea")


def test_erase_text_removes_an_overlay(packshot: np.ndarray) -> None:
    """Text drawn on the real packshot is detected and removed (select=all), the top rows
    far from it untouched."""
    pytest.importorskip("rapidocr_onnxruntime")
    from productstudio.models.text import EraseTextParams, TextSelect

    im = Image.fromarray(packshot)
    ImageDraw.Draw(im).rectangle((0, 150, 197, 197), fill=(20, 20, 20))
    ImageDraw.Draw(im).text((10, 160), "SALE 50% OFF", fill=(255, 255, 255), font_size=22)
    px = np.asarray(im)
    res = api.erase_text(px, EraseTextParams(select=TextSelect.ALL), inpainter="telea")
    assert res.removed >= 1
    assert res.image.shape == packshot.shape
    np.testing.assert_array_equal(res.image[:20], px[:20])


def test_upscale_and_style(packshot: np.ndarray) -> None:
    up = api.upscale(packshot, 2.0)
    assert up.shape == (396, 396, 3)
    with pytest.raises(InvalidParamsError, match=r"\(1, 16\]"):
        api.upscale(packshot, 0.5)
    warm = np.full_like(packshot, (230, 180, 120))
    styled = api.style(packshot, reference=warm, method="lab-stats", strength=1.0)
    assert styled[..., 0].mean() > packshot[..., 0].mean() - 1
    assert styled[..., 2].mean() < packshot[..., 2].mean()
    with pytest.raises(InvalidParamsError, match="exactly one"):
        api.style(packshot)
    with pytest.raises(InvalidParamsError, match="region"):
        api.style(packshot, reference=warm, region="sky")


def test_sample_from_a_saved_tiny_generator(tmp_path: Path) -> None:
    """A random-weight CVAE saved to a folder samples through the API by path; same seed,
    same images."""
    pytest.importorskip("torch")
    from productstudio.models.conditioning.fusion import ConditionConfig, Prompt
    from productstudio.models.data import Vocab
    from productstudio.models.generators import GENERATORS, VAEConfig

    vocab = Vocab.build([{"category": "Shoes"}, {"category": "Bags"}], ("category",))
    cc = ConditionConfig.from_vocab(vocab, text_encoder="hashing", emb_dim=8, out_dim=16)
    GENERATORS.get("vae").from_config(
        VAEConfig(size=16, z_dim=8, channels=4), cc, vocab, seed=0
    ).save_pretrained(tmp_path)
    a = api.sample(tmp_path, Prompt("red shoe", {"category": "Shoes"}), n=3, seed=1)
    b = api.sample(tmp_path, [Prompt("red shoe", {"category": "Shoes"})] * 3, seed=1)
    assert a.shape == (3, 16, 16, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    with pytest.raises(InvalidParamsError):
        api.sample(tmp_path, Prompt(), n=0)


def test_errors_are_the_library_tree() -> None:
    with pytest.raises(CorruptImageError):
        api.cut_out(b"this is not an image", segmenter="classical")
    with pytest.raises(RecipeError, match="unknown preset"):
        api.main_image(np.zeros((8, 8, 3), np.uint8), "no-such-preset")
    buf = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buf, "PNG")
    with pytest.raises(InvalidParamsError):
        api.adjust(buf.getvalue(), mask=np.zeros((2, 2), np.float32))


def test_compose_background_and_shadow(packshot: np.ndarray) -> None:
    """A shadow and a background never change an opaque product pixel; transparent keeps
    RGBA; a scene photo is fitted to the canvas."""
    from productstudio.ops.shadow import ContactShadowParams

    cut = api.cut_out(packshot, segmenter="classical").image
    opaque = cut[..., 3] == 255
    blue = api.compose(cut, background="#3366ff", shadow=ContactShadowParams())
    assert blue.shape == (*cut.shape[:2], 3)
    np.testing.assert_array_equal(blue[opaque], cut[opaque][:, :3])
    assert tuple(blue[0, 0]) == (0x33, 0x66, 0xFF)
    clear = api.compose(cut, background=None)
    np.testing.assert_array_equal(clear, cut)
    scene = np.zeros((50, 400, 3), np.uint8)
    scene[:, :200] = (200, 0, 0)
    on_scene = api.compose(cut, background=scene)
    assert on_scene.shape == (*cut.shape[:2], 3)
    np.testing.assert_array_equal(on_scene[opaque], cut[opaque][:, :3])
