"""SVG charts: well-formed XML, bars and points placed by the numbers they show."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from productstudio.errors import InvalidParamsError
from productstudio.metrics.charts import bar_chart, line_chart
from productstudio.metrics.generation_eval import report_charts, training_curves

NS = "{http://www.w3.org/2000/svg}"


def _bars(svg: str) -> list[ET.Element]:
    return [e for e in ET.fromstring(svg).iter(f"{NS}rect") if e.get("class") == "bar"]


@given(
    st.dictionaries(
        st.text(min_size=1, max_size=12),
        st.floats(min_value=0, max_value=1e6, allow_nan=False),
        min_size=1,
        max_size=8,
    )
)
def test_bar_widths_are_proportional_to_values(values: dict[str, float]) -> None:
    bars = _bars(bar_chart(values, title="t <&> 'q'"))
    widths = [float(b.get("width", "nan")) for b in bars]
    assert len(widths) == len(values)
    top = max(values.values())
    for w, v in zip(widths, values.values(), strict=True):
        expected = 320 * v / top if top > 1e-12 else 320 * v / 1e-12
        assert w == pytest.approx(expected, abs=0.006)


def test_bar_chart_nan_reference_and_errors() -> None:
    svg = bar_chart({"a": 0.5, "b": float("nan")}, title="acc", reference=1.0)
    root = ET.fromstring(svg)
    assert len(_bars(svg)) == 1 and float(_bars(svg)[0].get("width", "0")) == pytest.approx(160)
    assert "n/a" in svg
    ref = next(e for e in root.iter(f"{NS}line") if e.get("class") == "reference")
    assert float(ref.get("x1", "0")) == pytest.approx(230 + 320)
    with pytest.raises(InvalidParamsError):
        bar_chart({}, title="x")
    with pytest.raises(InvalidParamsError):
        bar_chart({"a": -1.0}, title="x")


def _plot_box(svg: str) -> tuple[float, float, float, float]:
    """(left, top, width, height) of the plot frame: the chart's first, unclassed rect."""
    rect = next(e for e in ET.fromstring(svg).iter(f"{NS}rect") if e.get("class") is None)
    return tuple(float(rect.get(k, "nan")) for k in ("x", "y", "width", "height"))  # type: ignore[return-value]


def _points(svg: str) -> dict[str, list[tuple[float, float]]]:
    out = {}
    for line in ET.fromstring(svg).iter(f"{NS}polyline"):
        name = line.findtext(f"{NS}title") or ""
        out[name] = [tuple(map(float, p.split(","))) for p in line.get("points", "").split()]
    return out  # type: ignore[return-value]


def test_line_chart_maps_points_into_the_plot() -> None:
    """Extremes land on the frame's edges and a decade on a log axis is an equal step."""
    svg = line_chart(
        {"loss": [(0, 10.0), (50, 1.0), (100, 0.1)], "val": [(25, 10.0), (100, 1.0)]},
        title="l",
        log_y=True,
    )
    left, top, w, h = _plot_box(svg)
    pts = _points(svg)
    expected = {
        "loss": [(left, top), (left + w / 2, top + h / 2), (left + w, top + h)],
        "val": [(left + w / 4, top), (left + w, top + h / 2)],
    }
    assert set(pts) == set(expected)
    for name, want in expected.items():
        assert pts[name] == [pytest.approx(p, abs=0.051) for p in want], name


def test_line_chart_linear_axis_is_proportional() -> None:
    """Without ``log_y`` a value's height is proportional to it (3 of 0..4 → 3/4 up)."""
    svg = line_chart({"a": [(0, 0.0), (1, 3.0), (2, 4.0)]}, title="lin")
    left, top, w, h = _plot_box(svg)
    assert _points(svg)["a"] == [
        pytest.approx(p, abs=0.051)
        for p in [(left, top + h), (left + w / 2, top + h / 4), (left + w, top)]
    ]


def test_line_chart_bad_input_and_one_point() -> None:
    """No finite points or a non-positive value on a log axis raise; one point still draws."""
    with pytest.raises(InvalidParamsError):
        line_chart({"a": []}, title="x")
    with pytest.raises(InvalidParamsError):
        line_chart({"a": [(0, 0.0)]}, title="x", log_y=True)
    left, top, _w, h = _plot_box(line_chart({"a": [(1, 1.0)]}, title="one point"))
    assert _points(line_chart({"a": [(1, 1.0)]}, title="one point"))["a"] == [
        pytest.approx((left, top + h), abs=0.051)
    ]


def test_report_charts_from_rows_and_training_log(tmp_path: Path) -> None:
    d = tmp_path / "vae"
    d.mkdir()
    lines = ['{"step": 1, "loss": 5.0, "kl": 1.0, "kl_weight": 0.1}', "not json", "", "[1, 2]"]
    lines.append('{"step": 25, "loss": 2.0, "kl": 3.0, "kl_weight": 0.5}')
    (d / "train_log.jsonl").write_text("\n".join(lines))
    curves = training_curves(d)
    assert curves == {"loss": [(1.0, 5.0), (25.0, 2.0)], "kl": [(1.0, 1.0), (25.0, 3.0)]}
    rows = {
        "vae": {"kid": 0.2, "fid": 90.0, "acc_master_category": 0.4, "acc_colour": 0.3},
        "baseline": {"kid": 0.1, "fid": 80.0, "acc_master_category": 0.1, "acc_colour": 0.05},
        "real photos (reference)": {"kid": 0.0, "fid": 1.0, "acc_master_category": 0.5},
    }
    charts = report_charts(rows, {"vae": d, "missing": tmp_path / "nope"})
    assert len(charts) == 5  # kid, fid, 2 accuracies (targets relative to real), one training plot
    # the target line is drawn relative to the real photos' accuracy where the row has one
    assert "target (0.8 x real)" in charts[2] and "acc_master_category" in charts[2]
    for c in charts:
        ET.fromstring(c)
