"""Dependency-free SVG charts for the HTML reports (horizontal bars and line plots).

The output is a self-contained ``<svg>`` string that can be inlined in a page; values are written
into ``<title>`` tooltips so the numbers stay readable without hovering tricks.

Example:
    >>> svg = bar_chart({"gan": 0.5, "vae": 1.0}, title="KID")
    >>> svg.startswith("<svg") and svg.count("<rect class='bar'") == 2
    True
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence

from productstudio.errors import InvalidParamsError

PALETTE: tuple[str, ...] = (
    "#4e79a7",
    "#f28e2b",
    "#59a14f",
    "#e15759",
    "#76b7b2",
    "#edc948",
    "#b07aa1",
    "#9c755f",
)
_LABEL_W, _BAR_H, _GAP, _PLOT_W = 230, 18, 6, 320


def _fmt(v: float) -> str:
    return f"{v:.4g}"


def _esc(text: str) -> str:
    """Escape for XML text/attributes; control characters (invalid in XML 1.0) become spaces."""
    clean = "".join(" " if (ord(ch) < 32 and ch not in "\t\n\r") else ch for ch in text)
    return html.escape(clean)


def bar_chart(
    values: Mapping[str, float],
    *,
    title: str,
    reference: float | None = None,
    reference_label: str = "target",
) -> str:
    """Horizontal bars, one per entry, scaled to the largest value (and ``reference`` if given).

    NaN values are drawn as an empty row marked "n/a". A dashed vertical line marks ``reference``.

    Raises:
        InvalidParamsError: no values, or a negative value.
    """
    if not values:
        raise InvalidParamsError("bar_chart needs at least one value")
    finite = [v for v in values.values() if not math.isnan(v)]
    if any(v < 0 for v in finite):
        raise InvalidParamsError("bar_chart draws non-negative values only")
    top = max([*finite, reference or 0.0, 1e-12])
    h = 28 + len(values) * (_BAR_H + _GAP)
    w = _LABEL_W + _PLOT_W + 70
    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{w}' height='{h}' "
        f"viewBox='0 0 {w} {h}' role='img' aria-label='{_esc(title)}'>",
        f"<text x='4' y='16' font-weight='bold' font-size='13'>{_esc(title)}</text>",
    ]
    for i, (name, v) in enumerate(values.items()):
        y = 26 + i * (_BAR_H + _GAP)
        label = _esc(name)
        parts.append(
            f"<text x='{_LABEL_W - 6}' y='{y + 13}' text-anchor='end' font-size='11'>{label}</text>"
        )
        if math.isnan(v):
            parts.append(f"<text x='{_LABEL_W + 4}' y='{y + 13}' font-size='11'>n/a</text>")
            continue
        bw = _PLOT_W * v / top
        colour = PALETTE[i % len(PALETTE)]
        parts.append(
            f"<rect class='bar' x='{_LABEL_W}' y='{y}' width='{bw:.2f}' height='{_BAR_H}' "
            f"fill='{colour}'><title>{label}: {_fmt(v)}</title></rect>"
            f"<text x='{_LABEL_W + bw + 4:.2f}' y='{y + 13}' font-size='11'>{_fmt(v)}</text>"
        )
    if reference is not None:
        x = _LABEL_W + _PLOT_W * reference / top
        parts.append(
            f"<line class='reference' x1='{x:.2f}' x2='{x:.2f}' y1='22' y2='{h}' stroke='#333' "
            f"stroke-dasharray='4 3'><title>{_esc(reference_label)}: "
            f"{_fmt(reference)}</title></line>"
        )
    parts.append("</svg>")
    return "".join(parts)


def line_chart(
    series: Mapping[str, Sequence[tuple[float, float]]],
    *,
    title: str,
    x_label: str = "",
    log_y: bool = False,
    width: int = 560,
    height: int = 240,
) -> str:
    """One polyline per series of (x, y) points on shared axes (``log_y`` for losses).

    Raises:
        InvalidParamsError: no points at all, or ``log_y`` with a non-positive value.
    """
    pts = [(x, y) for s in series.values() for x, y in s if math.isfinite(x) and math.isfinite(y)]
    if not pts:
        raise InvalidParamsError("line_chart needs at least one finite point")
    if log_y and any(y <= 0 for _, y in pts):
        raise InvalidParamsError("line_chart: log_y needs positive values")

    def ty(y: float) -> float:
        return math.log10(y) if log_y else y

    x0, x1 = min(p[0] for p in pts), max(p[0] for p in pts)
    y0, y1 = min(ty(p[1]) for p in pts), max(ty(p[1]) for p in pts)
    x1, y1 = (x1 if x1 > x0 else x0 + 1), (y1 if y1 > y0 else y0 + 1)
    left, right, top_, bottom = 60, 140, 24, 30
    pw, ph = width - left - right, height - top_ - bottom

    def sx(x: float) -> float:
        return left + pw * (x - x0) / (x1 - x0)

    def sy(y: float) -> float:
        return top_ + ph * (1 - (ty(y) - y0) / (y1 - y0))

    def ylab(v: float) -> str:
        return _fmt(10**v if log_y else v)

    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
        f"viewBox='0 0 {width} {height}' role='img' aria-label='{_esc(title)}'>",
        f"<text x='4' y='16' font-weight='bold' font-size='13'>{_esc(title)}</text>",
        f"<rect x='{left}' y='{top_}' width='{pw}' height='{ph}' fill='none' stroke='#999'/>",
        f"<text x='{left - 4}' y='{top_ + 10}' text-anchor='end' font-size='10'>{ylab(y1)}</text>",
        f"<text x='{left - 4}' y='{top_ + ph}' text-anchor='end' font-size='10'>{ylab(y0)}</text>",
        f"<text x='{left}' y='{height - 8}' font-size='10'>{_fmt(x0)}</text>",
        f"<text x='{left + pw}' y='{height - 8}' text-anchor='end' font-size='10'>"
        f"{_fmt(x1)} {_esc(x_label)}</text>",
    ]
    for i, (name, s) in enumerate(series.items()):
        good = [(x, y) for x, y in s if math.isfinite(x) and math.isfinite(y)]
        if not good:
            continue
        colour = PALETTE[i % len(PALETTE)]
        coords = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in good)
        parts.append(
            f"<polyline class='series' points='{coords}' fill='none' stroke='{colour}' "
            f"stroke-width='1.5'><title>{_esc(name)}</title></polyline>"
            f"<text x='{left + pw + 6}' y='{top_ + 12 + 14 * i}' font-size='11' "
            f"fill='{colour}'>{_esc(name)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)
