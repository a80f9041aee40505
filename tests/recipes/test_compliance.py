"""Compliance checker: images built to pass and to fail each rule, plus real photos."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import read_manifest, shared_path
from productstudio.imaging import encode_image, load_image
from productstudio.models.segmenters import ClassicalSegmenter
from productstudio.recipes import Recipe, load_recipe
from productstudio.recipes.compliance import (
    Status,
    check_file,
    check_loaded,
    detect_border,
    estimate_jpeg_quality,
)
from productstudio.recipes.compliance.rules import Rules


@dataclass
class _Seg:
    """A stub segmenter: the product is whatever is dark."""

    name: str = "stub"

    def segment(self, rgb: np.ndarray):  # type: ignore[no-untyped-def]
        @dataclass
        class S:
            mask: np.ndarray

        return S((rgb < 150).any(axis=2).astype(np.float32))


def _packshot(w: int = 1000, h: int = 1000, fill: float = 0.9) -> np.ndarray:
    img = np.full((h, w, 3), 255, np.uint8)
    bw, bh = round(w * fill), round(h * fill * 0.8)
    x0, y0 = (w - bw) // 2, (h - bh) // 2
    img[y0 : y0 + bh, x0 : x0 + bw] = (40, 90, 160)
    return img


def _check(pixels: np.ndarray, rules: Rules, fmt: str = "png", quality: int = 95) -> dict:
    data = encode_image(pixels, fmt, quality=quality)
    rep = check_loaded(
        load_image(data, name="x"), rules, data=data, segmenter=_Seg(), text_detector=None
    )
    return {r.rule: r for r in rep.results}


AMAZON = load_recipe("amazon-main").rules


def test_good_packshot_passes_amazon() -> None:
    res = _check(_packshot(), AMAZON, "jpeg", 95)
    for name in ("background", "fill", "dimensions", "format", "borders"):
        assert res[name].status is Status.PASS, (name, res[name])
    # without a text detector the text rule was not checked: a warning, never a silent pass
    assert res["text"].status is Status.WARN and "no text detector" in res["text"].measured


def test_background_rule() -> None:
    img = _packshot()
    img[900:1000, 0:200] = 240  # a grey patch in a corner, apart from the product in the background
    r = _check(img, AMAZON)["background"]
    assert r.status is Status.FAIL and "2.00%" not in r.measured
    img2 = _packshot()
    img2[5, 5] = 200  # one stray pixel: share fine, deviation too large → warn
    assert _check(img2, AMAZON)["background"].status is Status.WARN


def test_fill_rule() -> None:
    assert _check(_packshot(fill=0.6), AMAZON)["fill"].status is Status.FAIL
    assert _check(_packshot(fill=0.85), AMAZON)["fill"].status is Status.PASS


def test_dimensions_rule() -> None:
    assert _check(_packshot(400, 400), AMAZON)["dimensions"].status is Status.FAIL
    r = _check(_packshot(800, 800), AMAZON)["dimensions"]
    assert r.status is Status.WARN and "recommended" in r.message


def test_aspect_and_file_size_rules() -> None:
    rules = load_recipe("walmart").rules
    res = _check(_packshot(1600, 1500), rules)
    assert res["aspect"].status is Status.FAIL
    assert _check(_packshot(1600, 1600), rules)["aspect"].status is Status.PASS
    small = Rules.model_validate({"file_size": {"max_bytes": 1000}})
    assert _check(_packshot(300, 300), small)["file_size"].status is Status.FAIL


def test_format_rule_and_jpeg_quality() -> None:
    assert _check(_packshot(), AMAZON, "png")["format"].status is Status.WARN  # jpeg preferred
    assert _check(_packshot(), AMAZON, "bmp")["format"].status is Status.FAIL
    ebay = load_recipe("ebay").rules
    assert _check(_packshot(), ebay, "jpeg", 75)["format"].status is Status.FAIL
    assert _check(_packshot(), ebay, "jpeg", 92)["format"].status is Status.PASS
    for q in (60, 75, 92):
        assert estimate_jpeg_quality(encode_image(_packshot(200, 200), "jpeg", quality=q)) == q


def test_color_space_rule() -> None:
    buf = io.BytesIO()
    Image.fromarray(_packshot(600, 600)).convert("CMYK").save(buf, "JPEG", quality=95)
    data = buf.getvalue()
    rules = load_recipe("walmart").rules
    rep = check_loaded(
        load_image(data, name="c"), rules, data=data, segmenter=_Seg(), text_detector=None
    )
    assert (
        rep.get("color_space").status is Status.FAIL and "CMYK" in rep.get("color_space").measured
    )
    assert _check(_packshot(600, 600), rules)["color_space"].status is Status.PASS


def test_borders_rule() -> None:
    img = _packshot()
    img[:12], img[-12:], img[:, :12], img[:, -12:] = 0, 0, 0, 0
    assert detect_border(img) == 12
    assert _check(img, AMAZON)["borders"].status is Status.FAIL
    assert detect_border(_packshot()) == 0


def test_text_rule_with_a_detector() -> None:
    """Any text fails with only_overlay off; text inside the product counts as printed."""
    from productstudio.ops.text import TextBox

    class Det:
        def __init__(self, box: TextBox) -> None:
            self.box = box

        def detect(self, rgb: np.ndarray) -> list[TextBox]:
            return [self.box]

    data = encode_image(_packshot(), "jpeg", quality=92)
    inside = TextBox.from_rect(400, 450, 200, 60, score=0.9, text="SALE")
    strict = Rules.model_validate({"text": {"only_overlay": False}})
    rep = check_loaded(
        load_image(data), strict, data=data, segmenter=_Seg(), text_detector=Det(inside)
    )
    assert rep.get("text").status is Status.FAIL and "SALE" in rep.get("text").measured
    assert rep.failed and rep.verdict is Status.FAIL
    rep = check_loaded(
        load_image(data), AMAZON, data=data, segmenter=_Seg(), text_detector=Det(inside)
    )
    assert rep.get("text").status is Status.PASS, rep.get("text")
    assert "printed on the product" in rep.get("text").measured


def test_check_and_erase_text_agree_on_overlaid_text() -> None:
    """`check`'s text rule and `erase-text` classify through one function: the overlaid text
    check reports is the text erase_text removes (weak detections ignored by both)."""
    from productstudio.models.inpainters import load_inpainter
    from productstudio.models.text import erase_text
    from productstudio.ops.text import TextBox

    class Det:
        def detect(self, rgb: np.ndarray) -> list[TextBox]:
            return [
                TextBox.from_rect(20, 20, 200, 50, score=0.9, text="SALE"),  # corner overlay
                TextBox.from_rect(400, 450, 200, 60, score=0.9, text="BRAND"),  # on the product
                TextBox.from_rect(760, 20, 200, 50, score=0.3, text="WEAK"),  # too unsure
            ]

    img = _packshot()
    img[20:70, 20:220] = 20  # the overlays' pixels
    img[20:70, 760:960] = 20
    data = encode_image(img, "png")
    rep = check_loaded(load_image(data), AMAZON, data=data, segmenter=_Seg(), text_detector=Det())
    text = rep.get("text")
    assert text.status is Status.FAIL and text.measured.startswith("1 overlaid text region(s)")
    assert "SALE" in text.measured and "BRAND" not in text.measured.split("(")[0]
    res = erase_text(img, Det(), load_inpainter("telea"))
    removed = [v.box.text for v in res.verdicts if v.kind.value == "overlay"]
    assert res.removed == 1 and removed == ["SALE"]


def test_unconfirmed_rules_only_warn() -> None:
    res = _check(_packshot(400, 400), load_recipe("jd").rules)
    assert res["dimensions"].status is Status.WARN and not res["dimensions"].confirmed


def test_transparent_png_uses_alpha() -> None:
    rgba = np.zeros((1000, 1000, 4), np.uint8)
    rgba[100:950, 100:950] = (10, 20, 30, 255)
    data = encode_image(rgba, "png")
    rep = check_loaded(load_image(data), AMAZON, data=data, segmenter=None, text_detector=None)
    assert rep.get("fill").status is Status.PASS
    assert (
        rep.get("background").status is Status.FAIL
        and rep.get("background").measured == "transparent"
    )


def test_real_photos(tmp_path: Path) -> None:
    """A grocery packshot fails Amazon (198 px); the amazon-main recipe output passes."""
    rows = [
        r
        for r in read_manifest("data", "products", "metadata.csv")
        if r["source"] == "grocery-iconic"
    ]
    path = shared_path("data", "products", rows[0]["file"])
    seg = ClassicalSegmenter()
    before = check_file(path, AMAZON, segmenter=seg, text_detector=None)
    assert before.failed and before.get("dimensions").status is Status.FAIL
    recipe: Recipe = load_recipe("amazon-main")
    from productstudio.recipes import StepContext

    ctx = StepContext()
    ctx.set_segmenter(seg)
    out = recipe.apply(path, ctx).save(tmp_path / "fixed.jpg")
    after = check_file(out, AMAZON, segmenter=seg, text_detector=None)
    assert not after.failed, after.to_dict()
    assert after.get("dimensions").measured == "2000x2000"


@pytest.mark.parametrize(
    "preset",
    [
        "amazon-main",
        "walmart",
        "ebay",
        "google-merchant",
        "zalando",
        "shopify",
        "etsy",
        "taobao",
        "jd",
    ],
)
def test_every_preset_output_passes_its_own_rules(preset: str, tmp_path: Path) -> None:
    """A DIS5K product (ground-truth alpha) run through a preset passes that preset's rules,
    and plain numpy agrees on the key numbers: size, background value and fill."""
    from productstudio.imaging.color import parse_color
    from rgba_photos import real_rgba

    recipe = load_recipe(preset)
    res = recipe.apply(real_rgba("dis_te1_bench_22653754305", long_side=1600))
    out = res.save(tmp_path / f"out{res.suffix}")
    rep = check_file(out, recipe.rules, segmenter=ClassicalSegmenter(), text_detector=None)
    assert not rep.failed, rep.to_dict()
    for r in rep.results:  # no detector: the text rule warns that it was not checked
        expected = (Status.WARN,) if r.rule == "text" else (Status.PASS, Status.SKIP)
        assert r.status in expected, (r.rule, r.status.value, r.measured, r.message)
    # independent of the checker: the file's pixels, read with Pillow
    params = {s.name: s.params for s in recipe.steps}
    canvas = params["canvas"].op()  # type: ignore[attr-defined]
    bg_color = params["background"].color  # type: ignore[attr-defined]
    px = np.asarray(Image.open(out).convert("RGB")).astype(np.int16)
    assert px.shape[1::-1] == canvas.size
    bg = np.asarray(parse_color(bg_color)[:3], np.int16)
    assert (px[:4, :4] == bg).all() and (px[-4:, -4:] == bg).all()  # exact in the corners
    ys, xs = np.nonzero(np.abs(px - bg).max(axis=2) > 24)
    fill = max((np.ptp(xs) + 1) / px.shape[1], (np.ptp(ys) + 1) / px.shape[0])
    assert abs(fill - canvas.fill) <= 0.02, fill
