"""central/web/svg.py: bars proportional to their value, a grey labelled bar for no value
(never a 0-length one), interval whiskers, escaped labels, a reference marker."""

from __future__ import annotations

import pytest

from central.web.svg import Bar, hbar_chart
from tests.central.report.html_tree import Node, parse


def chart(bars: list[Bar], *, width: int, label_w: int) -> Node:
    markup = hbar_chart(bars, title="Kepatuhan <masker>", missing_text="data kurang",
                        width=width, label_w=label_w)  # fmt: skip
    return parse(str(markup)).find_all("svg")[0]


def test_bars_missing_and_intervals() -> None:
    svg = chart([Bar("A & B", 0.5, "50,0 %", 0.4, 0.6), Bar("C", None), Bar("D", 1.0, "100 %")],
                width=640, label_w=170)  # fmt: skip
    assert svg.attrs["role"] == "img" and svg.attrs["viewbox"] == "0 0 640 92"  # 6 + 3×22 + 20
    assert svg.find_all("title")[0].text() == "Kepatuhan <masker>"
    bars = svg.find_all("rect", "bar")
    plot_w = 640 - 170 - 70
    assert [float(b.attrs["width"]) for b in bars] == pytest.approx([plot_w / 2, plot_w])
    assert [b.text() for b in bars] == ["A & B: 50,0 %", "D: 100 %"]
    (grey,) = svg.find_all("rect", "missing")
    assert float(grey.attrs["width"]) == plot_w and grey.text() == "C: data kurang"
    texts = [t.text() for t in svg.find_all("text")]
    assert "data kurang" in texts and "A & B" in texts and "0" in texts and "1" in texts
    (whisker,) = svg.find_all("path", "interval")
    assert whisker.attrs["d"].startswith(f"M{170 + plot_w * 0.4:.1f} ")
    assert f"H{170 + plot_w * 0.6:.1f}" in whisker.attrs["d"]


def test_escaped_and_clamped_and_marker() -> None:
    raw = str(hbar_chart([Bar("<script>", 1.7, "170 %")], title="t", missing_text="-",
                         marker=(0.7, "ambang 70 %")))  # fmt: skip
    assert "<script>" not in raw and "&lt;script&gt;" in raw
    svg = parse(raw).find_all("svg")[0]
    assert float(svg.find_all("rect", "bar")[0].attrs["width"]) == 400  # clamped to the axis
    (marker,) = svg.find_all("line", "marker")
    assert float(marker.attrs["x1"]) == pytest.approx(170 + 400 * 0.7)
    assert "ambang 70 %" in [t.text() for t in svg.find_all("text")]
