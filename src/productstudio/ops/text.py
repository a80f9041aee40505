"""Text boxes → masks, and telling overlaid text/watermarks from text printed on the product.

A detector (``productstudio.models.text``) finds text as quadrilaterals (:class:`TextBox`).
This module decides which of them were **overlaid** on the photo (price stickers drawn in
software, "SALE" banners, watermarks, repeated logo tiles: remove by default) and which are
**printed** on the product (packaging, labels: keep by default), and turns boxes into masks.

Evidence for an overlay (each adds to ``overlay_score``; ``>= 0.5`` means overlay):

* **placement**: the box sits in a corner band, or spans a top/bottom banner;
* **uniform colour**: the stroke pixels are one flat, rendered colour;
* **semi-transparency**: the strokes let the texture behind them show through
  (stroke = a·colour + (1-a)·background with 0 < a < 1);
* **crossing the product edge**: part of the box is on the product and part is not, and so
  are the text's own strokes (text printed near a pale product's edge, whose box spills onto
  the background, and OCR reading a thin product's legs or spokes as characters, whose
  "strokes" are the product itself, do not cross);
* **repeated tiles**: three or more boxes of the same size or text (tiled watermarks) — unless
  every one of them lies inside the product (a pattern printed along a cable or a fabric).

Evidence for printed text (subtracts): fully inside the product, rotated/skewed with the
packaging, or a lone recognised character (OCR reads rings and arcs of thin products as
'O' or 'n'; overlays are words, prices and tiles).

Example:
    >>> import numpy as np
    >>> b = TextBox.from_rect(2, 3, 10, 4)
    >>> b.bbox
    (2, 3, 10, 4)
    >>> int(text_mask((12, 16), [b], dilate=0).sum())  # 11 x 5: edges included
    55
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import cv2
import numpy as np
from numpy.typing import NDArray

from productstudio.errors import InvalidParamsError
from productstudio.imaging.color import rgb_to_lab_cv
from productstudio.imaging.types import (
    Image,
    Mask,
    alpha_product_mask,
    as_mask,
    check_image,
    to_uint8,
)
from productstudio.ops.inpaint import cv_inpaint


class TextKind(StrEnum):
    """What a piece of text is."""

    OVERLAY = "overlay"  # drawn over the photo: watermark, banner, sticker
    PRINTED = "printed"  # part of the product (packaging, label)


class TextSelect(StrEnum):
    """Which text :func:`select_boxes` keeps for removal."""

    OVERLAY = "overlay"  # the default: remove overlays, keep packaging text
    ALL = "all"
    PRINTED = "printed"


@dataclass(frozen=True, slots=True)
class TextBox:
    """One detected piece of text.

    Attributes:
        points: the four corners ``((x, y), ...)`` clockwise from top-left, in px.
        score: detection confidence 0..1.
        text: recognised text ('' when recognition was off).
        text_score: recognition confidence 0..1.
    """

    points: tuple[tuple[float, float], ...]
    score: float = 1.0
    text: str = ""
    text_score: float = 0.0

    def __post_init__(self) -> None:
        if len(self.points) < 3:
            raise InvalidParamsError(f"a text box needs at least 3 points, got {len(self.points)}")

    @classmethod
    def from_rect(cls, x: float, y: float, w: float, h: float, **kw: object) -> TextBox:
        """An axis-aligned box from ``x, y, w, h``."""
        pts = ((x, y), (x + w, y), (x + w, y + h), (x, y + h))
        return cls(points=pts, **kw)  # type: ignore[arg-type]

    @property
    def bbox(self) -> tuple[int, int, int, int]:
        """Integer ``(x, y, w, h)`` that contains the box."""
        a = np.asarray(self.points, np.float64)
        x0, y0 = np.floor(a.min(axis=0))
        x1, y1 = np.ceil(a.max(axis=0))
        return int(x0), int(y0), int(x1 - x0), int(y1 - y0)

    @property
    def angle(self) -> float:
        """Rotation of the top edge in degrees (0 = horizontal)."""
        (x0, y0), (x1, y1) = self.points[0], self.points[1]
        return float(np.degrees(np.arctan2(y1 - y0, x1 - x0)))

    def polygon(self) -> NDArray[np.int32]:
        return np.rint(np.asarray(self.points, np.float64)).astype(np.int32)

    def to_dict(self) -> dict[str, object]:
        return {
            "points": [[round(x, 1), round(y, 1)] for x, y in self.points],
            "bbox": list(self.bbox),
            "score": round(self.score, 4),
            "text": self.text,
            "text_score": round(self.text_score, 4),
        }


@dataclass(frozen=True, slots=True)
class TextVerdict:
    """A box, what it is, and why."""

    box: TextBox
    kind: TextKind
    overlay_score: float
    reasons: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        d = self.box.to_dict()
        d.update(kind=self.kind.value, overlay_score=round(self.overlay_score, 3))
        d["reasons"] = list(self.reasons)
        return d


@dataclass(frozen=True, slots=True)
class ClassifyParams:
    """Weights and thresholds of :func:`classify_text` (the defaults are calibrated on
    ``benchmarks/text_removal.py``).

    Attributes:
        threshold: ``overlay_score`` at or above which a box is an overlay.
        edge_band: width of the corner/banner band, as a fraction of the image side.
    """

    threshold: float = 0.5
    edge_band: float = 0.12
    w_corner: float = 0.35
    w_banner: float = 0.45
    w_uniform: float = 0.25
    w_semi: float = 0.6
    w_cross: float = 0.6
    w_repeat: float = 0.6
    w_inside: float = 0.3
    w_rotated: float = 0.3
    w_glyph: float = 0.5  # a single recognised character, not repeated
    uniform_std: float = 3.0  # ΔE-like std of stroke colour below which it is "flat"

    def __post_init__(self) -> None:
        if not 0.0 < self.edge_band < 0.5:
            raise InvalidParamsError("ClassifyParams.edge_band must be in (0, 0.5)")


def text_mask(shape: tuple[int, int], boxes: Sequence[TextBox], *, dilate: int = 2) -> Mask:
    """A float32 (H, W) mask that is 1 inside every box polygon, grown by ``dilate`` px."""
    h, w = shape
    m: np.ndarray = np.zeros((h, w), np.uint8)
    for b in boxes:
        cv2.fillPoly(m, [b.polygon()], 1)
    if dilate > 0 and m.any():
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * dilate + 1, 2 * dilate + 1))
        m = cv2.dilate(m, k)
    return m.astype(np.float32)


def _box_region(shape: tuple[int, int], box: TextBox, pad: int) -> tuple[int, int, int, int]:
    x, y, w, h = box.bbox
    H, W = shape
    return max(0, y - pad), min(H, y + h + pad), max(0, x - pad), min(W, x + w + pad)


def stroke_mask(
    image: Image, box: TextBox, *, dilate: int = 2, strict: bool = False
) -> NDArray[np.bool_]:
    """The text's own pixels inside ``box`` (full-image bool mask), grown by ``dilate`` px.

    Glyph strokes are thin: a morphological top-hat (light text) or black-hat (dark text) of
    the luma with a kernel wider than a stroke isolates them from the background, even a
    textured one or through a semi-transparent watermark. The polarity with the stronger
    response wins; Otsu's threshold splits it. A hole this tight inpaints much better than
    the whole box. ``strict`` keeps only the stronger half of the stroke pixels (no
    anti-aliased edges), used to measure the text's colour.
    """
    check_image(image)
    rgb = to_uint8(image)[..., :3]
    H, W = rgb.shape[:2]
    _x, _y, bw, bh = box.bbox
    pad = max(3, bh // 3)
    y0, y1, x0, x1 = _box_region((H, W), box, pad)
    out = np.zeros((H, W), bool)
    if y1 - y0 < 3 or x1 - x0 < 3:
        return out
    poly = np.zeros((H, W), np.uint8)
    cv2.fillPoly(poly, [box.polygon()], 1)
    inside = poly[y0:y1, x0:x1].astype(bool)
    if inside.sum() < 6:
        return out
    luma = cv2.cvtColor(rgb[y0:y1, x0:x1], cv2.COLOR_RGB2GRAY).astype(np.float32)
    side = min(bw, bh) if min(bw, bh) > 0 else 3
    k = max(3, round(side * 0.6) | 1)
    se = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    outside = ~inside
    ref_luma = float(np.median(luma[outside] if outside.sum() >= 8 else luma[inside]))
    best: NDArray[np.bool_] | None = None
    best_score = -1.0
    for op in (cv2.MORPH_TOPHAT, cv2.MORPH_BLACKHAT):
        resp = cv2.morphologyEx(luma, op, se)
        vals = resp[inside]
        if float(vals.max()) < 8.0:
            continue
        r8 = np.clip(resp, 0, 255).astype(np.uint8)
        thr, _ = cv2.threshold(
            r8[inside].reshape(-1, 1), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU
        )
        thr = max(0.4 * float(thr), 10.0)  # Otsu is pulled up by logos and edges nearby
        sel = (resp > thr) & inside
        if not sel.any():
            continue
        # glyphs run along the whole box (a logo or stain is a compact blob) and differ
        # from the background around the box (the gaps between glyphs do not)
        along = sel.any(axis=0 if bw >= bh else 1)
        span = inside.any(axis=0 if bw >= bh else 1)
        coverage = float(along[span].mean()) if span.any() else 0.0
        score = coverage * abs(float(np.median(luma[sel])) - ref_luma)
        if score > best_score:
            core = sel & (resp >= float(np.median(resp[sel])))
            best_score, best = score, core if strict else sel
    if best is None:
        return out
    s: np.ndarray = best.astype(np.uint8)
    if dilate > 0:
        kk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * dilate + 1, 2 * dilate + 1))
        s = cv2.dilate(s, kk)
    out[y0:y1, x0:x1] = s.astype(bool)
    return out


@dataclass(frozen=True, slots=True)
class BlendFit:
    """A fitted semi-transparent overlay: ``x = alpha·color + (1-alpha)·background``."""

    alpha: float
    color: tuple[float, float, float]
    r2: float


def fit_blend(rgb: np.ndarray, stroke: np.ndarray) -> BlendFit | None:
    """Fit the strokes of a crop as a semi-transparent overlay (0.2 < alpha < 0.85), else None.

    The background behind the strokes is estimated by inpainting them (grown by 2 px so
    anti-aliased edges are not used as a source); one slope ``1 - alpha`` is fitted across the
    three channels (the estimate of the hidden background is rough, so the fit is judged by
    its slope and contrast more than by R²). Needs texture behind the text: on a flat
    background transparency is not observable and the answer is None.
    """
    if stroke.sum() < 12:
        return None
    hole = cv2.dilate(stroke.astype(np.uint8), np.ones((5, 5), np.uint8))
    bg = cv_inpaint(rgb, hole)
    x = rgb[stroke].astype(np.float64)
    b = bg[stroke].astype(np.float64)
    xc, bc = x - x.mean(axis=0), b - b.mean(axis=0)
    bvar = float((bc**2).sum())
    if bvar / bc.size < 25.0:  # background std < 5 levels: nothing shows through
        return None
    v = float((xc * bc).sum()) / bvar
    resid = xc - v * bc
    r2 = 1.0 - float((resid**2).sum()) / max(float((xc**2).sum()), 1e-6)
    contrast = float(np.abs(x - b).mean())
    if not (0.15 < v < 0.8 and r2 > 0.25 and contrast > 30.0):
        return None
    a = 1.0 - v
    c = (x.mean(axis=0) - v * b.mean(axis=0)) / a
    if (c < -30).any() or (c > 285).any():
        return None
    return BlendFit(float(a), (float(c[0]), float(c[1]), float(c[2])), float(r2))


def _semi_transparency(rgb: np.ndarray, stroke: np.ndarray) -> float:
    """0..1 evidence that the strokes are a semi-transparent overlay (see :func:`fit_blend`)."""
    fit = fit_blend(rgb, stroke)
    return 0.0 if fit is None else float(min(1.0, 0.8 + fit.r2))


def unblend(image: Image, box: TextBox) -> tuple[Image, NDArray[np.bool_]] | None:
    """Undo a semi-transparent overlay in ``box`` by inverting the blend, if it is one.

    Stroke pixels are restored as ``(x - alpha·color) / (1 - alpha)``: the photo behind a
    watermark is recovered instead of guessed. Core stroke pixels use the fitted alpha;
    anti-aliased edge pixels get their own alpha (projected on the overlay colour, at most
    the fitted one).

    Returns:
        (image with the strokes restored, the restored pixels), or None when the box is not
        a semi-transparent overlay. Pixels outside the returned mask are bit-identical.
    """
    check_image(image)
    H, W = image.shape[:2]
    rgb = to_uint8(image)[..., :3]
    core = stroke_mask(rgb, box, dilate=0, strict=True)
    loose = stroke_mask(rgb, box, dilate=1)
    _x, _y, _w, bh = box.bbox
    y0, y1, x0, x1 = _box_region((H, W), box, max(4, bh // 2))
    fit = fit_blend(rgb[y0:y1, x0:x1], core[y0:y1, x0:x1])
    if fit is None:
        return None
    a, c = fit.alpha, np.asarray(fit.color, np.float32)
    sub = rgb[y0:y1, x0:x1].astype(np.float32)
    lm, cm = loose[y0:y1, x0:x1], core[y0:y1, x0:x1]
    hole = cv2.dilate(lm.astype(np.uint8), np.ones((3, 3), np.uint8))
    bg = cv_inpaint(rgb[y0:y1, x0:x1], hole).astype(np.float32)
    d = c - bg
    alpha_px = ((sub - bg) * d).sum(axis=2) / np.maximum((d * d).sum(axis=2), 1.0)
    alpha_px = np.clip(alpha_px, 0.0, a)
    alpha_px[cm] = a
    restored = (sub - alpha_px[..., None] * c) / (1.0 - alpha_px[..., None])
    out = image.copy()
    sel = lm
    scale = 257 if image.dtype == np.uint16 else 1
    region = out[y0:y1, x0:x1, :3]
    region[sel] = (np.clip(np.rint(restored[sel]), 0, 255) * scale).astype(image.dtype)
    mask = np.zeros((H, W), bool)
    mask[y0:y1, x0:x1] = sel
    return out, mask


def _line_spans(boxes: Sequence[TextBox]) -> list[float]:
    """For each box, the width spanned by the text line it belongs to (boxes of similar
    height whose vertical centres align); a banner split into words still spans the photo."""
    geo = [b.bbox for b in boxes]
    out = []
    for x, y, w, h in geo:
        cy = y + h / 2.0
        x0, x1 = x, x + w
        for x2, y2, w2, h2 in geo:
            if abs((y2 + h2 / 2.0) - cy) <= 0.4 * max(h, h2) and 0.6 <= h2 / max(h, 1) <= 1.6:
                x0, x1 = min(x0, x2), max(x1, x2 + w2)
        out.append(float(x1 - x0))
    return out


def _repeats(boxes: Sequence[TextBox]) -> list[list[int]]:
    """For each box, the other boxes that look like tiles of the same watermark: the same
    (OCR-fuzzy) text, or the same size when either text is unknown."""
    from difflib import SequenceMatcher

    n = len(boxes)
    alike: list[list[int]] = [[] for _ in range(n)]
    sizes = [b.bbox[2:] for b in boxes]
    texts = [_alnum(b.text) for b in boxes]
    for i in range(n):
        for j in range(n):
            if i == j:
                continue
            wi, hi = sizes[i]
            wj, hj = sizes[j]
            same_size = abs(wi - wj) <= 0.25 * max(wi, wj) and abs(hi - hj) <= 0.25 * max(hi, hj)
            ti, tj = texts[i], texts[j]
            if ti and tj:
                similar = (
                    min(len(ti), len(tj)) >= 3 and SequenceMatcher(None, ti, tj).ratio() >= 0.6
                )
                if similar and (same_size or ti == tj):
                    alike[i].append(j)
            elif same_size:
                alike[i].append(j)
    return alike


def _alnum(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


def _product_share(pm: np.ndarray, box: TextBox) -> float:
    """Share of the box's polygon on the product mask ``pm`` (bool, H×W)."""
    poly = np.zeros(pm.shape, np.uint8)
    cv2.fillPoly(poly, [box.polygon()], 1)
    inside = poly.astype(bool)
    return float(pm[inside].mean()) if inside.any() else 0.0


