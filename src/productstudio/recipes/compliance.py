"""Compliance checker: does an image meet a marketplace's rules, and why not?

:func:`check_file` (or :func:`check_loaded`) measures an image against a recipe's
:class:`~productstudio.recipes.rules.Rules` and returns a :class:`ComplianceReport`: one
:class:`RuleResult` per rule with ``pass``/``warn``/``fail``/``skip``, the measured value and the
limit. An unconfirmed rule (``confirmed: false``) or one with ``severity: warn`` never fails.

How things are measured:

* **Product mask**: the image's own alpha when it has transparency; else, when the rules ask
  for a background colour and the picture's outer edge is mostly that colour, every pixel
  that differs from it by more than ``max_deviation`` (small specks dropped: they count as
  stray marks on the background); else the segmenter (``load_segmenter("auto")`` unless one
  is passed in), thresholded at 0.5. Learned segmenters are unreliable on clean packshots
  (IS-Net marks most of a white frame as foreground), hence the colour rule first.
* **Background purity**: over the non-product pixels farther than a small band from the product
  (``max(8 px, 0.6 % of the long side)``: JPEG ringing and anti-aliased edges live there), the
  share of pixels exactly equal to the required colour, and the worst per-channel deviation.
* **Fill**: the product's bounding box over the frame, along its limiting side; with a
  background rule, pixels next to the mask that differ from the background colour (soft
  edges the mask misses) count as product too.
* **Borders**: all four outermost lines uniform, of one colour, a few px thick, with a different
  picture inside.
* **JPEG quality**: estimated from the luminance quantisation table against the IJG table.
* **Text / watermarks**: through the optional text detector in ``productstudio.models.text``
  (``load_text_detector("auto").detect(rgb)``); without one the rule is skipped. By default
  only text that :func:`productstudio.ops.text.classify_text` calls *overlaid* (watermarks,
  banners, stickers) counts; text printed on the packaging is reported but allowed.
"""

from __future__ import annotations

import importlib
import io
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from productstudio.errors import BackendError, InputError
from productstudio.imaging.color import parse_color
from productstudio.imaging.io import LoadedImage, load_image
from productstudio.imaging.types import to_uint8
from productstudio.recipes.rules import (
    AspectRule,
    BackgroundRule,
    BordersRule,
    ColorSpaceRule,
    DimensionsRule,
    FileSizeRule,
    FillRule,
    FormatRule,
    Rule,
    Rules,
    Severity,
    TextRule,
)

log = logging.getLogger(__name__)


class Status(StrEnum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"


@dataclass(frozen=True)
class RuleResult:
    """One rule's verdict."""

    rule: str
    status: Status
    measured: str
    limit: str
    message: str = ""
    source: str = ""
    confirmed: bool = True


@dataclass
class ComplianceReport:
    """All verdicts for one image."""

    file: str
    results: list[RuleResult] = field(default_factory=list)
    preset: str | None = None

    @property
    def failed(self) -> bool:
        return any(r.status is Status.FAIL for r in self.results)

    @property
    def verdict(self) -> Status:
        for s in (Status.FAIL, Status.WARN):
            if any(r.status is s for r in self.results):
                return s
        return Status.PASS

    def get(self, rule: str) -> RuleResult:
        for r in self.results:
            if r.rule == rule:
                return r
        raise KeyError(rule)

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "preset": self.preset,
            "verdict": self.verdict.value,
            "results": [{**asdict(r), "status": r.status.value} for r in self.results],
        }


# -- helpers ------------------------------------------------------------------------------
_IJG_LUMA = np.array(
    [
        16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
        14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
        18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
        49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
    ],
    np.float64,
)  # fmt: skip


def estimate_jpeg_quality(data: bytes) -> int | None:
    """IJG-style quality (1..100) estimated from a JPEG's luminance quantisation table."""
    from PIL import Image as PILImage

    try:
        with PILImage.open(io.BytesIO(data)) as im:
            tables = getattr(im, "quantization", None)
    except OSError:
        return None
    if not tables or 0 not in tables:
        return None
    q = np.asarray(list(tables[0]), np.float64)
    if q.size != 64:
        return None
    scale = 100.0 * q.sum() / _IJG_LUMA.sum()
    quality = (200.0 - scale) / 2.0 if scale <= 100.0 else 5000.0 / scale
    return int(np.clip(round(quality), 1, 100))


