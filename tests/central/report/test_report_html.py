"""The HTML report people read: Bahasa Indonesia, labelled and formatted figures (1.234,
67,5 %), "data kurang" in grey where compliance has no ratio, a per-kecamatan SVG bar chart, the
interval and corrected compliance when the report has them, and a clean load in Chromium."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import Engine

from central.api.app import ApiContext, create_app
from central.areas import CameraRegistry
from central.report import Figure, build_report, to_html, write_report
from central.report.html_view import EXTRA, LABELS
from central.summaries import SummaryBoard
from tests.central.api_fixtures import serving
from tests.central.report.html_tree import Node, parse
from tests.central.report.test_report import CITY, DAY, KA, KB, WIB, seed

RAW = ("people_seen", "not_judged", "mask_compliance", "cases_", "beds_", "pharmacy_", "aid_",
       "_stock", "ratio", "counts")  # fmt: skip


@pytest.fixture
def seeded(engine: Engine) -> Engine:
    seed(engine)
    return engine


def rows(table: Node) -> dict[str, list[str]]:
    """Row header → the row's cell texts."""
    out = {}
    for tr in table.find_all("tr"):
        th = tr.find_all("th")
        if th and th[0].attrs.get("scope") == "row":
            out[th[0].text()] = [td.text() for td in tr.find_all("td")]
    return out


def figures(section: Node) -> dict[tuple[str, str], list[str]]:
    """(table caption, figure label) → [value, unit, source, as of], over a section's tables."""
    out = {}
    for table in section.find_all("table", "figures"):
        caption = table.find_all("caption")[0].text()
        for label, cells in rows(table).items():
            out[(caption, label)] = cells
    return out


def test_hand_computed_page(seeded: Engine) -> None:
    report = build_report(seeded, DAY, WIB, late_after_h=36, min_people_for_ratio=20)
    page = to_html(report)
    doc = parse(page)
    html = doc.find_all("html")[0]
    assert html.attrs["lang"] == "id"
    assert (
        doc.find_all("title")[0].text()
        == "Laporan Harian Siaga — Kota Semarang, Sabtu, 10 Juli 2021"
    )
    assert "Data sampai pukul 12.00 WIB" in doc.find_all("header")[0].text()

    # The city's headline: 29 masked of 40 judged.
    card = doc.by_id("city-compliance")
    assert card.find_all("span", "value")[0].text() == "72,5 %"
    # Wilson 95 % for 29 of 40, by hand: (0.725 + 1.96²/80 ± 1.96·√(0.725·0.275/40 + 1.96²/6400))
    # / (1 + 1.96²/40) = 0.5717 … 0.8389 (no calibrated camera: no corrected figure).
    assert card.find_all("span", "sub")[0].text() == "selang kepercayaan 95 %: 57,2 % – 83,9 %"
    cards = {c.find_all("span", "label")[0].text(): c.find_all("span", "value")[0].text()
             for c in doc.find_all("div", "card")}  # fmt: skip
    assert cards == {"Kepatuhan masker": "72,5 %", "Orang terlihat": "40",
                     "Dinilai (bermasker + tidak)": "40", "Bermasker": "29",
                     "Tidak bermasker": "11", "Terlihat, tidak dapat dinilai": "0"}  # fmt: skip

    # Per kecamatan: B has 10 judged (< 20): "data kurang", greyed, never 0 %.
    table = rows(doc.by_id("kecamatan-table"))
    assert table["Kec A"] == ["30", "30", "80,0 %", "3", "60,0 %", "100"]
    assert table["Kec B"] == ["10", "10", "data kurang", "1 terlambat", "25,0 %",
                              "50 terlambat"]  # fmt: skip
    kb = next(tr for tr in doc.by_id("kecamatan-table").find_all("tr") if "Kec B" in tr.text())
    assert "kurang" in kb.find_all("td")[2].classes()

    # The chart: one bar (A, 80 % of the axis) and a grey "data kurang" bar (B).
    svg = doc.find_all("svg", "chart")[0]
    assert svg.attrs["role"] == "img"
    bars, missing = svg.find_all("rect", "bar"), svg.find_all("rect", "missing")
    assert [b.text() for b in bars] == ["Kec A: 80,0 %"]
    assert [m.text() for m in missing] == ["Kec B: data kurang"]
    assert float(bars[0].attrs["width"]) == pytest.approx(0.8 * float(missing[0].attrs["width"]))

    # Every figure labelled, in Indonesian format, with its unit, source and lateness.
    city = figures(
        doc.find_all("section", pred=lambda n: n.attrs.get("aria-labelledby") == "h-all")[0]
    )
    assert city[("Masker (24 jam sampai batas waktu)", "Kepatuhan masker")][:1] == ["72,5 %"]
    assert city[("Tempat tidur isolasi", "Keterisian")][:2] == ["36,7 %", ""]
    assert city[("Tempat tidur isolasi", "Tempat tidur isolasi")][:3] == [
        "30", "tempat tidur", "laporan rumah sakit"]  # fmt: skip
    assert city[("Bantuan", "Bantuan diterima (kemarin): masker")][:2] == ["1.000", "buah"]
    assert city[("Bantuan", "Bantuan diterima (kemarin): beras")][:2] == ["500", "kg"]
    assert city[("Mobilitas", "Orang masuk kota (kemarin)")][:2] == ["150", "orang"]
    assert city[("Kasus COVID-19 — bukan warga, dirawat di kota", "Terkonfirmasi (kumulatif)")] == [
        "tidak ada data terlambat", "orang", "data kasus", "–"]  # fmt: skip
    assert city[("Kasus COVID-19 — warga", "Kasus aktif")][0] == "4"
    assert len(doc.find_all("details")) == 2  # each kecamatan's figures

    # No stored column name reaches the reader.
    visible = " ".join(n.text() for n in doc.find_all("body"))
    assert not [raw for raw in RAW if raw in visible], visible
    assert "_" not in visible
    assert "http://" not in page and "https://" not in page and "<script" not in page


