"""Small, pure inline-SVG chart helpers for server-rendered pages (the daily report, the city
page): figures in, markup out, no script and no external asset.

Why inline SVG: the report is one standalone file that must read the same in a browser, in a
mail client that allows images, and printed; a chart library would need script. Every chart is
one `<svg>` with a viewBox (it scales to its column), a `<title>` and role="img"; labels and
value texts come from the caller already formatted for the reader's language, and are escaped
here. An area without a figure is drawn as a grey bar that says so (never as 0).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

BAR = "#1f6feb"
MISSING = "#d0d7de"
INK, MUTED, ALERT = "#24292f", "#57606a", "#d1242f"


@dataclass(frozen=True, slots=True)
class Bar:
    """One horizontal bar: its label, value (None: no figure), an optional interval (low, high)
    drawn as a whisker, and the text printed after the bar (the formatted value)."""

    label: str
    value: float | None
    text: str = ""
    low: float | None = None
    high: float | None = None


def svg_frame(title: str, width: int, height: int, body: Sequence[str]) -> Markup:
    """An accessible `<svg>` of the given size around body (already-escaped markup parts)."""
    t = escape(title)
    return Markup(
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'aria-label="{t}"><title>{t}</title>'
        f"{''.join(body)}</svg>"
    )


def text(x: float, y: float, s: str, *, anchor: str = "start", fill: str = INK, size: int = 12,
         italic: bool = False) -> str:  # fmt: skip
    """A `<text>` element (s escaped)."""
    style = ' font-style="italic"' if italic else ""
    return (f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" fill="{fill}" '
            f'font-family="sans-serif" font-size="{size}"{style}>{escape(s)}</text>')  # fmt: skip


def hbar_chart(
    bars: Sequence[Bar],
    *,
    title: str,
    missing_text: str,
    scale_max: float = 1.0,
    ticks: Sequence[float] = (0.0, 0.25, 0.5, 0.75, 1.0),
    tick_text: Callable[[float], str] = lambda v: f"{v:g}",
    marker: tuple[float, str] | None = None,
    width: int = 640,
    label_w: int = 170,
    row_h: int = 22,
) -> Markup:
    """Horizontal bars on a 0..scale_max axis, one row per bar, in the given order.

    A bar without a value is a full-width grey bar labelled missing_text ("data kurang"), so
    an area with too few people is never read as 0. marker: a dashed reference line (value,
    label), e.g. the low-compliance threshold.
    """
    value_w = 70  # room for the value text after the longest bar
    plot_w = width - label_w - value_w
    top, axis_h = 6, 20
    height = top + row_h * len(bars) + axis_h

    def x(v: float) -> float:
        return label_w + plot_w * max(0.0, min(v, scale_max)) / scale_max

    body: list[str] = []
    for t in ticks:  # grid first, bars over it
        body.append(f'<line x1="{x(t):.1f}" y1="{top}" x2="{x(t):.1f}" y2="{height - axis_h}" '
                    f'stroke="{MISSING}" stroke-width="1"/>')  # fmt: skip
        body.append(text(x(t), height - 6, tick_text(t), anchor="middle", fill=MUTED))
    for i, b in enumerate(bars):
        y = top + i * row_h
        mid = y + row_h / 2 + 4
        body.append(text(label_w - 6, mid, b.label, anchor="end"))
        if b.value is None:
            body.append(f'<rect class="missing" x="{label_w}" y="{y + 3}" width="{plot_w}" '
                        f'height="{row_h - 6}" fill="{MISSING}"><title>{escape(b.label)}: '
                        f"{escape(missing_text)}</title></rect>")  # fmt: skip
            body.append(text(label_w + 6, mid, missing_text, fill=MUTED, italic=True))
            continue
        w = x(b.value) - label_w
        body.append(f'<rect class="bar" x="{label_w}" y="{y + 3}" width="{w:.1f}" '
                    f'height="{row_h - 6}" fill="{BAR}"><title>{escape(b.label)}: '
                    f"{escape(b.text)}</title></rect>")  # fmt: skip
        if b.low is not None and b.high is not None:
            lo, hi, wy = x(b.low), x(b.high), y + row_h / 2
            d = f"M{lo:.1f} {wy - 4:g}v8M{lo:.1f} {wy:g}H{hi:.1f}M{hi:.1f} {wy - 4:g}v8"
            body.append(f'<path class="interval" d="{d}" stroke="{INK}" fill="none"/>')
        end = max(x(b.value), x(b.high) if b.high is not None else 0.0)
        body.append(text(end + 4, mid, b.text))
    if marker is not None:
        mx = x(marker[0])
        body.append(
            f'<line class="marker" x1="{mx:.1f}" y1="{top}" x2="{mx:.1f}" '
            f'y2="{height - axis_h}" stroke="{ALERT}" stroke-dasharray="4 3"/>'
        )
        body.append(text(mx, top + 10, marker[1], anchor="middle", fill=ALERT, size=11))
    return svg_frame(title, width, height, body)
