"""Compliance checks: does an image meet a marketplace's rules, and why not?

:func:`check_file` (or :func:`check_loaded`) measures an image (:mod:`.measure`) against a
recipe's :class:`~productstudio.recipes.compliance.rules.Rules` and returns a
:class:`~.report.ComplianceReport`: one :class:`~.report.RuleResult` per rule with
``pass``/``warn``/``fail``/``skip``, the measured value and the limit. An unconfirmed rule
(``confirmed: false``) or one with ``severity: warn`` never fails. A rule that cannot be
checked here (no text detector installed) warns: it never passes silently.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from productstudio.errors import BackendError, InputError
from productstudio.imaging.color import parse_color
from productstudio.imaging.io import LoadedImage, load_image
from productstudio.recipes.compliance.measure import (
    Measure,
    default_text_detector,
    detect_border,
    estimate_jpeg_quality,
)
from productstudio.recipes.compliance.report import ComplianceReport, RuleResult, Status
from productstudio.recipes.compliance.rules import (
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


def _rgb(color: str) -> tuple[int, int, int]:
    c = parse_color(color)
    return c[0], c[1], c[2]


def _check_background(m: Measure, r: BackgroundRule) -> RuleResult:
    limit = f"{r.color} on >= {r.min_share:.0%} of background, deviation <= {r.max_deviation}"
    if m.transparent:
        st = _verdict(r, False)
        return _res("background", r, st, "transparent", limit, "flatten over the colour")
    purity = m.background_purity(_rgb(r.color), r.max_deviation)
    if purity is None:
        return _res(
            "background", r, Status.SKIP, "no background", limit, "the product fills the frame"
        )
    share, worst, n_off = purity.share, purity.worst, purity.off
    ok = share >= r.min_share
    st = _verdict(r, ok, warn=worst > r.max_deviation)
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


def _check_fill(m: Measure, r: FillRule, bg_color: str | None = None) -> RuleResult:
    fill = m.fill(_rgb(bg_color) if bg_color is not None else None)
    lim = " and ".join(
        s
        for s in (
            (f">= {r.min:.0%}" if r.min is not None else ""),
            (f"<= {r.max:.0%}" if r.max is not None else ""),
        )
        if s
    )
    if fill is None:
        return _res(
            "fill", r, _verdict(r, False), "no product found", lim, f"mask from {m.mask_source}"
        )
    ok = (r.min is None or fill >= r.min - r.tolerance) and (
        r.max is None or fill <= r.max + r.tolerance
    )
    msg = "" if ok else f"product box fills {fill:.1%} of the frame (mask from {m.mask_source})"
    return _res("fill", r, _verdict(r, ok), f"{fill:.1%}", lim, msg)


def _check_dimensions(m: Measure, r: DimensionsRule) -> RuleResult:
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


def _check_aspect(m: Measure, r: AspectRule) -> RuleResult:
    w, h = m.loaded.size
    ratio = w / h
    ok = abs(ratio - r.ratio) / r.ratio <= r.tolerance
    msg = "" if ok else f"width/height {ratio:.3f}, needs {r.ratio:.3f}"
    return _res(
        "aspect", r, _verdict(r, ok), f"{ratio:.3f}", f"{r.ratio:.3f} ± {r.tolerance:.0%}", msg
    )


def _check_file_size(m: Measure, r: FileSizeRule) -> RuleResult:
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


def _check_format(m: Measure, r: FormatRule) -> RuleResult:
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


def _check_color_space(m: Measure, r: ColorSpaceRule) -> RuleResult:
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


def _check_borders(m: Measure, r: BordersRule) -> RuleResult:
    t = detect_border(m.rgb)
    ok = r.allowed or t == 0
    return _res(
        "borders", r, _verdict(r, ok), f"{t} px frame" if t else "none",
        "allowed" if r.allowed else "none", "" if ok else "crop the frame off",
    )  # fmt: skip


def _check_text(m: Measure, r: TextRule) -> RuleResult:
    from productstudio.models.text import TextKind, find_text

    det = m.text_detector()
    lim = "allowed" if r.allowed else "none"
    why = "text was not checked: install the text detector (see requirements-ocr.txt)"
    if det is None:
        return _res("text", r, Status.WARN, "skipped: no text detector installed", lim, why)
    try:
        verdicts = find_text(m.pixels, det, min_score=r.min_score)
    except BackendError as exc:
        return _res(
            "text", r, Status.WARN, f"skipped: text detector failed ({exc})", lim,
            "text was not checked",
        )  # fmt: skip
    found = [v.box for v in verdicts]
    printed = 0
    if r.only_overlay:
        found = [v.box for v in verdicts if v.kind is TextKind.OVERLAY]
        printed = len(verdicts) - len(found)
    ok = r.allowed or not found
    words = ", ".join(b.text for b in found[:5] if b.text)
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


_CHECKS: dict[str, Callable[[Measure, Any], RuleResult]] = {
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
    text_detector: Any | None = default_text_detector,
    preset: str | None = None,
) -> ComplianceReport:
    """Check a loaded image against ``rules``.

    Args:
        loaded: the image (``format``, ``mode``, ``file_size`` are used).
        rules: the recipe's rules.
        data: the file's bytes (file size, JPEG quality); None = use ``loaded.file_size``.
        segmenter: a segmenter for the product mask (None: ``load_segmenter("auto")``, only
            loaded when a rule needs the mask and the image has no transparency).
        text_detector: a :class:`~productstudio.models.text.TextDetector`, a factory of one,
            or None (the text rule then warns that text was not checked).
        preset: name shown in the report.
    """
    m = Measure(loaded, data, segmenter, text_detector)
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
    text_detector: Any | None = default_text_detector,
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


__all__ = ["check_file", "check_loaded"]
