"""Server-side SVG charts for the report pages: no JavaScript, no external library.

Every chart is an inline ``<svg role="img">`` with a ``<title>`` and a ``<desc>`` (read by
screen readers), an ``aria-labelledby`` pointing at them, and ``direction: ltr`` so numbers and
axes read left to right on Arabic (RTL) pages too. Values are drawn from the figures handed in;
the charts compute nothing but geometry.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from markupsafe import Markup, escape

WIDTH = 640
HEIGHT = 240
PAD_LEFT = 58
PAD_RIGHT = 12
PAD_TOP = 18
PAD_BOTTOM = 52
# Text is 15 user units (sanad.css): readable at the chart cards' minimum width.
CHAR_WIDTH = 8.5
# Colour-blind friendly (Okabe-Ito).
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000")

Formatter = Callable[[float], str]
TICKS = 4


def _number(value: float) -> str:
    if value == int(value):
        return str(int(value))
    return f"{value:.1f}"


DURATION_STEPS = (1, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 21600, 43200)


def nice_max(value: float, *, integer: bool = False, steps: Sequence[float] = ()) -> float:
    """The top of the y axis: four gridline steps, each a round number (1, 2, 2.5 or 5 times
    a power of ten, or one of ``steps``), at least 1 when the data are counts."""
    if value <= 0:
        return 4.0 if integer else 1.0
    wanted = value / TICKS
    for step in steps:
        if step >= wanted:
            return float(step * TICKS)
    power = 10 ** math.floor(math.log10(wanted))
    for factor in (1, 2, 2.5, 5, 10):
        step = factor * power
        if step >= wanted and (not integer or step == int(step)):
            return float(step * TICKS)
    return float(10 * power * TICKS)  # pragma: no cover


def _open(chart_id: str, title: str, desc: str, height: int = HEIGHT) -> list[str]:
    t, d = f"{chart_id}-title", f"{chart_id}-desc"
    return [
        f'<svg id="{escape(chart_id)}" class="chart" role="img" '
        f'aria-labelledby="{escape(t)} {escape(d)}" viewBox="0 0 {WIDTH} {height}" '
        f'width="100%" preserveAspectRatio="xMidYMid meet" direction="ltr" '
        f'style="direction: ltr; unicode-bidi: isolate; max-width: {WIDTH}px" '
        f'xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{escape(t)}">{escape(title)}</title>',
        f'<desc id="{escape(d)}">{escape(desc)}</desc>',
    ]


def _y_axis(top: float, fmt: Formatter, height: int = HEIGHT) -> list[str]:
    plot_h = height - PAD_TOP - PAD_BOTTOM
    parts = []
    for i in range(TICKS + 1):
        value = top * i / TICKS
        y = height - PAD_BOTTOM - plot_h * i / TICKS
        parts.append(
            f'<line x1="{PAD_LEFT}" x2="{WIDTH - PAD_RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="#e3e7ee" stroke-width="1"/>'
            f'<text x="{PAD_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{escape(fmt(value))}</text>"
        )
    return parts


def _x_labels(labels: Sequence[str], height: int = HEIGHT) -> list[str]:
    plot_w = WIDTH - PAD_LEFT - PAD_RIGHT
    n = len(labels)
    if n == 0:
        return []
    every = max(1, math.ceil(n / 12))  # at most about 12 labels
    parts = []
    for i, label in enumerate(labels):
        if i % every and i != n - 1:
            continue
        x = PAD_LEFT + plot_w * (i + 0.5) / n
        parts.append(
            f'<text x="{x:.1f}" y="{height - PAD_BOTTOM + 16}" text-anchor="middle">'
            f"{escape(label)}</text>"
        )
    return parts


def _legend(names: Sequence[str], height: int = HEIGHT) -> list[str]:
    parts = []
    x = float(PAD_LEFT)
    for i, name in enumerate(names):
        colour = PALETTE[i % len(PALETTE)]
        parts.append(
            f'<g class="legend"><rect x="{x:.1f}" y="{height - 17}" width="11" height="11" '
            f'fill="{colour}"/><text x="{x + 15:.1f}" y="{height - 6}">{escape(name)}</text></g>'
        )
        x += 24 + CHAR_WIDTH * len(name)
    return parts


def _empty(parts: list[str], message: str, height: int = HEIGHT) -> Markup:
    parts.append(
        f'<text class="empty" x="{WIDTH / 2}" y="{height / 2}" text-anchor="middle">'
        f"{escape(message)}</text></svg>"
    )
    return Markup("".join(parts))


def bar_chart(
    chart_id: str,
    title: str,
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float]]],
    *,
    fmt: Formatter = _number,
    empty: str = "no data",
) -> Markup:
    """Stacked bars: one bar per label, one segment per series (legend below the axis)."""
    total = [sum(values[i] for _, values in series) for i in range(len(labels))]
    desc = "; ".join(
        f"{label}: "
        + ", ".join(f"{name} {fmt(values[i])}" for name, values in series if values[i])
        + f" (total {fmt(total[i])})"
        for i, label in enumerate(labels)
    )
    parts = _open(chart_id, title, desc)
    if not labels or not any(total):
        return _empty(parts, empty)
    top = nice_max(max(total), integer=all(float(v).is_integer() for v in total))
    parts += _y_axis(top, fmt)
    plot_w = WIDTH - PAD_LEFT - PAD_RIGHT
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM
    slot = plot_w / len(labels)
    bar_w = max(1.0, min(48.0, slot * 0.7))
    for i, label in enumerate(labels):
        x = PAD_LEFT + slot * i + (slot - bar_w) / 2
        y = float(HEIGHT - PAD_BOTTOM)
        for s, (name, values) in enumerate(series):
            value = values[i]
            if not value:
                continue
            h = plot_h * value / top
            y -= h
            parts.append(
                f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" '
                f'height="{h:.1f}" fill="{PALETTE[s % len(PALETTE)]}" '
                f'data-label="{escape(label)}" data-series="{escape(name)}" '
                f'data-value="{escape(_number(value))}">'
                f"<title>{escape(label)} · {escape(name)}: {escape(fmt(value))}</title></rect>"
            )
        if total[i] and len(labels) <= 16:
            parts.append(
                f'<text class="total" x="{x + bar_w / 2:.1f}" y="{y - 3:.1f}" '
                f'text-anchor="middle">{escape(fmt(total[i]))}</text>'
            )
    parts += _x_labels(labels)
    if len(series) > 1:
        parts += _legend([name for name, _ in series])
    parts.append("</svg>")
    return Markup("".join(parts))


def line_chart(
    chart_id: str,
    title: str,
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    *,
    fmt: Formatter = _number,
    empty: str = "no data",
    steps: Sequence[float] = (),
) -> Markup:
    """Lines over the labels; a ``None`` value is a gap (no data that day), never a zero."""
    known = [v for _, values in series for v in values if v is not None]
    desc = "; ".join(
        f"{name}: "
        + ", ".join(f"{labels[i]} {fmt(v)}" for i, v in enumerate(values) if v is not None)
        for name, values in series
    )
    parts = _open(chart_id, title, desc or empty)
    if not labels or not known:
        return _empty(parts, empty)
    top = nice_max(max(known), steps=steps)
    parts += _y_axis(top, fmt)
    plot_w = WIDTH - PAD_LEFT - PAD_RIGHT
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM
    n = len(labels)
    for s, (name, values) in enumerate(series):
        colour = PALETTE[s % len(PALETTE)]
        runs: list[list[tuple[float, float]]] = [[]]
        points = []
        for i, value in enumerate(values):
            if value is None:
                runs.append([])
                continue
            x = PAD_LEFT + plot_w * (i + 0.5) / n
            y = HEIGHT - PAD_BOTTOM - plot_h * value / top
            runs[-1].append((x, y))
            points.append(
                f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}" '
                f'data-series="{escape(name)}" data-value="{escape(_number(value))}">'
                f"<title>{escape(labels[i])} · {escape(name)}: {escape(fmt(value))}</title>"
                f"</circle>"
            )
        for run in runs:
            if len(run) > 1:
                coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in run)
                parts.append(
                    f'<polyline class="line" fill="none" stroke="{colour}" stroke-width="2" '
                    f'points="{coords}"/>'
                )
        parts += points
    parts += _x_labels(labels)
    parts += _legend([name for name, _ in series])
    parts.append("</svg>")
    return Markup("".join(parts))


def duration_label(seconds: float) -> str:
    """A short duration for axes: 45s, 12m, 3.5h, 2d."""
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{seconds / 60:.0f}m" if seconds % 60 == 0 else f"{seconds / 60:.1f}m"
    if seconds < 86400:
        return f"{seconds / 3600:.0f}h" if seconds % 3600 == 0 else f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.0f}d" if seconds % 86400 == 0 else f"{seconds / 86400:.1f}d"