def detect_border(rgb: np.ndarray, tol: int = 12) -> int:
    """Thickness in px of a uniform frame around the picture (0 = none)."""
    h, w = rgb.shape[:2]
    maxd = max(2, round(0.05 * min(h, w)))
    img = rgb.astype(np.int16)
    sides = [
        img[:maxd],
        img[::-1][:maxd],
        img[:, :maxd].transpose(1, 0, 2),
        img[:, ::-1][:, :maxd].transpose(1, 0, 2),
    ]
    colours = []
    thick = []
    for s in sides:
        outer = np.median(s[0], axis=0)
        t = 0
        for d in range(s.shape[0]):
            dev = np.abs(s[d] - outer).max(axis=1)
            if float((dev <= tol).mean()) < 0.98:
                break
            t += 1
        colours.append(outer)
        thick.append(t)
    if min(thick) == 0 or max(thick) >= maxd:
        return 0
    if max(float(np.abs(c - colours[0]).max()) for c in colours) > tol:
        return 0
    return int(min(thick))


def _text_detector() -> Any | None:
    """The optional text detector (``productstudio.models.text``), or None."""
    try:
        mod = importlib.import_module("productstudio.models.text")
    except ImportError:
        return None
    loader = getattr(mod, "load_text_detector", None)
    if loader is None:
        return None
    try:
        return loader("auto")
    except (BackendError, ImportError) as exc:
        log.debug("text detector unavailable: %s", exc)
        return None


def _score(item: Any) -> float:
    if isinstance(item, dict):
        return float(item.get("score", 1.0))
    return float(getattr(item, "score", getattr(item, "confidence", 1.0)))


# -- the checker --------------------------------------------------------------------------
class _Measure:
    def __init__(
        self,
        loaded: LoadedImage,
        data: bytes | None,
        segmenter: Any | None,
        text_detector: Any | Callable[[], Any] | None,
    ) -> None:
        self.loaded = loaded
        self.data = data
        self.rgb = np.ascontiguousarray(to_uint8(loaded.pixels)[..., :3])
        self.alpha = to_uint8(loaded.pixels)[..., 3] if loaded.pixels.shape[2] == 4 else None
        self._segmenter = segmenter
        self._mask: np.ndarray | None = None
        self.mask_source = ""
        self._text = text_detector
        self.bg_color: tuple[int, int, int] | None = None
        self.bg_tolerance = 8

    @property
    def transparent(self) -> bool:
        return self.alpha is not None and bool((self.alpha < 255).any())

    def mask(self) -> np.ndarray:
        if self._mask is None:
            if self.transparent:
                assert self.alpha is not None
                self._mask = self.alpha > 127
                self.mask_source = "alpha"
            elif self.bg_color is not None and self._plain_border():
                self._mask = self._colour_mask()
                self.mask_source = "difference from the background colour"
            else:
                seg = self._segmenter
                if seg is None:
                    from productstudio.models.segmenters import load_segmenter

                    seg = load_segmenter("auto")
                    self._segmenter = seg
                self._mask = seg.segment(self.rgb).mask > 0.5
                self.mask_source = getattr(seg, "name", "segmenter")
        return self._mask

    def _deviation(self) -> np.ndarray:
        assert self.bg_color is not None
        col = np.asarray(self.bg_color, np.int16)
        return np.asarray(np.abs(self.rgb.astype(np.int16) - col).max(axis=2))

    def _plain_border(self) -> bool:
        """Most of the picture's outer 2 px are the required background colour."""
        dev = self._deviation()
        edge = np.concatenate(
            [dev[:2].ravel(), dev[-2:].ravel(), dev[:, :2].ravel(), dev[:, -2:].ravel()]
        )
        return bool((edge <= self.bg_tolerance).mean() >= 0.6)

    def _colour_mask(self) -> np.ndarray:
        """Product = everything that differs from the background colour, specks removed."""
        raw = (self._deviation() > self.bg_tolerance).astype(np.uint8)
        differs = np.asarray(cv2.morphologyEx(raw, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8)))
        n, labels, stats, _ = cv2.connectedComponentsWithStats(differs, connectivity=8)
        if n <= 1:
            return np.zeros(differs.shape, bool)
        areas = stats[1:, cv2.CC_STAT_AREA]
        keep = np.zeros(n, bool)
        keep[1:] = areas >= max(50.0, 0.01 * float(areas.max()))
        # patches touching the frame (other than the product itself) are background faults
        h, w = differs.shape
        x, y = stats[:, cv2.CC_STAT_LEFT], stats[:, cv2.CC_STAT_TOP]
        bw, bh = stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT]
        touches = (x == 0) | (y == 0) | (x + bw == w) | (y + bh == h)
        largest = 1 + int(np.argmax(areas))
        touches[largest] = False
        keep &= ~touches
        return np.asarray(keep[labels])

    def text_detector(self) -> Any | None:
        if callable(self._text) and not hasattr(self._text, "detect"):
            self._text = self._text()
        return self._text


