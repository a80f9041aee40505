"""SVG charts of the feedback report: intervals (CTR with its CI), curves with bands (regret
over time), and densities (Beta posteriors). Self-contained ``<svg>`` strings, numbers in
``<title>`` tooltips.

Example:
    >>> svg = interval_chart([("white", 0.02, 0.01, 0.03)], title="CTR")
    >>> svg.startswith("<svg") and svg.count("class='interval'") == 1
    True
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence

from productstudio.errors import InvalidParamsError

COLOURS = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#9c755f")


def _t(text: str) -> str:
    return html.escape("".join(ch if ord(ch) >= 32 else " " for ch in text))


def _head(w: int, h: int, title: str) -> list[str]:
    return [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{w}' height='{h}' viewBox='0 0 {w} {h}' "
        f"role='img' aria-label='{_t(title)}' font-family='sans-serif'>",
        f"<text x='4' y='15' font-weight='bold' font-size='13'>{_t(title)}</text>",
    ]


def interval_chart(
    rows: Sequence[tuple[str, float, float, float]],
    *,
    title: str,
    highlight: str | None = None,
    width: int = 560,
) -> str:
    """One row per ``(label, value, low, high)``: a dot and its interval on a shared axis.

    Raises:
        InvalidParamsError: no rows.
    """
    if not rows:
        raise InvalidParamsError("interval_chart needs at least one row")
    lab_w, right, row_h = 170, 70, 20
    hi = max([r[3] for r in rows if math.isfinite(r[3])] + [1e-9])
    pw = width - lab_w - right
    h = 30 + row_h * len(rows) + 16
    out = _head(width, h, title)
    out.append(
        f"<line x1='{lab_w}' x2='{lab_w}' y1='24' y2='{h - 16}' stroke='#999'/>"
        f"<text x='{lab_w}' y='{h - 3}' font-size='10'>0</text>"
        f"<text x='{lab_w + pw}' y='{h - 3}' font-size='10' text-anchor='end'>{hi:.3g}</text>"
    )
    for i, (label, v, lo, up) in enumerate(rows):
        y = 34 + i * row_h
        colour = "#e15759" if label == highlight else "#4e79a7"
        out.append(
            f"<text x='{lab_w - 6}' y='{y + 4}' font-size='11' text-anchor='end'>{_t(label)}</text>"
        )
        if not all(math.isfinite(x) for x in (v, lo, up)):
            out.append(f"<text x='{lab_w + 4}' y='{y + 4}' font-size='11'>no data</text>")
            continue
        x0, x1, xv = (lab_w + pw * min(1.0, q / hi) for q in (lo, up, v))
        out.append(
            f"<g class='interval'><title>{_t(label)}: {v:.4f} [{lo:.4f}, {up:.4f}]</title>"
            f"<line x1='{x0:.1f}' x2='{x1:.1f}' y1='{y}' y2='{y}' stroke='{colour}' "
            f"stroke-width='2'/><circle cx='{xv:.1f}' cy='{y}' r='4' fill='{colour}'/></g>"
            f"<text x='{lab_w + pw + 6}' y='{y + 4}' font-size='10'>{v:.4f}</text>"
        )
    out.append("</svg>")
    return "".join(out)


def curves_chart(
    series: Mapping[str, tuple[Sequence[float], Sequence[float], Sequence[float] | None]],
    *,
    title: str,
    x_label: str = "",
    width: int = 600,
    height: int = 260,
) -> str:
    """Curves ``name → (x, y, band)`` with an optional ±band (e.g. one s.d. over seeds).

    Raises:
        InvalidParamsError: no finite point.
    """
    pts = [
        (x, y + (b[i] if b is not None else 0.0))
        for xs, ys, b in series.values()
        for i, (x, y) in enumerate(zip(xs, ys, strict=True))
        if math.isfinite(x) and math.isfinite(y)
    ]
    if not pts:
        raise InvalidParamsError("curves_chart needs at least one finite point")
    x0, x1 = min(p[0] for p in pts), max(p[0] for p in pts)
    y0, y1 = min(0.0, min(p[1] for p in pts)), max(p[1] for p in pts)
    x1, y1 = (x1 if x1 > x0 else x0 + 1), (y1 if y1 > y0 else y0 + 1)
    left, right, top, bottom = 58, 150, 24, 30
    pw, ph = width - left - right, height - top - bottom

    def sx(x: float) -> float:
        return left + pw * (x - x0) / (x1 - x0)

    def sy(y: float) -> float:
        return top + ph * (1 - (y - y0) / (y1 - y0))

    out = _head(width, height, title)
    out.append(
        f"<rect x='{left}' y='{top}' width='{pw}' height='{ph}' fill='none' stroke='#999'/>"
        f"<text x='{left - 4}' y='{top + 10}' font-size='10' text-anchor='end'>{y1:.4g}</text>"
        f"<text x='{left - 4}' y='{top + ph}' font-size='10' text-anchor='end'>{y0:.4g}</text>"
        f"<text x='{left}' y='{height - 8}' font-size='10'>{x0:.4g}</text>"
        f"<text x='{left + pw}' y='{height - 8}' font-size='10' text-anchor='end'>{x1:.4g} "
        f"{_t(x_label)}</text>"
    )
    for i, (name, (xs, ys, band)) in enumerate(series.items()):
        c = COLOURS[i % len(COLOURS)]
        good = [k for k, (x, y) in enumerate(zip(xs, ys, strict=True)) if math.isfinite(y)]
        if not good:
            continue
        if band is not None:
            upper = " ".join(f"{sx(xs[k]):.1f},{sy(ys[k] + band[k]):.1f}" for k in good)
            lower = " ".join(f"{sx(xs[k]):.1f},{sy(ys[k] - band[k]):.1f}" for k in good[::-1])
            out.append(f"<polygon points='{upper} {lower}' fill='{c}' opacity='0.18'/>")
        line = " ".join(f"{sx(xs[k]):.1f},{sy(ys[k]):.1f}" for k in good)
        out.append(
            f"<polyline class='curve' points='{line}' fill='none' stroke='{c}' stroke-width='1.6'>"
            f"<title>{_t(name)}: {ys[good[-1]]:.4g} at {xs[good[-1]]:.4g}</title></polyline>"
            f"<text x='{left + pw + 6}' y='{top + 12 + 14 * i}' font-size='11' fill='{c}'>"
            f"{_t(name)}</text>"
        )
    out.append("</svg>")
    return "".join(out)


def beta_density_chart(
    params: Mapping[str, tuple[float, float]], *, title: str, width: int = 600, height: int = 220
) -> str:
    """Beta(α, β) densities, one curve per entry, on the range that holds their mass."""
    from scipy.stats import beta as beta_dist

    if not params:
        raise InvalidParamsError("beta_density_chart needs at least one posterior")
    lo = min(float(beta_dist.ppf(0.001, a, b)) for a, b in params.values())
    hi = max(float(beta_dist.ppf(0.999, a, b)) for a, b in params.values())
    xs = [lo + (hi - lo) * i / 120 for i in range(121)]
    series = {
        f"{k} (mean {a / (a + b):.4f})": (
            xs,
            [float(beta_dist.pdf(x, a, b)) for x in xs],
            None,
        )
        for k, (a, b) in params.items()
    }
    return curves_chart(series, title=title, x_label="CTR", width=width, height=height)


__all__ = ["beta_density_chart", "curves_chart", "interval_chart"]
