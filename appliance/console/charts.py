"""Small SVG charts, rendered on the server: lines over time and bars by category.

No script and no inline style: colours come from the console's stylesheet through a class named
after each series (`series-<NAME>`), so the Content-Security-Policy stays strict, and a series
has the same colour in every chart. Every chart is an `<svg role="img">` with a title and a legend.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from markupsafe import Markup, escape

__all__ = ["Series", "bar_chart", "line_chart", "nice_ceiling"]

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 28, 44
GRIDLINES = 4


@dataclass(frozen=True, slots=True)
class Series:
    """One coloured set of bars or one line: its name and one value per category or per time.
    None is no value: no bar, a gap in the line."""

    name: str
    values: Sequence[float | None]


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5 or 5 times a power of ten that is at least `value` (1 for 0)."""
    if value <= 0:
        return 1.0
    magnitude = 10.0 ** math.floor(math.log10(value))
    return next(step * magnitude for step in (1, 2, 2.5, 5, 10) if step * magnitude >= value * (1 - 1e-12))


def _number(value: float) -> str:
    return f"{value:.3g}" if value < 1000 else f"{value:,.0f}"


def _css_class(name: str) -> str:
    return "series-" + re.sub(r"[^A-Za-z0-9_-]", "_", name)


def _frame(title: str, y_top: float, unit: str) -> list[str]:
    """The svg element's start, its title, the y axis with gridlines up to `y_top`."""
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        f'<text class="chart-unit" x="{LEFT}" y="{TOP - 10}">{escape(unit)}</text>',
    ]
    plot_height = HEIGHT - TOP - BOTTOM
    for i in range(GRIDLINES + 1):
        y = TOP + plot_height * (1 - i / GRIDLINES)
        parts.append(f'<line class="grid" x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}"/>')
        parts.append(f'<text class="axis" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">')
        parts.append(f"{_number(y_top * i / GRIDLINES)}</text>")
    return parts


def _y(value: float, y_top: float) -> float:
    return TOP + (HEIGHT - TOP - BOTTOM) * (1 - value / y_top)


def _runs(values: Sequence[float | None]) -> list[list[tuple[int, float]]]:
    """The stretches of consecutive values that are not None, as (index, value) pairs."""
    runs: list[list[tuple[int, float]]] = []
    previous = None
    for index, value in enumerate(values):
        if value is None:
            continue
        if previous != index - 1:
            runs.append([])
        runs[-1].append((index, value))
        previous = index
    return runs


def _legend(series: Sequence[Series]) -> list[str]:
    parts = []
    x = LEFT
    for s in series:
        parts.append(f'<rect class="{_css_class(s.name)}" x="{x}" y="{HEIGHT - 14}" width="10" height="10"/>')
        parts.append(f'<text class="legend" x="{x + 14}" y="{HEIGHT - 5}">{escape(s.name)}</text>')
        x += 24 + 8 * len(s.name)
    return parts


def line_chart(times: Sequence[datetime], series: Sequence[Series], *, title: str, unit: str) -> Markup:
    """Values over time: one line per series through its values at `times` (evenly spaced, in
    time order). A None value breaks its line; a value alone between gaps is a dot."""
    y_top = nice_ceiling(max((v for s in series for v in s.values if v is not None), default=0.0))
    parts = _frame(title, y_top, unit)
    step = (WIDTH - LEFT - RIGHT) / max(len(times) - 1, 1)
    for s in series:
        css = _css_class(s.name)
        for run in _runs(s.values):
            xy = [(LEFT + index * step, _y(value, y_top)) for index, value in run]
            if len(xy) == 1:
                parts.append(f'<circle class="point {css}" cx="{xy[0][0]:.1f}" cy="{xy[0][1]:.1f}" r="2.5"/>')
            else:
                path = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
                parts.append(f'<polyline class="line {css}" points="{path}"/>')
    last = len(times) - 1
    for index in sorted({0, len(times) // 2, last} if times else set()):
        x = LEFT + index * step
        label = times[index].strftime("%m-%d %H:%M")
        anchor = "start" if index == 0 else "end" if index == last else "middle"
        parts.append(f'<text class="axis" x="{x:.1f}" y="{HEIGHT - BOTTOM + 18}" text-anchor="{anchor}">{label}</text>')
    parts.extend(_legend(series))
    parts.append("</svg>")
    return Markup("".join(parts))


def bar_chart(categories: Sequence[str], series: Sequence[Series], *, title: str, unit: str, stacked: bool) -> Markup:
    """Bars per category: one per series side by side, or stacked into one."""
    if stacked:
        totals = [sum(s.values[i] or 0.0 for s in series) for i in range(len(categories))]
    else:
        totals = [max((s.values[i] or 0.0 for s in series), default=0.0) for i in range(len(categories))]
    y_top = nice_ceiling(max(totals, default=0.0))
    parts = _frame(title, y_top, unit)
    slot = (WIDTH - LEFT - RIGHT) / max(len(categories), 1)
    lanes = 1 if stacked else max(len(series), 1)
    bar_width = slot * 0.7 / lanes
    for i, category in enumerate(categories):
        x0 = LEFT + i * slot + slot * 0.15
        base = 0.0
        for lane, s in enumerate(series):
            value = s.values[i]
            if value is None or value <= 0:
                continue
            bottom = base if stacked else 0.0
            x = x0 if stacked else x0 + lane * bar_width
            y_high, y_low = _y(bottom + value, y_top), _y(bottom, y_top)
            parts.append(
                f'<rect class="bar {_css_class(s.name)}" x="{x:.1f}" y="{y_high:.1f}" '
                f'width="{bar_width:.1f}" height="{y_low - y_high:.1f}">'
                f"<title>{escape(category)} {escape(s.name)}: {_number(value)}</title></rect>"
            )
            if stacked:
                base += value
        label_x = LEFT + i * slot + slot / 2
        parts.append(
            f'<text class="axis" x="{label_x:.1f}" y="{HEIGHT - BOTTOM + 18}" text-anchor="middle">'
            f"{escape(category)}</text>"
        )
    parts.extend(_legend(series))
    parts.append("</svg>")
    return Markup("".join(parts))