def _verdict(rule: Rule, ok: bool, warn: bool = False) -> Status:
    if ok and not warn:
        return Status.PASS
    if ok and warn:
        return Status.WARN
    if not rule.confirmed or rule.severity is Severity.WARN:
        return Status.WARN
    return Status.FAIL


def _res(
    name: str, rule: Rule, status: Status, measured: str, limit: str, msg: str = ""
) -> RuleResult:
    if not rule.confirmed and status is Status.WARN and msg:
        msg += " (unconfirmed rule: warning only)"
    return RuleResult(name, status, measured, limit, msg, rule.source, rule.confirmed)


def _check_background(m: _Measure, r: BackgroundRule) -> RuleResult:
    col = np.asarray(parse_color(r.color)[:3], np.int16)
    limit = f"{r.color} on >= {r.min_share:.0%} of background, deviation <= {r.max_deviation}"
    if m.transparent:
        st = _verdict(r, False)
        return _res("background", r, st, "transparent", limit, "flatten over the colour")
    fg = m.mask().astype(np.uint8)
    h, w = fg.shape
    rad = max(8, round(0.006 * max(h, w)))
    near = cv2.dilate(fg, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * rad + 1,) * 2))
    bg = near == 0
    if bg.sum() < 0.01 * fg.size:
        return _res(
            "background", r, Status.SKIP, "no background", limit, "the product fills the frame"
        )
    px = m.rgb[bg].astype(np.int16)
    dev = np.abs(px - col).max(axis=1)
    share = float((dev == 0).mean())
    worst = int(dev.max())
    ok = share >= r.min_share
    st = _verdict(r, ok, warn=worst > r.max_deviation)
    n_off = int((dev > r.max_deviation).sum())
    if st is Status.PASS:
        msg = ""
    elif not ok:
        msg = f"{1 - share:.2%} of the background is not exactly {r.color}"
    else:
        msg = (
            f"{n_off} px deviate by more than {r.max_deviation} "
            "(stray marks, or product parts the mask missed)"
        )
    return _res("background", r, st, f"{share:.2%} exact, worst deviation {worst}", limit, msg)


def _check_fill(m: _Measure, r: FillRule, bg_color: str | None = None) -> RuleResult:
    fg = m.mask()
    if bg_color is not None and not m.transparent:
        # soft, anti-aliased edges the mask misses still occupy the frame: add the pixels
        # near the product that differ from the background colour
        col = np.asarray(parse_color(bg_color)[:3], np.int16)
        h, w = fg.shape
        rad = max(8, round(0.006 * max(h, w)))
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * rad + 1,) * 2)
        near = cv2.dilate(fg.astype(np.uint8), k) > 0
        differs = np.abs(m.rgb.astype(np.int16) - col).max(axis=2) > 8
        fg = fg | (near & differs)
    ys, xs = np.nonzero(fg)
    lim = " and ".join(
        s
        for s in (
            (f">= {r.min:.0%}" if r.min is not None else ""),
            (f"<= {r.max:.0%}" if r.max is not None else ""),
        )
        if s
    )
    if ys.size == 0:
        return _res(
            "fill", r, _verdict(r, False), "no product found", lim, f"mask from {m.mask_source}"
        )
    h, w = fg.shape
    fill = max((xs.max() - xs.min() + 1) / w, (ys.max() - ys.min() + 1) / h)
    ok = (r.min is None or fill >= r.min - r.tolerance) and (
        r.max is None or fill <= r.max + r.tolerance
    )
    msg = "" if ok else f"product box fills {fill:.1%} of the frame (mask from {m.mask_source})"
    return _res("fill", r, _verdict(r, ok), f"{fill:.1%}", lim, msg)


