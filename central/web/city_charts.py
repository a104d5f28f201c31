"""Inline SVG charts of the city page: pure functions from figures to markup, no script.

Lines, stacked columns and grouped bars are drawn here; single bars and the frame are the
report's helpers (central/web/svg.py). Each chart is one `<svg>` with a viewBox (it scales to
the column, phone or 1366×768 screen), a `<title>` and role="img" for screen readers; the page
puts the legend and a table of the same numbers beside it, so a chart is never the only way to
read a figure. Values are escaped; labels come from the caller already formatted (Indonesian or
English).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape
from math import ceil, floor, log10

from markupsafe import Markup

from central.web.svg import Bar, hbar_chart, svg_frame

PALETTE = ("#1f6feb", "#d1242f", "#1a7f37", "#8250df", "#bf8700", "#0a7480", "#cf222e", "#57606a")
W, H = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 76, 12, 12, 28


@dataclass(frozen=True, slots=True)
class Series:
    """One line or bar series: a label, a colour and one value per x position (None: no point)."""

    label: str
    values: Sequence[float | None]
    colour: str = PALETTE[0]


def colours(n: int) -> list[str]:
    """n distinct colours from the palette (repeating past its end)."""
    return [PALETTE[i % len(PALETTE)] for i in range(n)]


def nice_step(value: float) -> float:
    """The smallest 1, 2 or 5 × 10^k at or above value (1 for nothing)."""
    if value <= 0:
        return 1.0
    exp = 10 ** floor(log10(value))
    return next(m * exp for m in (1, 2, 5, 10) if m * exp >= value * (1 - 1e-9))


def axis_top(value: float, ticks: int = 4) -> tuple[float, int]:
    """(top, intervals): a round top of the y axis at or above value, in at most `ticks` round
    steps (250 → 300 in 3 steps of 100)."""
    step = nice_step(value / ticks)
    n = max(1, ceil(value / step - 1e-9))
    return step * n, n


def _y_axis(top: float, n: int, fmt: Callable[[float], str], *, height: int = H) -> list[str]:
    out = []
    for i in range(n + 1):
        v = top * i / n
        y = height - BOTTOM - (height - TOP - BOTTOM) * i / n
        out.append(f'<line class="grid" x1="{LEFT}" x2="{W - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
                   f'<text class="tick" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
                   f"{escape(fmt(v))}</text>")  # fmt: skip
    return out


def _x_labels(labels: Sequence[str], xs: Sequence[float], *, height: int = H) -> list[str]:
    step = max(1, -(-len(labels) // 7))  # at most 7 labels
    return [f'<text class="tick" x="{xs[i]:.1f}" y="{height - 8}" text-anchor="middle">'
            f"{escape(labels[i])}</text>" for i in range(0, len(labels), step)]  # fmt: skip


def line_chart(title: str, labels: Sequence[str], series: Sequence[Series],
               fmt: Callable[[float], str], *, top: float | None = None) -> Markup:  # fmt: skip
    """Lines over the x labels (dates), y from 0 to a round maximum (or `top`); a lone point
    is drawn as a dot."""
    n = len(labels)
    values = [v for s in series for v in s.values if v is not None]
    ymax, steps = (top, 4) if top is not None else axis_top(max(values, default=0))
    plot_w, plot_h = W - LEFT - RIGHT, H - TOP - BOTTOM
    xs = [LEFT + (plot_w * i / (n - 1) if n > 1 else plot_w / 2) for i in range(n)]

    def y(v: float) -> float:
        return H - BOTTOM - plot_h * v / ymax

    body = _y_axis(ymax, steps, fmt)
    for s in series:
        pts = [(xs[i], y(v)) for i, v in enumerate(s.values) if v is not None]
        if len(pts) > 1:
            path = " ".join(f"{x:.1f},{yy:.1f}" for x, yy in pts)
            body.append(f'<polyline class="line" fill="none" stroke="{s.colour}" '
                        f'stroke-width="2" points="{path}"><title>{escape(s.label)}</title>'
                        "</polyline>")  # fmt: skip
        body.extend(f'<circle cx="{x:.1f}" cy="{yy:.1f}" r="{3 if len(pts) == 1 else 1.8}" '
                    f'fill="{s.colour}"/>' for x, yy in pts)  # fmt: skip
    return svg_frame(title, W, H, [*body, *_x_labels(labels, xs)])


def stacked_bars(title: str, labels: Sequence[str], series: Sequence[Series],
                 fmt: Callable[[float], str]) -> Markup:  # fmt: skip
    """One bar per x label, its series stacked (None counts as 0)."""
    n = max(1, len(labels))
    totals = [sum(s.values[i] or 0 for s in series) for i in range(len(labels))]
    ymax, steps = axis_top(max(totals, default=0))
    plot_w, plot_h = W - LEFT - RIGHT, H - TOP - BOTTOM
    slot = plot_w / n
    bar = max(1.0, slot * 0.7)
    xs = [LEFT + slot * (i + 0.5) for i in range(n)]
    body = _y_axis(ymax, steps, fmt)
    for i in range(len(labels)):
        base = 0.0
        for s in series:
            v = s.values[i] or 0
            if v <= 0:
                continue
            h = plot_h * v / ymax
            yy = H - BOTTOM - plot_h * base / ymax - h
            tip = escape(f"{labels[i]} · {s.label}: {fmt(v)}")
            body.append(f'<rect class="bar" x="{xs[i] - bar / 2:.1f}" y="{yy:.1f}" '
                        f'width="{bar:.1f}" height="{h:.1f}" fill="{s.colour}">'
                        f"<title>{tip}</title></rect>")  # fmt: skip
            base += v
    return svg_frame(title, W, H, [*body, *_x_labels(labels, xs)])


def _short(label: str, most: int = 22) -> str:
    """A bar label that fits left of the bars (the full one is in the bar's tooltip)."""
    return label if len(label) <= most else label[: most - 1] + "…"


def bars(title: str, labels: Sequence[str], values: Sequence[float],
         fmt: Callable[[float], str], *, missing: str) -> Markup:  # fmt: skip
    """One horizontal bar per label on a round axis (central/web/svg.py's hbar_chart)."""
    top, n = axis_top(max(values, default=0))
    return hbar_chart([Bar(_short(lb), v, fmt(v)) for lb, v in zip(labels, values, strict=True)],
                      title=title, missing_text=missing, scale_max=top,
                      ticks=[top * i / n for i in range(n + 1)], tick_text=fmt)  # fmt: skip


def grouped_bars(title: str, labels: Sequence[str], series: Sequence[Series],
                 fmt: Callable[[float], str]) -> Markup:  # fmt: skip
    """Horizontal bars: one group per label, one bar per series in it, value written at its end
    (the aid chart: received and distributed per source)."""
    row_h = 14 * len(series) + 10
    height = TOP + row_h * len(labels) + 8
    left = 180
    plot_w = W - left - 80
    top = max((v or 0 for s in series for v in s.values), default=0) or 1.0
    body = []
    for i, label in enumerate(labels):
        y0 = TOP + row_h * i
        body.append(f'<text class="label" x="{left - 8}" y="{y0 + row_h / 2 + 2:.1f}" '
                    f'text-anchor="end">{escape(_short(label))}</text>')  # fmt: skip
        for j, s in enumerate(series):
            v = s.values[i] or 0
            w = plot_w * v / top
            yy = y0 + 14 * j
            body.append(f'<rect class="bar" x="{left}" y="{yy:.1f}" width="{w:.1f}" height="11" '
                        f'fill="{s.colour}"><title>{escape(f"{label} · {s.label}: {fmt(v)}")}'
                        f'</title></rect><text class="value" x="{left + w + 4:.1f}" '
                        f'y="{yy + 9.5:.1f}">{escape(fmt(v))}</text>')  # fmt: skip
    return svg_frame(title, W, height, body)
