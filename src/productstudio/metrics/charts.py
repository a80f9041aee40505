"""Dependency-free SVG charts for the HTML reports (horizontal bars and line plots).

The output is a self-contained ``<svg>`` string that can be inlined in a page; values are written
into ``<title>`` tooltips so the numbers stay readable without hovering tricks.

Example:
    >>> svg = bar_chart({"gan": 0.5, "vae": 1.0}, title="KID")
    >>> svg.startswith("<svg") and svg.count("<rect class='bar'") == 2
    True
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from productstudio.errors import InvalidParamsError
from productstudio.svg import PALETTE, Frame, esc, fmt, open_svg

_LABEL_W, _BAR_H, _GAP, _PLOT_W = 230, 18, 6, 320


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
    parts = [open_svg(w, h, title)]
    for i, (name, v) in enumerate(values.items()):
        y = 26 + i * (_BAR_H + _GAP)
        label = esc(name)
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
            f"fill='{colour}'><title>{label}: {fmt(v)}</title></rect>"
            f"<text x='{_LABEL_W + bw + 4:.2f}' y='{y + 13}' font-size='11'>{fmt(v)}</text>"
        )
    if reference is not None:
        x = _LABEL_W + _PLOT_W * reference / top
        parts.append(
            f"<line class='reference' x1='{x:.2f}' x2='{x:.2f}' y1='22' y2='{h}' stroke='#333' "
            f"stroke-dasharray='4 3'><title>{esc(reference_label)}: "
            f"{fmt(reference)}</title></line>"
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

    frame = Frame.fit([p[0] for p in pts], [ty(p[1]) for p in pts], width=width, height=height)
    parts = [
        open_svg(width, height, title),
        frame.axes(x_label=x_label, y_text=lambda v: fmt(10**v if log_y else v)),
    ]
    for i, (name, s) in enumerate(series.items()):
        good = [(x, ty(y)) for x, y in s if math.isfinite(x) and math.isfinite(y)]
        if not good:
            continue
        parts.append(frame.curve(i, name, good, css_class="series", tooltip=name))
    parts.append("</svg>")
    return "".join(parts)
