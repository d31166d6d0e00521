"""Inline SVG charts: grouped bars with a reference line, and sparklines. No scripts, no fonts
beyond the document's, so the same markup works in a browser and in WeasyPrint."""

from __future__ import annotations

import math
from html import escape

from exporters.reports.text import Formatter
from monitord.reports.model import BarChart, BitRate, Bytes, Num, Spark, Value

__all__ = ["bar_chart", "sparkline"]

_COLORS = ("#1f5f99", "#e08a1e", "#5a9e3a", "#8e44ad")
_W, _H = 700, 230
_LEFT, _RIGHT, _TOP, _BOTTOM = 70, 10, 28, 40


def bar_chart(chart: BarChart, fmt: Formatter) -> str:
    """SVG markup of a grouped bar chart."""
    values = [v for _, vs in chart.series for v in vs if v is not None]
    peak = max([*values, 0.0])
    ref = chart.reference if chart.reference and chart.reference <= 2.5 * peak else None
    top = max(peak, ref or 0.0)
    low = chart.low or 0.0
    if chart.low is not None and top > low:
        top = low + 4 * _nice((top - low) / 4)  # round steps from a non-zero bottom
    else:
        top = (low + _nice(top - low)) if top > low else low + 1.0
    plot_w, plot_h = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM
    n = max(1, len(chart.categories))
    group = plot_w / n
    bar = max(1.0, group * 0.8 / max(1, len(chart.series)))
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {_W} {_H}" '
        f'width="100%" role="img" aria-label="{escape(fmt.msg(chart.title))}">',
        f'<text x="{_LEFT}" y="16" font-size="11" font-weight="bold" fill="#163a5f">'
        f"{escape(fmt.msg(chart.title))}</text>",
    ]
    for i in range(5):
        v = low + (top - low) * i / 4
        y = _TOP + plot_h - plot_h * i / 4
        out.append(
            f'<line x1="{_LEFT}" x2="{_W - _RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="#ddd" stroke-width="0.6"/>'
        )
        label = escape(fmt.text(_typed(v, chart.unit)))
        out.append(
            f'<text x="{_LEFT - 4}" y="{y + 3:.1f}" font-size="9" fill="#444" '
            f'text-anchor="end">{label}</text>'
        )
    for gi, cat in enumerate(chart.categories):
        x0 = _LEFT + gi * group + group * 0.1
        for si, (_, vals) in enumerate(chart.series):
            val = vals[gi] if gi < len(vals) else None
            if val is None:
                continue
            h = plot_h * max(0.0, val - low) / (top - low)
            x = x0 + si * bar
            out.append(
                f'<rect x="{x:.1f}" y="{_TOP + plot_h - h:.1f}" width="{bar:.1f}" '
                f'height="{h:.1f}" fill="{_COLORS[si % len(_COLORS)]}"/>'
            )
        if n <= 16 or gi % 2 == 0:
            out.append(
                f'<text x="{x0 + group * 0.4:.1f}" y="{_TOP + plot_h + 12}" font-size="9" '
                f'fill="#444" '
                f'text-anchor="middle">{escape(cat)}</text>'
            )
    if ref is not None and ref >= low:
        y = _TOP + plot_h - plot_h * (ref - low) / (top - low)
        out.append(
            f'<line x1="{_LEFT}" x2="{_W - _RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="#c0392b" stroke-width="1.2" stroke-dasharray="5 3"/>'
        )
    lx: float = _LEFT
    legend = [(fmt.t(k), _COLORS[i % len(_COLORS)]) for i, (k, _) in enumerate(chart.series)]
    if chart.reference is not None and chart.reference_label is not None:
        ref_text = (
            f"{fmt.msg(chart.reference_label)}: {fmt.text(_typed(chart.reference, chart.unit))}"
        )
        legend.append((ref_text, "#c0392b"))
    for label, color in legend:
        out.append(f'<rect x="{lx}" y="{_H - 14}" width="10" height="10" fill="{color}"/>')
        out.append(
            f'<text x="{lx + 14}" y="{_H - 5}" font-size="9" fill="#444">{escape(label)}</text>'
        )
        lx += 24 + 5.2 * len(label)
    out.append("</svg>")
    return "".join(out)


def sparkline(spark: Spark, width: int = 80, height: int = 20) -> str:
    """SVG markup of a small trend line; missing months leave gaps."""
    vals = [v for v in spark.values if v is not None]
    if not vals:
        return ""
    lo, hi = min(vals), max(vals)
    span = (hi - lo) or 1.0
    step = width / max(1, len(spark.values) - 1)
    segments: list[list[str]] = [[]]
    last = (0.0, 0.0)
    for i, v in enumerate(spark.values):
        if v is None:
            segments.append([])
            continue
        x, y = i * step, height - 3 - (height - 6) * (v - lo) / span
        segments[-1].append(f"{x:.1f},{y:.1f}")
        last = (x, y)
    lines = "".join(
        f'<polyline points="{" ".join(s)}" fill="none" stroke="#1f5f99" stroke-width="1.5"/>'
        for s in segments
        if len(s) > 1
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="spark" width="{width}" height="{height}" '
        f'style="width:{width * 0.25:.0f}mm;height:{height * 0.25:.0f}mm" '
        f'viewBox="0 0 {width} {height}">{lines}'
        f'<circle cx="{last[0]:.1f}" cy="{last[1]:.1f}" r="2" '
        f'fill="{_DOT[spark.color.value]}" stroke="#555" stroke-width="0.4"/></svg>'
    )


# the sparkline's last dot takes the indicator's traffic-light colour (report.css span.dot)
_DOT = {"green": "#2e9e48", "yellow": "#f2c12e", "red": "#d0342c", "none": "#bbbbbb"}


def _nice(v: float) -> float:
    exp = 10.0 ** math.floor(math.log10(v))
    for m in (1, 2, 2.5, 5, 10):
        if v <= m * exp:
            return m * exp
    return 10 * exp


def _typed(v: float, unit: str) -> Value:
    if unit == "bitrate":
        return BitRate(v)
    if unit == "bytes":
        return Bytes(v)
    if unit == "pct":
        return Num(v, 1)
    return Num(v, 1 if v < 10 else 0)