def _strokes_on_product(pm: np.ndarray, stroke: NDArray[np.bool_]) -> bool:
    """Whether (almost) all of the text's own stroke pixels lie on the product: then it is not
    crossing the edge, whatever its box does (at least 8 stroke pixels needed to tell)."""
    return int(stroke.sum()) >= 8 and float(pm[stroke].mean()) >= 0.97


def classify_text(
    image: Image,
    boxes: Sequence[TextBox],
    product_mask: np.ndarray | None = None,
    params: ClassifyParams | None = None,
) -> list[TextVerdict]:
    """Decide for each box whether it is overlaid or printed; see the module docstring.

    Args:
        image: (H, W, 3|4) uint8/uint16 (alpha, if any, is the product mask when none is given).
        boxes: detections.
        product_mask: optional (H, W) mask of the product.

    Returns:
        One :class:`TextVerdict` per box, in order.
    """
    p = params or ClassifyParams()
    check_image(image)
    H, W = image.shape[:2]
    rgb = to_uint8(image)[..., :3]
    pm: np.ndarray | None = None
    if product_mask is not None:
        pm = as_mask(product_mask, shape=(H, W), name="product_mask") >= 0.5
    elif (own := alpha_product_mask(image)) is not None:
        pm = own >= 0.5
    lab_full = rgb_to_lab_cv(rgb)
    alike = _repeats(boxes)
    strokes = [stroke_mask(rgb, b, dilate=0, strict=True) for b in boxes]
    on_product = [_product_share(pm, b) for b in boxes] if pm is not None else None
    banner_span = _line_spans(boxes)
    band_x, band_y = p.edge_band * W, p.edge_band * H
    out: list[TextVerdict] = []
    for i, b in enumerate(boxes):
        score = 0.0
        why: list[str] = []
        x, y, w, h = b.bbox
        near_l, near_r = x <= band_x, x + w >= W - band_x
        near_t, near_b = y <= band_y, y + h >= H - band_y
        if (near_l or near_r) and (near_t or near_b) and w < 0.6 * W:
            score += p.w_corner
            why.append("placed in a corner")
        ang = abs(b.angle)
        ang = min(ang, abs(180 - ang))
        # a banner is rendered level; a line merged with neighbours only counts when level
        level = ang < 2.0
        if (near_t or near_b) and (w >= 0.5 * W or (level and banner_span[i] >= 0.5 * W)):
            score += p.w_banner
            why.append("spans a top/bottom banner")
        stroke = strokes[i]
        if int(stroke.sum()) >= 8:
            core = cv2.erode(stroke.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
            vals = lab_full[core] if core.sum() >= 8 else lab_full[stroke]
            mad = np.median(np.abs(vals - np.median(vals, axis=0)), axis=0) * 1.4826
            std = float(np.sqrt((mad**2).sum()))  # robust: anti-aliased edge pixels ignored
            if std < p.uniform_std:
                score += p.w_uniform
                why.append(f"flat rendered colour (std {std:.1f})")
            y0, y1, x0, x1 = _box_region((H, W), b, max(4, h // 2))
            semi = _semi_transparency(rgb[y0:y1, x0:x1], stroke[y0:y1, x0:x1])
            if semi > 0:
                score += p.w_semi * semi
                why.append("semi-transparent (background shows through)")
        if pm is not None and on_product is not None:
            frac = on_product[i]
            if 0.15 < frac < 0.85 and not _strokes_on_product(pm, strokes[i]):
                score += p.w_cross
                why.append(f"crosses the product edge ({frac:.0%} on the product)")
            elif frac >= 0.97:
                score -= p.w_inside
                why.append("inside the product")
        group = [i, *alike[i]]
        if len(group) >= 3:
            if on_product is not None and all(on_product[j] >= 0.97 for j in group):
                why.append(f"repeated on the product ({len(group)} alike: a printed pattern)")
            else:
                score += p.w_repeat
                why.append(f"repeated tile ({len(group)} alike)")
        elif len(_alnum(b.text)) == 1:
            # OCR reads rings, hooks and arcs of thin products as one letter ('O', 'n');
            # overlaid text is words, prices and repeated tiles
            score -= p.w_glyph
            why.append(f"a lone glyph ({b.text!r}: more likely a shape than text)")
        if ang > 3.0:
            score -= p.w_rotated
            why.append(f"rotated {ang:.0f}° with the product")
        kind = TextKind.OVERLAY if score >= p.threshold else TextKind.PRINTED
        out.append(TextVerdict(b, kind, float(score), tuple(why)))
    return out


def select_boxes(verdicts: Sequence[TextVerdict], which: TextSelect) -> list[TextBox]:
    """The boxes to remove for ``which``."""
    sel = TextSelect(which)
    if sel is TextSelect.ALL:
        return [v.box for v in verdicts]
    kind = TextKind.OVERLAY if sel is TextSelect.OVERLAY else TextKind.PRINTED
    return [v.box for v in verdicts if v.kind is kind]


def removal_mask(
    image: Image, boxes: Sequence[TextBox], *, tight: bool = True, dilate: int = 2
) -> Mask:
    """The hole to inpaint for ``boxes``: the strokes only (``tight``) or the whole boxes.

    A tight mask falls back to the whole box when the stroke split finds almost nothing.
    """
    check_image(image)
    H, W = image.shape[:2]
    if not tight:
        return text_mask((H, W), boxes, dilate=dilate)
    m = np.zeros((H, W), bool)
    for b in boxes:
        s = stroke_mask(image, b, dilate=dilate)
        w, h = b.bbox[2:]
        if s.sum() < 0.05 * max(w * h, 1):
            s = text_mask((H, W), [b], dilate=dilate) > 0
        m |= s
    return m.astype(np.float32)


__all__ = [
    "BlendFit",
    "ClassifyParams",
    "TextBox",
    "TextKind",
    "TextSelect",
    "TextVerdict",
    "classify_text",
    "fit_blend",
    "removal_mask",
    "select_boxes",
    "stroke_mask",
    "text_mask",
    "unblend",
]
