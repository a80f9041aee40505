"""SVG charts of the feedback report: intervals (CTR with its CI), curves with bands (regret
over time), and densities (Beta posteriors). Self-contained ``<svg>`` strings, numbers in
``<title>`` tooltips.

Example:
    >>> svg = interval_chart([("white", 0.02, 0.01, 0.03)], title="CTR")
    >>> svg.startswith("<svg") and svg.count("class='interval'") == 1
    True
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from productstudio.errors import InvalidParamsError
from productstudio.svg import PALETTE, Frame, esc, open_svg


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
    out = [open_svg(width, h, title)]
    out.append(
        f"<line x1='{lab_w}' x2='{lab_w}' y1='24' y2='{h - 16}' stroke='#999'/>"
        f"<text x='{lab_w}' y='{h - 3}' font-size='10'>0</text>"
        f"<text x='{lab_w + pw}' y='{h - 3}' font-size='10' text-anchor='end'>{hi:.3g}</text>"
    )
    for i, (label, v, lo, up) in enumerate(rows):
        y = 34 + i * row_h
        colour = PALETTE[3] if label == highlight else PALETTE[0]
        out.append(
            f"<text x='{lab_w - 6}' y='{y + 4}' font-size='11' text-anchor='end'>"
            f"{esc(label)}</text>"
        )
        if not all(math.isfinite(x) for x in (v, lo, up)):
            out.append(f"<text x='{lab_w + 4}' y='{y + 4}' font-size='11'>no data</text>")
            continue
        x0, x1, xv = (lab_w + pw * min(1.0, q / hi) for q in (lo, up, v))
        out.append(
            f"<g class='interval'><title>{esc(label)}: {v:.4f} [{lo:.4f}, {up:.4f}]</title>"
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
    ys = [0.0, *(p[1] for p in pts)]  # the y axis starts at 0 (regret, densities)
    frame = Frame.fit(
        [p[0] for p in pts], ys, width=width, height=height, margins=(58, 150, 24, 30)
    )
    out = [open_svg(width, height, title), frame.axes(x_label=x_label)]
    for i, (name, (xs, ys_, band)) in enumerate(series.items()):
        c = PALETTE[i % len(PALETTE)]
        good = [k for k, (x, y) in enumerate(zip(xs, ys_, strict=True)) if math.isfinite(y)]
        if not good:
            continue
        if band is not None:
            upper = frame.points((xs[k], ys_[k] + band[k]) for k in good)
            lower = frame.points((xs[k], ys_[k] - band[k]) for k in good[::-1])
            out.append(f"<polygon points='{upper} {lower}' fill='{c}' opacity='0.18'/>")
        last = f"{name}: {ys_[good[-1]]:.4g} at {xs[good[-1]]:.4g}"
        pts = [(xs[k], ys_[k]) for k in good]
        out.append(frame.curve(i, name, pts, css_class="curve", tooltip=last, stroke_width=1.6))
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
