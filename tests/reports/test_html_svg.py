"""Server-side SVG charts: proportions, axes, empty states and escaping, checked as markup."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from xml.etree import ElementTree as ET

import pytest

from amlguard.reports import svg

T0 = datetime(2026, 11, 1, tzinfo=UTC)
SVG = "{http://www.w3.org/2000/svg}"


def parse(markup: str) -> ET.Element:
    # inline SVG in HTML has no xmlns; add it so the XML parser accepts it as SVG (str: Markup.replace
    # would escape the new text)
    return ET.fromstring(str(markup).replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" ', 1))


def rects(markup: str, css: str) -> list[ET.Element]:
    return [r for r in parse(markup).iter(f"{SVG}rect") if r.get("class") == css]


def test_stacked_bar_is_proportional() -> None:
    markup = svg.stacked_bar([svg.Segment(3, "ok", "3 passed"), svg.Segment(1, "bad", "1 failed"),
                              svg.Segment(0, "err", "0 errors")], width=200, label="rule")
    (ok,), (bad,) = rects(markup, "ok"), rects(markup, "bad")
    assert (float(ok.get("x", "")), float(ok.get("width", ""))) == (0, 150)
    assert (float(bad.get("x", "")), float(bad.get("width", ""))) == (150, 50)
    assert not rects(markup, "err")  # empty segments are not drawn
    assert ok.find(f"{SVG}title").text == "3 passed"  # type: ignore[union-attr]


@pytest.mark.parametrize(("fraction", "text"), [(None, "\u2013"), (0.0, "0%"), (0.494, "49%"), (1.0, "100%")])
def test_donut_text(fraction: float | None, text: str) -> None:
    root = parse(svg.donut(fraction, label="compliance"))
    assert root.find(f"{SVG}text").text == text  # type: ignore[union-attr]
    assert root.get("role") == "img" and root.get("aria-label") == "compliance"


def test_line_chart_places_points_in_time() -> None:
    points = [(T0, 50.0), (T0 + timedelta(days=1), 75.0), (T0 + timedelta(days=4), 100.0)]
    root = parse(svg.line_chart(points, label="trend", width=1044, height=240))
    xs = [float(c.get("cx", "")) for c in root.iter(f"{SVG}circle")]
    assert xs == [44, 44 + 984 / 4, 44 + 984]  # plot from x=44 to 1044-16
    ys = [float(c.get("cy", "")) for c in root.iter(f"{SVG}circle")]
    assert ys[2] == 12 and ys[0] == 12 + 200 / 2  # 100% at the top, 50% half-way down


def test_line_chart_spreads_a_burst_of_runs() -> None:
    points = [(T0 + timedelta(seconds=i), 50.0) for i in range(3)]
    xs = [float(c.get("cx", "")) for c in parse(svg.line_chart(points, label="t", width=1044)).iter(f"{SVG}circle")]
    assert xs == [44, 44 + 984 / 2, 44 + 984]


def test_line_chart_without_points_says_so() -> None:
    assert "no data" in svg.line_chart([], label="trend")


def test_threshold_bar_marks_the_slo() -> None:
    root = parse(svg.threshold_bar(1500, 1000, scale_max=2000, breached=True, label="p95", width=200))
    bar = next(r for r in root.iter(f"{SVG}rect") if r.get("class") == "bad")
    line = next(root.iter(f"{SVG}line"))
    assert float(bar.get("width", "")) == 150 and float(line.get("x1", "")) == 100


def test_histogram_compares_shares() -> None:
    root = parse(svg.histogram(["a", "b"], [30, 10], [10, 30], label="feature", width=200, height=120))
    base = [float(r.get("height", "")) for r in root.iter(f"{SVG}rect") if r.get("class") == "base"]
    cur = [float(r.get("height", "")) for r in root.iter(f"{SVG}rect") if r.get("class") == "cur"]
    assert base == cur[::-1] and base[0] == 3 * base[1]


def test_text_is_escaped() -> None:
    markup = svg.timeline([(0.0, 1.0, "firing", '<script>"x"</script>')], label="<b>")
    assert "<script>" not in markup and "&lt;script&gt;" in markup
    assert not re.search(r"<b>", markup)
    parse(markup)