def _check_dimensions(m: _Measure, r: DimensionsRule) -> RuleResult:
    w, h = m.loaded.size
    long, short = max(w, h), min(w, h)
    hard: list[str] = []
    soft: list[str] = []
    lims: list[str] = []

    def need(cond: bool, text: str, lst: list[str]) -> None:
        if not cond:
            lst.append(text)

    if r.min_long:
        lims.append(f"long >= {r.min_long}")
        need(long >= r.min_long, f"long side {long} < {r.min_long}", hard)
    if r.min_short:
        lims.append(f"short >= {r.min_short}")
        need(short >= r.min_short, f"short side {short} < {r.min_short}", hard)
    if r.min_width or r.min_height:
        lims.append(f">= {r.min_width or 0}x{r.min_height or 0}")
        need(w >= (r.min_width or 0) and h >= (r.min_height or 0), f"{w}x{h} below minimum", hard)
    if r.max_long:
        lims.append(f"long <= {r.max_long}")
        need(long <= r.max_long, f"long side {long} > {r.max_long}", hard)
    if r.max_pixels:
        lims.append(f"<= {r.max_pixels / 1e6:g} MP")
        need(w * h <= r.max_pixels, f"{w * h / 1e6:.1f} MP > {r.max_pixels / 1e6:g} MP", hard)
    if r.recommended_long:
        lims.append(f"recommended long >= {r.recommended_long}")
        need(
            long >= r.recommended_long, f"long side {long} < recommended {r.recommended_long}", soft
        )
    if r.recommended_width or r.recommended_height:
        lims.append(f"recommended {r.recommended_width or '-'}x{r.recommended_height or '-'}")
        need(
            w >= (r.recommended_width or 0) and h >= (r.recommended_height or 0),
            f"{w}x{h} below recommended",
            soft,
        )
    st = _verdict(r, not hard, warn=bool(soft))
    return _res("dimensions", r, st, f"{w}x{h}", "; ".join(lims), "; ".join(hard + soft))


def _check_aspect(m: _Measure, r: AspectRule) -> RuleResult:
    w, h = m.loaded.size
    ratio = w / h
    ok = abs(ratio - r.ratio) / r.ratio <= r.tolerance
    msg = "" if ok else f"width/height {ratio:.3f}, needs {r.ratio:.3f}"
    return _res(
        "aspect", r, _verdict(r, ok), f"{ratio:.3f}", f"{r.ratio:.3f} ± {r.tolerance:.0%}", msg
    )


def _check_file_size(m: _Measure, r: FileSizeRule) -> RuleResult:
    lims = []
    if r.min_bytes is not None:
        lims.append(f">= {r.min_bytes / 1000:g} kB")
    if r.max_bytes is not None:
        lims.append(f"<= {r.max_bytes / 1e6:g} MB")
    size = len(m.data) if m.data is not None else m.loaded.file_size
    if not size:
        return _res("file_size", r, Status.SKIP, "no file", ", ".join(lims))
    ok = (r.min_bytes is None or size >= r.min_bytes) and (
        r.max_bytes is None or size <= r.max_bytes
    )
    return _res(
        "file_size", r, _verdict(r, ok), f"{size / 1000:.1f} kB", ", ".join(lims),
        "" if ok else "re-encode (output max_bytes) or resize",
    )  # fmt: skip


def _format_name(fmt: str) -> str:
    f = fmt.lower()
    return {"jpg": "jpeg", "mpo": "jpeg", "tif": "tiff", "heic": "heif"}.get(f, f)


def _check_format(m: _Measure, r: FormatRule) -> RuleResult:
    fmt = _format_name(m.loaded.format)
    lim = "/".join(r.allowed) + (f", prefer {r.preferred}" if r.preferred else "")
    msgs: list[str] = []
    ok = fmt in r.allowed
    if not ok:
        msgs.append(f"{fmt} is not accepted")
    warn = r.preferred is not None and fmt != r.preferred
    if warn:
        msgs.append(f"{r.preferred} preferred")
    measured = fmt
    if r.min_jpeg_quality is not None:
        lim += f", JPEG quality >= {r.min_jpeg_quality}"
        if fmt == "jpeg" and m.data is not None:
            q = estimate_jpeg_quality(m.data)
            if q is not None:
                measured += f" (quality ~{q})"
                if q < r.min_jpeg_quality:
                    ok = False
                    msgs.append(f"JPEG quality ~{q} < {r.min_jpeg_quality}")
    return _res("format", r, _verdict(r, ok, warn), measured, lim, "; ".join(msgs))


def _check_color_space(m: _Measure, r: ColorSpaceRule) -> RuleResult:
    mode = m.loaded.mode
    base = {"RGBA": "RGB", "RGBX": "RGB", "LA": "L", "PA": "P", "I;16": "L", "I": "L"}.get(
        mode, mode
    )
    ok_mode = mode in r.modes or base in r.modes
    icc = "non-sRGB ICC (converted on load)" if m.loaded.icc_converted else "sRGB or none"
    ok_icc = not (r.require_srgb and m.loaded.icc_converted)
    msgs = [] if ok_mode else [f"mode {mode} not accepted"]
    if not ok_icc:
        msgs.append("embed sRGB (convert the colour profile)")
    lim = "/".join(r.modes) + (", sRGB" if r.require_srgb else "")
    return _res(
        "color_space", r, _verdict(r, ok_mode and ok_icc), f"{mode}, {icc}", lim, "; ".join(msgs)
    )


