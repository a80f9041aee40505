"""ops/text: boxes → masks, stroke masks, overlay-vs-printed classification."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from productstudio.errors import InvalidParamsError
from productstudio.ops.text import (
    ClassifyParams,
    TextBox,
    TextKind,
    TextSelect,
    classify_text,
    removal_mask,
    select_boxes,
    stroke_mask,
    text_mask,
    unblend,
)
from rgba_photos import real_rgba


def _textured(h: int = 240, w: int = 320, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = cv2.resize(rng.integers(40, 220, (h // 8, w // 8, 3)).astype(np.uint8), (w, h))
    return cv2.GaussianBlur(base, (0, 0), 2)


def _draw(
    img: np.ndarray,
    text: str,
    org: tuple[int, int],
    color: tuple[int, int, int],
    alpha: float = 1.0,
    scale: float = 1.0,
) -> tuple[np.ndarray, TextBox]:
    """Render text with known opacity; return the image and its tight box."""
    m = np.zeros(img.shape[:2], np.uint8)
    cv2.putText(m, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, 255, 2, cv2.LINE_AA)
    a = (m.astype(np.float32) / 255.0 * alpha)[..., None]
    out = (img * (1 - a) + np.array(color, np.float32) * a).astype(np.uint8)
    ys, xs = np.nonzero(m)
    box = TextBox.from_rect(
        xs.min() - 2, ys.min() - 2, xs.max() - xs.min() + 5, ys.max() - ys.min() + 5, text=text
    )
    return out, box


def test_textbox_geometry_and_masks() -> None:
    b = TextBox(points=((10, 10), (50, 14), (49, 30), (9, 26)), score=0.9, text="abc")
    x, y, w, h = b.bbox
    assert (x, y) == (9, 10) and w == 41 and h == 20
    assert 5 < b.angle < 6
    m = text_mask((40, 60), [b], dilate=0)
    assert m.dtype == np.float32 and m[18, 30] == 1 and m[2, 2] == 0
    assert text_mask((40, 60), [b], dilate=3).sum() > m.sum()
    assert b.to_dict()["bbox"] == [9, 10, 41, 20]
    with pytest.raises(InvalidParamsError):
        TextBox(points=((0, 0), (1, 1)))
    with pytest.raises(InvalidParamsError):
        ClassifyParams(edge_band=0.7)


def test_stroke_mask_is_tight() -> None:
    """The stroke mask covers the glyphs but far less than the box."""
    img, box = _draw(np.full((80, 200, 3), 230, np.uint8), "SALE", (20, 50), (200, 20, 20))
    s = stroke_mask(img, box, dilate=0)
    box_area = box.bbox[2] * box.bbox[3]
    assert 0.1 * box_area < s.sum() < 0.7 * box_area
    red = (img[..., 0] > 150) & (img[..., 1] < 120)
    assert s[red].mean() > 0.8
    tight = removal_mask(img, [box], tight=True, dilate=1)
    loose = removal_mask(img, [box], tight=False, dilate=1)
    assert tight.sum() < loose.sum()


def test_corner_banner_and_repeated_tiles_are_overlays() -> None:
    img = _textured()
    img, corner = _draw(img, "-50%", (6, 28), (255, 255, 255))
    img, banner = _draw(img, "FREE SHIPPING TODAY ONLY", (8, 232), (255, 255, 0), scale=0.85)
    v = classify_text(img, [corner, banner])
    assert [x.kind for x in v] == [TextKind.OVERLAY, TextKind.OVERLAY]
    assert any("corner" in r for r in v[0].reasons) and any("banner" in r for r in v[1].reasons)
    tiles = []
    for org in ((90, 90), (200, 90), (90, 170), (200, 170)):
        img, b = _draw(img, "shop", org, (255, 255, 255), alpha=0.5)
        tiles.append(b)
    vt = classify_text(img, tiles)
    assert all(x.kind is TextKind.OVERLAY for x in vt)
    assert all(any("repeated" in r for r in x.reasons) for x in vt)


def test_semi_transparent_watermark_is_detected_as_such() -> None:
    img, b = _draw(
        _textured(seed=3), "WATERMARK", (70, 130), (255, 255, 255), alpha=0.45, scale=1.2
    )
    v = classify_text(img, [b])[0]
    assert v.kind is TextKind.OVERLAY
    assert any("semi-transparent" in r for r in v.reasons)


def test_text_inside_the_product_and_rotated_is_printed() -> None:
    """Text printed on the product (inside its alpha, rotated with it) is kept."""
    rgba = real_rgba(long_side=320)
    rgb = np.ascontiguousarray(rgba[..., :3])
    ys, xs = np.nonzero(rgba[..., 3] > 250)
    cy, cx = int(np.median(ys)), int(np.median(xs))
    m = np.zeros(rgb.shape[:2], np.uint8)
    cv2.putText(m, "BRAND", (cx - 40, cy), cv2.FONT_HERSHEY_SIMPLEX, 0.8, 255, 2, cv2.LINE_AA)
    rot = cv2.getRotationMatrix2D((cx, cy), 12, 1.0)
    m = cv2.warpAffine(m, rot, (m.shape[1], m.shape[0]))
    a = (m / 255.0)[..., None]
    rgb = (rgb * (1 - a) + np.array([20, 20, 90]) * a).astype(np.uint8)
    pts = cv2.boxPoints(cv2.minAreaRect(cv2.findNonZero(m)))
    box = TextBox(points=tuple((float(x), float(y)) for x, y in pts))
    v = classify_text(rgb, [box], product_mask=rgba[..., 3])[0]
    assert v.kind is TextKind.PRINTED, v.reasons


def test_crossing_the_product_edge_is_overlay_evidence() -> None:
    img = _textured()
    pm = np.zeros(img.shape[:2], np.float32)
    pm[:, :160] = 1
    img, b = _draw(img, "CROSSING", (110, 130), (10, 10, 10))
    v = classify_text(img, [b], product_mask=pm)[0]
    assert any("crosses" in r for r in v.reasons) and v.overlay_score >= 0.5


def test_crossing_is_judged_on_the_strokes_not_the_box() -> None:
    """A word printed on a white product near its edge (the white product merges with a white
    canvas, so the mask is the print itself and the box spills off it) and a thin product's
    dark legs that OCR reads as characters do not cross the edge: their strokes are on the
    product. The same box, with the product mask ending mid-word, still crosses."""
    img = np.full((240, 320, 3), 255, np.uint8)
    img, b = _draw(img, "LY!", (110, 130), (20, 20, 20), scale=1.5)
    printed_mask = (img.min(axis=2) < 200).astype(np.float32)  # only the print differs
    v = classify_text(img, [b], product_mask=printed_mask)[0]
    assert not any("crosses" in r for r in v.reasons), v.reasons
    assert v.kind is TextKind.PRINTED, v.reasons
    x, _y, w, _h = b.bbox
    half = np.zeros_like(printed_mask)
    half[:, : x + w // 2] = 1
    v_half = classify_text(img, [b], product_mask=half)[0]
    assert any("crosses" in r for r in v_half.reasons), v_half.reasons


def test_a_lone_glyph_across_a_thin_product_is_not_overlay() -> None:
    """OCR reads a ring or hook of a thin product as one letter: flat colour and crossing the
    edge alone do not make it an overlay; the same evidence on a word does."""
    img = _textured()
    pm = np.zeros(img.shape[:2], np.float32)
    pm[:, :160] = 1
    img, word = _draw(img, "CROSSING", (110, 130), (10, 10, 10))
    img2, glyph = _draw(_textured(), "O", (150, 130), (10, 10, 10), scale=2.0)
    pm2 = np.zeros(img.shape[:2], np.float32)
    pm2[:, :165] = 1
    v_word = classify_text(img, [word], product_mask=pm)[0]
    v_glyph = classify_text(img2, [glyph], product_mask=pm2)[0]
    assert any("crosses" in r for r in v_glyph.reasons), v_glyph.reasons
    assert v_word.kind is TextKind.OVERLAY
    assert v_glyph.kind is TextKind.PRINTED, v_glyph.reasons
    assert any("lone glyph" in r for r in v_glyph.reasons)


def test_text_repeated_on_the_product_is_a_printed_pattern() -> None:
    """The same marking repeated along a product (all inside it) is printed; the same tiles
    reaching the background are a tiled watermark."""
    img = _textured()
    boxes = []
    for org in ((40, 60), (40, 120), (40, 180)):
        img, b = _draw(img, "200V", org, (250, 250, 250), scale=0.8)
        boxes.append(b)
    on = np.zeros(img.shape[:2], np.float32)
    on[:, :140] = 1  # every tile on the product
    printed = classify_text(img, boxes, product_mask=on)
    assert all(v.kind is TextKind.PRINTED for v in printed), [v.reasons for v in printed]
    assert all(any("repeated on the product" in r for r in v.reasons) for v in printed)
    part = on.copy()
    part[150:, :] = 0  # the last tile lies on the background
    tiled = classify_text(img, boxes, product_mask=part)
    assert all(any(r.startswith("repeated tile") for r in v.reasons) for v in tiled)
    assert tiled[2].kind is TextKind.OVERLAY


def test_select_boxes() -> None:
    img, corner = _draw(_textured(), "-50%", (6, 28), (255, 255, 255))
    center = TextBox.from_rect(150, 110, 30, 12)
    v = classify_text(img, [corner, center])
    assert select_boxes(v, TextSelect.ALL) == [corner, center]
    assert corner in select_boxes(v, TextSelect.OVERLAY)
    assert center in select_boxes(v, TextSelect.PRINTED)


@pytest.mark.parametrize("alpha", [0.3, 0.5, 0.7])
def test_unblend_recovers_the_photo_behind_a_watermark(alpha: float) -> None:
    """Inverting a fitted semi-transparent blend beats leaving it by far; exact elsewhere."""
    orig = _textured(seed=3)
    img, b = _draw(orig, "WATERMARK", (70, 130), (255, 255, 255), alpha=alpha, scale=1.2)
    res = unblend(img, b)
    assert res is not None
    out, m = res
    assert np.array_equal(out[~m], img[~m])
    hit = np.abs(img.astype(int) - orig).max(axis=2) > 3
    before = np.abs(img.astype(int) - orig)[hit].mean()
    after = np.abs(out.astype(int) - orig)[hit].mean()
    assert after < 0.3 * before


def test_unblend_declines_opaque_text() -> None:
    img, b = _draw(_textured(seed=3), "OPAQUE", (70, 130), (255, 255, 255), alpha=1.0, scale=1.2)
    assert unblend(img, b) is None
