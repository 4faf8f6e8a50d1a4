"""Server-side SVG charts for the HTML report and the dashboard: inline markup coloured by CSS classes, with
an `aria-label` and a `<title>` per mark, escaped here (docs/dashboard.md, "How it is built, and why")."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from markupsafe import Markup, escape

__all__ = ["Segment", "donut", "histogram", "line_chart", "stacked_bar", "threshold_bar", "timeline"]


def _e(text: object) -> str:
    return str(escape(text))


def _n(value: float) -> str:
    """A coordinate with at most two decimals (short markup, stable output)."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


@dataclass(frozen=True, slots=True)
class Segment:
    """One part of a stacked bar or a timeline: its size (or span), CSS class and tooltip."""

    value: float
    css: str
    label: str


def stacked_bar(segments: Sequence[Segment], *, width: int = 160, height: int = 12, label: str = "") -> Markup:
    """A horizontal bar split into segments proportional to their values (e.g. pass / fail / exempt)."""
    total = sum(max(s.value, 0.0) for s in segments)
    parts = [f'<svg class="chart bar" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
             f'role="img" aria-label="{_e(label)}" focusable="false">',
             f'<rect class="track" x="0" y="0" width="{width}" height="{height}" rx="3"/>']
    x = 0.0
    for seg in segments:
        if seg.value <= 0 or total <= 0:
            continue
        w = width * seg.value / total
        parts.append(f'<rect class="{_e(seg.css)}" x="{_n(x)}" y="0" width="{_n(w)}" height="{height}">'
                     f"<title>{_e(seg.label)}</title></rect>")
        x += w
    parts.append("</svg>")
    return Markup("".join(parts))


def donut(fraction: float | None, *, size: int = 112, stroke: int = 14, label: str = "",
          css: str = "ok") -> Markup:
    """A ring filled clockwise to `fraction`, the percentage written in the middle."""
    r = (size - stroke) / 2
    c = size / 2
    circumference = 2 * math.pi * r
    text = "\u2013" if fraction is None else f"{fraction * 100:.0f}%"
    parts = [f'<svg class="chart donut" viewBox="0 0 {size} {size}" width="{size}" height="{size}" '
             f'role="img" aria-label="{_e(label)}" focusable="false">',
             f'<circle class="track-ring" cx="{_n(c)}" cy="{_n(c)}" r="{_n(r)}" stroke-width="{stroke}" fill="none"/>']
    if fraction is not None and fraction > 0:
        dash = circumference * min(fraction, 1.0)
        parts.append(f'<circle class="{_e(css)}-ring" cx="{_n(c)}" cy="{_n(c)}" r="{_n(r)}" '
                     f'stroke-width="{stroke}" fill="none" stroke-dasharray="{_n(dash)} {_n(circumference)}" '
                     f'transform="rotate(-90 {_n(c)} {_n(c)})" stroke-linecap="butt"/>')
    parts.append(f'<text class="donut-text" x="{_n(c)}" y="{_n(c)}" text-anchor="middle" '
                 f'dominant-baseline="central">{_e(text)}</text></svg>')
    return Markup("".join(parts))


def _time_label(at: datetime) -> str:
    return at.strftime("%d %b %H:%M")


def line_chart(points: Sequence[tuple[datetime, float]], *, label: str, width: int = 1100, height: int = 240,
               y_max: float = 100.0, unit: str = "%", series_css: str = "series-ok",
               second: Sequence[tuple[datetime, float]] | None = None, second_label: str = "",
               second_css: str = "series-bad") -> Markup:
    """Values over time (oldest first): a line with a dot per point, y from 0 to `y_max`.

    `second` is an optional second series drawn on its own scale (right axis), e.g. failed
    checks next to compliance %.
    """
    left, right, top, bottom = 44, 44 if second else 16, 12, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    parts = [f'<svg class="chart line" viewBox="0 0 {width} {height}" width="100%" '
             f'preserveAspectRatio="xMidYMid meet" role="img" aria-label="{_e(label)}" focusable="false">']
    for i in range(5):  # horizontal grid with the left axis labels
        y = top + plot_h * i / 4
        value = y_max * (1 - i / 4)
        parts.append(f'<line class="grid" x1="{left}" x2="{width - right}" y1="{_n(y)}" y2="{_n(y)}"/>')
        parts.append(f'<text class="axis" x="{left - 6}" y="{_n(y)}" text-anchor="end" '
                     f'dominant-baseline="central">{_n(value)}{_e(unit)}</text>')
    if not points:
        parts.append(f'<text class="axis" x="{_n(left + plot_w / 2)}" y="{_n(top + plot_h / 2)}" '
                     'text-anchor="middle">no data</text></svg>')
        return Markup("".join(parts))
    t0 = points[0][0].timestamp()
    t1 = points[-1][0].timestamp()
    if second:
        t0 = min(t0, second[0][0].timestamp())
        t1 = max(t1, second[-1][0].timestamp())
    # Runs seconds apart (a burst of on-demand audits) would pile up on one spot: below a minute of
    # history, space the points evenly in time order instead.
    stamps = {t: i for i, t in enumerate(sorted({at.timestamp() for at, _ in (*points, *(second or ()))}))}
    even = t1 - t0 < 60

    def x_of(at: datetime) -> float:
        if len(stamps) == 1:
            return left + plot_w / 2
        if even:
            return left + plot_w * stamps[at.timestamp()] / (len(stamps) - 1)
        return left + plot_w * (at.timestamp() - t0) / (t1 - t0)

    def draw(series: Sequence[tuple[datetime, float]], top_value: float, css: str, suffix: str) -> None:
        coords = [(x_of(at), top + plot_h * (1 - min(max(v, 0.0), top_value) / top_value)) for at, v in series]
        if len(coords) > 1:
            path = " ".join(f"{_n(x)},{_n(y)}" for x, y in coords)
            parts.append(f'<polyline class="{_e(css)}" fill="none" points="{path}"/>')
        for (x, y), (at, v) in zip(coords, series, strict=True):
            parts.append(f'<circle class="{_e(css)} dot" cx="{_n(x)}" cy="{_n(y)}" r="3">'
                         f"<title>{_e(_time_label(at))}: {_e(_n(v))}{_e(suffix)}</title></circle>")

    draw(points, y_max, series_css, unit)
    if second:
        top2 = max((v for _, v in second), default=0.0)
        top2 = float(max(4, math.ceil(top2 * 1.1 / 4) * 4))  # a multiple of 4: whole numbers on the axis
        for i in range(5):
            y = top + plot_h * i / 4
            parts.append(f'<text class="axis" x="{width - right + 6}" y="{_n(y)}" '
                         f'dominant-baseline="central">{_n(top2 * (1 - i / 4))}</text>')
        draw(second, top2, second_css, f" {second_label}")
    ticks = 5 if not even and len(stamps) > 2 else 2  # time labels along the x axis, ends included
    for i in range(ticks):
        at = datetime.fromtimestamp(t0 + (t1 - t0) * i / (ticks - 1), tz=points[0][0].tzinfo)
        x = left + plot_w * i / (ticks - 1)
        anchor = "start" if i == 0 else "end" if i == ticks - 1 else "middle"
        parts.append(f'<text class="axis" x="{_n(x)}" y="{height - 8}" text-anchor="{anchor}">'
                     f"{_e(_time_label(at))}</text>")
    parts.append("</svg>")
    return Markup("".join(parts))


