"""SVG building blocks shared by the HTML reports: one escape, palette, document head and plot
frame for the generator metrics (``metrics.charts``), the feedback report
(``personalize.charts``) and any later report, so the charts look and behave alike.

A leaf layer (above ``errors``/``settings`` only, see pyproject's import-linter contract): the
reports of sibling layers import it instead of copying it.

Example:
    >>> f = Frame.fit([0.0, 10.0], [1.0, 3.0], width=300, height=200)
    >>> f.sx(0.0) == f.left and f.sx(10.0) == f.left + f.width
    True
    >>> f.sy(3.0) == f.top and f.sy(1.0) == f.top + f.height
    True
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable
from dataclasses import dataclass

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


def esc(text: str) -> str:
    """Escape for XML text/attributes; control characters (invalid in XML 1.0) become spaces."""
    clean = "".join(" " if (ord(ch) < 32 and ch not in "\t\n\r") else ch for ch in text)
    return html.escape(clean)


def fmt(v: float) -> str:
    """A number as the charts print it (4 significant digits)."""
    return f"{v:.4g}"


def open_svg(width: int, height: int, title: str) -> str:
    """The ``<svg>`` start tag (with ``aria-label``) and the bold title line."""
    return (
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
        f"viewBox='0 0 {width} {height}' role='img' aria-label='{esc(title)}' "
        f"font-family='sans-serif'>"
        f"<text x='4' y='16' font-weight='bold' font-size='13'>{esc(title)}</text>"
    )


@dataclass(frozen=True, slots=True)
class Frame:
    """A plot area with linear axes: data ``[x0, x1] × [y0, y1]`` onto the pixel box
    ``(left, top, width, height)``; y grows upwards."""

    x0: float
    x1: float
    y0: float
    y1: float
    left: float
    top: float
    width: float
    height: float

    @classmethod
    def fit(
        cls,
        xs: Iterable[float],
        ys: Iterable[float],
        *,
        width: int,
        height: int,
        margins: tuple[int, int, int, int] = (60, 140, 24, 30),
    ) -> Frame:
        """The frame that holds every point; ``margins`` = (left, right, top, bottom) px leave
        room for the axis labels and the legend. A single value gets a unit-wide axis."""
        xs, ys = list(xs), list(ys)
        x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
        x1, y1 = (x1 if x1 > x0 else x0 + 1), (y1 if y1 > y0 else y0 + 1)
        left, right, top, bottom = margins
        return cls(x0, x1, y0, y1, left, top, width - left - right, height - top - bottom)

    def sx(self, x: float) -> float:
        return self.left + self.width * (x - self.x0) / (self.x1 - self.x0)

    def sy(self, y: float) -> float:
        return self.top + self.height * (1 - (y - self.y0) / (self.y1 - self.y0))

    def points(self, pts: Iterable[tuple[float, float]]) -> str:
        """``points`` attribute of a polyline/polygon through data points."""
        return " ".join(f"{self.sx(x):.1f},{self.sy(y):.1f}" for x, y in pts)

    def axes(self, *, x_label: str = "", y_text: Callable[[float], str] = fmt) -> str:
        """The frame's box and its four end labels (``y_text`` prints the y ends)."""
        lf, tp, w, h = self.left, self.top, self.width, self.height
        bottom = tp + h + 22
        return (
            f"<rect x='{lf:g}' y='{tp:g}' width='{w:g}' height='{h:g}' fill='none' stroke='#999'/>"
            f"<text x='{lf - 4:g}' y='{tp + 10:g}' text-anchor='end' font-size='10'>"
            f"{esc(y_text(self.y1))}</text>"
            f"<text x='{lf - 4:g}' y='{tp + h:g}' text-anchor='end' font-size='10'>"
            f"{esc(y_text(self.y0))}</text>"
            f"<text x='{lf:g}' y='{bottom:g}' font-size='10'>{fmt(self.x0)}</text>"
            f"<text x='{lf + w:g}' y='{bottom:g}' text-anchor='end' font-size='10'>"
            f"{fmt(self.x1)} {esc(x_label)}</text>"
        )

    def curve(
        self,
        i: int,
        name: str,
        pts: Iterable[tuple[float, float]],
        *,
        css_class: str,
        tooltip: str,
        stroke_width: float = 1.5,
    ) -> str:
        """The ``i``-th series: a polyline in the palette's ``i``-th colour through the data
        points ``pts``, with ``tooltip`` as its title, and its legend entry."""
        c = PALETTE[i % len(PALETTE)]
        return (
            f"<polyline class='{css_class}' points='{self.points(pts)}' fill='none' "
            f"stroke='{c}' stroke-width='{stroke_width:g}'><title>{esc(tooltip)}</title>"
            f"</polyline>" + self.legend(i, name, c)
        )

    def legend(self, i: int, name: str, colour: str) -> str:
        """The ``i``-th legend entry, right of the frame."""
        return (
            f"<text x='{self.left + self.width + 6:g}' y='{self.top + 12 + 14 * i:g}' "
            f"font-size='11' fill='{colour}'>{esc(name)}</text>"
        )


__all__ = ["PALETTE", "Frame", "esc", "fmt", "open_svg"]
