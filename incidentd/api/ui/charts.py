"""Geometry of the insights charts, drawn as inline SVG by the templates (no I/O, no scripts).

Three charts: stacked bars (incidents per day by severity), a line with points (MTTR per
week) and horizontal bars (open incidents by tag). Every bar, segment and point carries the
link to the incident list it counts, and a tooltip; the templates only place what is here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

WIDTH = 960
PLOT_LEFT = 48
PLOT_RIGHT = 16
PLOT_TOP = 16
AXIS_HEIGHT = 34
BARS_HEIGHT = 260
LINE_HEIGHT = 220
ROW_HEIGHT = 26
LABEL_WIDTH = 180
MAX_TAGS = 15


@dataclass(frozen=True, slots=True)
class Tick:
    """An axis tick: where it sits and what it says."""

    at: float
    label: str


@dataclass(frozen=True, slots=True)
class Rect:
    """A bar or a bar's segment, with its link and tooltip."""

    x: float
    y: float
    width: float
    height: float
    kind: str  # a CSS class suffix: the severity, or "tag"
    value: float
    title: str
    href: str


@dataclass(frozen=True, slots=True)
class Label:
    """Text on an axis, optionally a link."""

    x: float
    y: float
    text: str
    href: str | None = None


@dataclass(frozen=True, slots=True)
class Point:
    """A point of the line, with its link and tooltip."""

    x: float
    y: float
    value: float
    title: str
    href: str


@dataclass(slots=True)
class Chart:
    """One chart: its size, plot box, what to draw and the axis ticks."""

    width: float
    height: float
    plot_bottom: float
    rects: list[Rect] = field(default_factory=list)
    labels: list[Label] = field(default_factory=list)
    y_ticks: list[Tick] = field(default_factory=list)
    points: list[Point] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)  # SVG path data, one per unbroken run
    empty: bool = True


def nice_ticks(top: float, count: int = 4) -> list[float]:
    """Round tick values from 0 up to at least `top` (about `count` steps)."""
    if top <= 0:
        return [0.0, 1.0]
    raw = top / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    return [step * k for k in range(math.ceil(top / step - 1e-9) + 1)]


def _number(value: float) -> str:
    return f"{value:g}" if value != int(value) else str(int(value))


def _value_axis(chart: Chart, top: float) -> float:
    """Tick the chart's vertical axis from 0 up to at least `top`; returns pixels per unit."""
    ticks = nice_ticks(top)
    scale = (chart.height - PLOT_TOP - AXIS_HEIGHT) / ticks[-1]
    chart.y_ticks = [Tick(chart.plot_bottom - t * scale, _number(t)) for t in ticks]
    return scale


def _slot(columns: Sequence[Column]) -> float:
    """Width of one column's share of the plot."""
    return (WIDTH - PLOT_LEFT - PLOT_RIGHT) / max(len(columns), 1)


@dataclass(frozen=True, slots=True)
class Column:
    """One x position of a chart: its label, link and values (by series or one value)."""

    label: str
    href: str
    title: str
    values: dict[str, float]
    hrefs: dict[str, str] = field(default_factory=dict)


def stacked_bars(columns: Sequence[Column], series: Sequence[str]) -> Chart:
    """Bars stacked in `series` order (bottom first); a segment per non-zero value."""
    totals = [sum(c.values.values()) for c in columns]
    chart = Chart(WIDTH, BARS_HEIGHT, BARS_HEIGHT - AXIS_HEIGHT, empty=not any(totals))
    scale = _value_axis(chart, max(totals, default=0))
    slot = _slot(columns)
    every = max(1, math.ceil(len(columns) / 16))  # at most ~16 date labels
    for k, column in enumerate(columns):
        x, y = PLOT_LEFT + k * slot + slot * 0.15, chart.plot_bottom
        for name in series:
            value = column.values.get(name, 0)
            if not value:
                continue
            height = value * scale
            y -= height
            title = f"{column.title}: {_number(value)} {name}"
            href = column.hrefs.get(name, column.href)
            chart.rects.append(Rect(x, y, slot * 0.7, height, name, value, title, href))
        if k % every == 0:
            label_y = chart.plot_bottom + 16
            chart.labels.append(Label(x + slot * 0.35, label_y, column.label, column.href))
    return chart


def line(columns: Sequence[Column], key: str, unit: str) -> Chart:
    """A line through the columns' `key` values; a column without one breaks the line."""
    values = [c.values.get(key) for c in columns]
    chart = Chart(WIDTH, LINE_HEIGHT, LINE_HEIGHT - AXIS_HEIGHT)
    scale = _value_axis(chart, max((v for v in values if v is not None), default=0))
    slot = _slot(columns)
    run: list[str] = []
    for k, (column, value) in enumerate(zip(columns, values, strict=True)):
        x = PLOT_LEFT + (k + 0.5) * slot
        chart.labels.append(Label(x, chart.plot_bottom + 16, column.label, column.href))
        if value is None:
            if len(run) > 1:
                chart.lines.append(" ".join(run))
            run = []
            continue
        y = chart.plot_bottom - value * scale
        run.append(f"{'M' if not run else 'L'}{x:.1f},{y:.1f}")
        title = f"{column.title}: {_number(round(value, 1))} {unit}"
        chart.points.append(Point(x, y, value, title, column.href))
    if len(run) > 1:
        chart.lines.append(" ".join(run))
    chart.empty = not chart.points
    return chart


def horizontal_bars(columns: Sequence[Column], key: str) -> Chart:
    """One bar per column (at most MAX_TAGS, the largest first), label on the left."""
    shown = sorted(columns, key=lambda c: (-c.values.get(key, 0), c.label))[:MAX_TAGS]
    top = max((c.values.get(key, 0) for c in shown), default=0)
    height = PLOT_TOP + ROW_HEIGHT * max(len(shown), 1) + AXIS_HEIGHT
    chart = Chart(WIDTH, height, height - AXIS_HEIGHT, empty=not shown)
    ticks = nice_ticks(top)
    span = WIDTH - LABEL_WIDTH - PLOT_RIGHT - 40
    chart.y_ticks = [Tick(LABEL_WIDTH + t * span / ticks[-1], _number(t)) for t in ticks]
    for k, column in enumerate(shown):
        value = column.values.get(key, 0)
        y = PLOT_TOP + k * ROW_HEIGHT
        width = value * span / ticks[-1]
        chart.rects.append(
            Rect(LABEL_WIDTH, y + 4, width, ROW_HEIGHT - 8, "tag", value, column.title, column.href)
        )
        chart.labels.append(
            Label(LABEL_WIDTH - 8, y + ROW_HEIGHT / 2 + 4, column.label, column.href)
        )
    return chart