def threshold_bar(value: float | None, threshold: float | None, *, scale_max: float, breached: bool,
                  label: str, width: int = 260, height: int = 18) -> Markup:
    """A value bar with a marker at the threshold (latency against its SLO)."""
    parts = [f'<svg class="chart slo" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
             f'role="img" aria-label="{_e(label)}" focusable="false">',
             f'<rect class="track" x="0" y="3" width="{width}" height="{height - 6}" rx="3"/>']
    top = scale_max if scale_max > 0 else 1.0
    if value is not None:
        w = width * min(max(value, 0.0), top) / top
        parts.append(f'<rect class="{"bad" if breached else "ok"}" x="0" y="3" width="{_n(w)}" '
                     f'height="{height - 6}" rx="3"><title>{_e(label)}</title></rect>')
    if threshold is not None:
        x = width * min(max(threshold, 0.0), top) / top
        x = min(max(x, 1.0), width - 1.0)
        parts.append(f'<line class="threshold" x1="{_n(x)}" x2="{_n(x)}" y1="0" y2="{height}"/>')
    parts.append("</svg>")
    return Markup("".join(parts))


def histogram(labels: Sequence[str], baseline: Sequence[float], current: Sequence[float], *, label: str,
              width: int = 320, height: int = 120) -> Markup:
    """Baseline and current proportions per bin or category, side by side (drift of one feature)."""
    n = max(len(labels), 1)
    bottom, top = 18, 6
    plot_h = height - bottom - top
    b_total = sum(baseline) or 1.0
    c_total = sum(current) or 1.0
    b_share = [v / b_total for v in baseline]
    c_share = [v / c_total for v in current]
    peak = max([*b_share, *c_share, 0.0001])
    slot = width / n
    bar_w = max(slot * 0.38, 1.0)
    parts = [f'<svg class="chart hist" viewBox="0 0 {width} {height}" width="100%" '
             f'preserveAspectRatio="xMidYMid meet" role="img" aria-label="{_e(label)}" focusable="false">',
             f'<line class="grid" x1="0" x2="{width}" y1="{height - bottom}" y2="{height - bottom}"/>']
    for i, name in enumerate(labels):
        x = i * slot + slot * 0.1
        for share, css, who, dx in ((b_share[i], "base", "baseline", 0.0), (c_share[i], "cur", "current", bar_w)):
            h = plot_h * share / peak
            parts.append(f'<rect class="{css}" x="{_n(x + dx)}" y="{_n(height - bottom - h)}" width="{_n(bar_w)}" '
                         f'height="{_n(h)}"><title>{_e(name)}: {who} {share * 100:.1f}%</title></rect>')
    # Axis: the lower bound of every few bins ("18-24" -> "18"), or the category name, left-aligned.
    step = max(1, math.ceil(n / 5))
    for i in range(0, n, step):
        text = labels[i].split("\u2013")[0] if "\u2013" in labels[i] else labels[i]
        parts.append(f'<text class="axis" x="{_n(i * slot + slot * 0.1)}" y="{height - 4}">{_e(text[:9])}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def timeline(segments: Sequence[tuple[float, float, str, str]], *, label: str, width: int = 240,
             height: int = 14) -> Markup:
    """Coloured spans on one strip: `(start, end, css, tooltip)` with start/end as 0..1 of the width."""
    parts = [f'<svg class="chart timeline" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
             f'role="img" aria-label="{_e(label)}" focusable="false">',
             f'<rect class="track" x="0" y="0" width="{width}" height="{height}" rx="3"/>']
    for start, end, css, tip in segments:
        x = width * min(max(start, 0.0), 1.0)
        w = max(width * min(max(end, 0.0), 1.0) - x, 1.5)
        parts.append(f'<rect class="{_e(css)}" x="{_n(x)}" y="0" width="{_n(w)}" height="{height}">'
                     f"<title>{_e(tip)}</title></rect>")
    parts.append("</svg>")
    return Markup("".join(parts))