def test_every_report_figure_has_a_label(seeded: Engine) -> None:
    names = {f.figure.split(":")[0] for f in build_report(seeded, DAY, WIB).figures}
    names = {n.rsplit("_", 1)[1] if n.startswith("cases_") else n for n in names}
    assert names - set(EXTRA) <= set(LABELS), names - set(LABELS) - set(EXTRA)


def test_interval_and_corrected_compliance_show_when_present(seeded: Engine) -> None:
    """Issue 16's report rows qualify compliance beside it; they are not listed on their own."""
    r = build_report(seeded, DAY, WIB)
    r = dataclasses.replace(r, figures=[f for f in r.figures if "compliance_" not in f.figure
                                        and f.figure != "corrected_share"])  # fmt: skip
    base = r.get(KA, "mask_compliance")
    extra = {"compliance_low": 0.65, "compliance_high": 0.8911, "compliance_corrected": 0.7,
             "compliance_corrected_low": 0.6, "compliance_corrected_high": 0.8,
             "corrected_share": 0.5}  # fmt: skip
    r.figures.extend(dataclasses.replace(base, figure=k, value=v) for k, v in extra.items())
    doc = parse(to_html(r))
    note = next(tr.text() for tr in doc.find_all("tr", "note-row"))
    assert note == ("selang kepercayaan 95 %: 65,0 % – 89,1 %; terkoreksi kalibrasi kamera: "
                    "70,0 % (60,0 % – 80,0 %), dari 50 % orang dinilai")  # fmt: skip
    svg = doc.find_all("svg", "chart")[0]
    assert len(svg.find_all("path", "interval")) == 1  # A's whisker; B has no ratio
    visible = " ".join(n.text() for n in doc.find_all("body"))
    assert "Compliance" not in visible and "_" not in visible
    kb_note = parse(to_html(r)).by_id("city-compliance")  # the city has none: no note
    assert kb_note.find_all("span", "sub") == []
    assert r.get(KB, "mask_compliance").value is None and r.get(CITY, "mask_compliance").value


def test_thousands_and_empty_report(engine: Engine) -> None:
    """A city with no data at all: every area 'data kurang', the chart all grey."""
    from central.areas import sync_areas
    from tests.central.summary_fixtures import small_areas

    sync_areas(engine, small_areas())
    doc = parse(to_html(build_report(engine, DAY, WIB)))
    svg = doc.find_all("svg", "chart")[0]
    assert svg.find_all("rect", "bar") == [] and len(svg.find_all("rect", "missing")) == 2
    assert doc.by_id("city-compliance").find_all("span", "value")[0].text() == "data kurang"
    assert "kurang dari 20 orang dinilai" in doc.by_id("city-compliance").text()
    big = Figure(CITY, "Kota Semarang", "kota", "people_seen", 1234567, "people", "counts", None,
                 True)  # fmt: skip
    from central.report.html_view import value_text

    assert value_text(big) == "1.234.567"
    assert value_text(dataclasses.replace(big, value=0.675, unit="ratio")) == "67,5 %"
    assert value_text(dataclasses.replace(big, value=1234.5, unit="kg")) == "1.234,5"


@pytest.fixture
def served(seeded: Engine, tmp_path: Path) -> Iterator[str]:
    write_report(build_report(seeded, DAY, WIB), tmp_path / "reports")
    ctx = ApiContext(engine=seeded, board=SummaryBoard(), cameras=CameraRegistry(),
                     report_dir=tmp_path / "reports")  # fmt: skip
    with serving(create_app(ctx)) as url:
        yield f"{url}/reports/{DAY.isoformat()}?format=html"


@pytest.mark.parametrize("size", [(1366, 768), (390, 844)])
def test_in_chromium(served: str, tmp_path: Path, size: tuple[int, int]) -> None:
    """Served by central at /reports/{day}?format=html: loads with no console error, asks for
    nothing but the page, draws the chart, and fits an operations screen and a phone."""
    from tests.central.web.dashboard_fixtures import chromium, console_errors, requested_urls

    drv = chromium(tmp_path, width=size[0], height=size[1])
    try:
        requested_urls(drv), console_errors(drv)  # drop the browser's own start-up entries
        drv.get(served)
        assert drv.title.startswith("Laporan Harian Siaga")
        widths = drv.execute_script(
            "return [...document.querySelectorAll('svg.chart rect')]"
            ".map(r => r.getBoundingClientRect().width)")  # fmt: skip
        assert len(widths) == 2 and all(w > 0 for w in widths)
        overflow = drv.execute_script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"the page is {overflow} px wider than a {size[0]} px screen"
        assert console_errors(drv) == []
        # Nothing fetched over the network but the page itself (the browser's own chrome:// and
        # data: URLs aside).
        fetched = [
            u for u in requested_urls(drv) if urlsplit(u).scheme in ("http", "https", "ws", "wss")
        ]
        assert fetched == [served]
    finally:
        drv.quit()