def _check_borders(m: _Measure, r: BordersRule) -> RuleResult:
    t = detect_border(m.rgb)
    ok = r.allowed or t == 0
    return _res(
        "borders", r, _verdict(r, ok), f"{t} px frame" if t else "none",
        "allowed" if r.allowed else "none", "" if ok else "crop the frame off",
    )  # fmt: skip


def _check_text(m: _Measure, r: TextRule) -> RuleResult:
    det = m.text_detector()
    lim = "allowed" if r.allowed else "none"
    if det is None:
        return _res("text", r, Status.SKIP, "skipped: no text detector installed", lim)
    try:
        boxes = det.detect(m.rgb)
    except BackendError as exc:
        return _res("text", r, Status.SKIP, f"skipped: text detector failed ({exc})", lim)
    found = [d for d in boxes if _score(d) >= r.min_score]
    printed = 0
    if r.only_overlay and found:
        try:
            from productstudio.ops.text import TextKind, classify_text
        except ImportError:  # no classifier: every piece of text counts
            pass
        else:
            verdicts = classify_text(m.rgb, found, product_mask=m.mask().astype(np.float32))
            overlay = [v.box for v in verdicts if v.kind is TextKind.OVERLAY]
            printed = len(found) - len(overlay)
            found = overlay
    ok = r.allowed or not found
    words = ", ".join(str(getattr(d, "text", "") or "") for d in found[:5]).strip(", ")
    measured = (
        f"{len(found)} overlaid text region(s)"
        if r.only_overlay
        else f"{len(found)} text region(s)"
    )
    measured += f": {words}" if words else ""
    if printed:
        measured += f" ({printed} printed on the product, allowed)"
    return _res(
        "text", r, _verdict(r, ok), measured, lim, "" if ok else "remove text/logos/watermarks"
    )


_CHECKS: dict[str, Callable[[_Measure, Any], RuleResult]] = {
    "background": _check_background,
    "fill": _check_fill,
    "dimensions": _check_dimensions,
    "aspect": _check_aspect,
    "file_size": _check_file_size,
    "format": _check_format,
    "color_space": _check_color_space,
    "borders": _check_borders,
    "text": _check_text,
}


def check_loaded(
    loaded: LoadedImage,
    rules: Rules,
    *,
    data: bytes | None = None,
    segmenter: Any | None = None,
    text_detector: Any | None = _text_detector,
    preset: str | None = None,
) -> ComplianceReport:
    """Check a loaded image against ``rules``.

    Args:
        loaded: the image (``format``, ``mode``, ``file_size`` are used).
        rules: the recipe's rules.
        data: the file's bytes (file size, JPEG quality); None = use ``loaded.file_size``.
        segmenter: a segmenter for the product mask (None: ``load_segmenter("auto")``, only
            loaded when a rule needs the mask and the image has no transparency).
        text_detector: an object with ``detect(rgb) -> [item with .score]``, a factory, or
            None to skip the text rule.
        preset: name shown in the report.
    """
    m = _Measure(loaded, data, segmenter, text_detector)
    if rules.background is not None:
        m.bg_color = parse_color(rules.background.color)[:3]
        m.bg_tolerance = rules.background.max_deviation
    report = ComplianceReport(loaded.source, preset=preset)
    for name, rule in rules.active():
        if name == "fill":
            bg = rules.background.color if rules.background is not None else None
            report.results.append(_check_fill(m, rule, bg))  # type: ignore[arg-type]
        else:
            report.results.append(_CHECKS[name](m, rule))
    return report


def check_file(
    path: str | Path,
    rules: Rules,
    *,
    segmenter: Any | None = None,
    text_detector: Any | None = _text_detector,
    preset: str | None = None,
) -> ComplianceReport:
    """Read ``path`` and check it (see :func:`check_loaded`).

    Raises:
        InputError: unreadable or corrupt file.
    """
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise InputError(f'Cannot read "{p}": no such file. Check the path.', path=p) from None
    except OSError as exc:
        raise InputError(f'Cannot read "{p}": {exc.strerror or exc}.', path=p) from None
    loaded = load_image(data, name=str(p))
    return check_loaded(
        loaded, rules, data=data, segmenter=segmenter, text_detector=text_detector, preset=preset
    )


__all__ = [
    "ComplianceReport",
    "RuleResult",
    "Status",
    "check_file",
    "check_loaded",
    "detect_border",
    "estimate_jpeg_quality",
]
