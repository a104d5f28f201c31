"""What the HTML report shows, in words: Report → labelled, formatted figures (Bahasa Indonesia).

The JSON and CSV carry the figures under their stored names for machines; the HTML is for the
people who act on it (Satgas, camat, lurah), so every figure gets a label, a unit in words and
Indonesian number formatting (1.234 and 67,5 %); compliance below the minimum of people judged
reads "data kurang", never 0 %. Pure: the template (templates/report.html) only lays it out.

Compliance may carry an interval and a calibration-corrected figure (issue 16: the report rows
`compliance_low`, `compliance_high`, `compliance_corrected`, `compliance_corrected_low`,
`compliance_corrected_high`, `corrected_share`, also accepted with a `mask_` prefix); they are
shown beside the compliance they qualify when present.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo

from markupsafe import Markup

from central.report.build import CITY_LEVEL, Figure, Report
from central.web.city_i18n import number, percent, tidy
from central.web.svg import Bar, hbar_chart

MONTHS = ("Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus",
          "September", "Oktober", "November", "Desember")  # fmt: skip
DAYS = ("Senin", "Selasa", "Rabu", "Kamis", "Jumat", "Sabtu", "Minggu")
ZONES = {"Asia/Jakarta": "WIB", "Asia/Pontianak": "WIB", "Asia/Makassar": "WITA",
         "Asia/Jayapura": "WIT"}  # fmt: skip
MISSING = "data kurang"
NO_DATA = "tidak ada data"
LABELS = {
    "people_seen": "Orang terlihat", "masked": "Bermasker", "unmasked": "Tidak bermasker",
    "judged": "Dinilai (bermasker + tidak)", "not_judged": "Terlihat, tidak dapat dinilai",
    "mask_compliance": "Kepatuhan masker",
    "confirmed": "Terkonfirmasi (kumulatif)", "active": "Kasus aktif",
    "recovered": "Sembuh (kumulatif)", "deaths": "Meninggal (kumulatif)",
    "beds_total": "Tempat tidur isolasi", "beds_used": "Terpakai", "beds_free": "Kosong",
    "beds_occupancy_pct": "Keterisian",
    "pharmacy_mask_stock": "Stok masker di apotek",
    "pharmacy_hand_sanitizer_stock": "Stok hand sanitizer di apotek",
    "people_entering": "Orang masuk kota (kemarin)",
    "aid_received": "Bantuan diterima (kemarin)", "aid_distributed": "Bantuan disalurkan (kemarin)",
}  # fmt: skip
UNITS = {"people": "orang", "beds": "tempat tidur", "units": "unit", "pcs": "buah"}
SOURCES = {"counts": "hitungan kamera Siaga", "cases": "data kasus",
           "beds": "laporan rumah sakit", "pharmacy": "laporan apotek",
           "entries": "data orang masuk", "aid": "data bantuan"}  # fmt: skip
GROUPS = (("counts", "Masker (24 jam sampai batas waktu)"),
          ("cases_resident", "Kasus COVID-19 — warga"),
          ("cases_non_resident", "Kasus COVID-19 — bukan warga, dirawat di kota"),
          ("beds", "Tempat tidur isolasi"), ("pharmacy", "Stok apotek"),
          ("entries", "Mobilitas"), ("aid", "Bantuan"))  # fmt: skip
# The per-kecamatan summary table: (figure, column header).
COLUMNS = (("people_seen", "Orang terlihat"), ("judged", "Dinilai"),
           ("mask_compliance", "Kepatuhan masker"),
           ("cases_resident_active", "Kasus aktif (warga)"),
           ("beds_occupancy_pct", "Keterisian tempat tidur"),
           ("pharmacy_mask_stock", "Stok masker apotek"))  # fmt: skip
# The uncertainty rows qualify mask_compliance: not listed on their own.
EXTRA = ("compliance_low", "compliance_high", "compliance_corrected", "compliance_corrected_low",
         "compliance_corrected_high", "corrected_share")  # fmt: skip


def long_date(d: date) -> str:
    """Sabtu, 10 Juli 2021."""
    return f"{DAYS[d.weekday()]}, {d.day} {MONTHS[d.month - 1]} {d.year}"


def clock(t: datetime, zone: str) -> str:
    """12.00 WIB (Indonesian writes the time with a dot)."""
    return f"{t:%H.%M} {ZONES.get(zone, zone)}"


def short_time(t: datetime, tz: tzinfo | None) -> str:
    """10 Jul 11.58, in the report's zone."""
    t = t.astimezone(tz)
    return f"{t.day} {MONTHS[t.month - 1][:3]} {t:%H.%M}"


def value_text(f: Figure) -> str:
    """The value as a reader reads it: 1.234, 67,5 %, 36,7 %; data kurang / tidak ada data."""
    if f.value is None:
        return MISSING if f.figure == "mask_compliance" else NO_DATA
    if f.unit == "ratio":
        return percent(f.value, "id")
    if f.unit == "%":
        return f"{number(f.value, 'id', 1)} %"
    decimals = 0 if float(f.value).is_integer() else 1
    return number(f.value, "id", decimals)


def label(f: Figure) -> str:
    """The figure's name in words (aid: its direction and item). A figure added to the report
    without a label here still shows, tidied (the tests require a label for every one)."""
    name = f.figure
    if name.startswith("aid_") and ":" in name:
        direction, item = name.split(":", 1)
        return f"{LABELS.get(direction, tidy(direction))}: {item}"
    if name.startswith("cases_"):
        name = name.rsplit("_", 1)[1]
    return LABELS.get(name) or tidy(name)


def group(f: Figure) -> str:
    """Which block of the page a figure goes in."""
    if f.figure.startswith("cases_non_resident"):
        return "cases_non_resident"
    if f.figure.startswith("cases_resident"):
        return "cases_resident"
    return f.source


@dataclass(frozen=True, slots=True)
class Line:
    """One labelled figure."""

    label: str
    value: str
    unit: str
    source: str
    as_of: str
    late: bool
    missing: bool
    note: str = ""


@dataclass(slots=True)
class Area:
    """One area's figures: the compliance headline and the blocks of lines."""

    code: str
    name: str
    level: str
    compliance: Line
    headline: list[Line] = field(default_factory=list)
    cells: list[Line] = field(default_factory=list)  # the summary table's row (COLUMNS)
    groups: list[tuple[str, list[Line]]] = field(default_factory=list)
    figures: dict[str, Figure] = field(default_factory=dict)


def _extra(figs: dict[str, Figure], name: str) -> float | None:
    f = figs.get(name) or figs.get(f"mask_{name}")
    return None if f is None or f.value is None else float(f.value)


def compliance_note(figs: dict[str, Figure], min_people: int) -> str:
    """The interval and the corrected figure, when the report has them; or why no ratio."""
    if figs["mask_compliance"].value is None:
        return f"kurang dari {number(min_people, 'id')} orang dinilai"
    parts = []
    low, high = _extra(figs, "compliance_low"), _extra(figs, "compliance_high")
    if low is not None and high is not None:
        parts.append(f"selang kepercayaan 95 %: {percent(low, 'id')} – {percent(high, 'id')}")
    corr = _extra(figs, "compliance_corrected")
    if corr is not None:
        text = f"terkoreksi kalibrasi kamera: {percent(corr, 'id')}"
        c_low, c_high = (_extra(figs, "compliance_corrected_low"),
                         _extra(figs, "compliance_corrected_high"))  # fmt: skip
        if c_low is not None and c_high is not None:
            text += f" ({percent(c_low, 'id')} – {percent(c_high, 'id')})"
        share = _extra(figs, "corrected_share")
        if share is not None:
            text += f", dari {percent(share, 'id', 0)} orang dinilai"
        parts.append(text)
    return "; ".join(parts)


def unit_text(f: Figure) -> str:
    """The unit in words (a ratio or percentage carries its % in the value)."""
    return "" if f.unit in ("ratio", "%") else UNITS.get(f.unit, f.unit)


def _line(f: Figure, tz: tzinfo | None, note: str = "") -> Line:
    as_of = "" if f.as_of is None else short_time(f.as_of, tz)
    return Line(label(f), value_text(f), unit_text(f), SOURCES.get(f.source, f.source), as_of,
                f.late, f.value is None, note)  # fmt: skip


def areas(r: Report) -> list[Area]:
    """Every area of the report (the city first), its figures labelled and grouped."""
    tz = r.cutoff.tzinfo
    by_area: dict[str, dict[str, Figure]] = {}
    for f in r.figures:
        by_area.setdefault(f.area_code, {})[f.figure] = f
    out = []
    for code, figs in by_area.items():
        first = next(iter(figs.values()))
        comp = _line(figs["mask_compliance"], tz, compliance_note(figs, r.min_people_for_ratio))
        a = Area(code, first.area_name, first.level, comp, figures=figs)
        a.headline = [_line(figs[k], tz) for k in ("people_seen", "judged", "masked",
                                                   "unmasked", "not_judged")]  # fmt: skip
        a.cells = [comp if k == "mask_compliance" else _line(figs[k], tz) for k, _ in COLUMNS]
        blocks: dict[str, list[Line]] = {}
        for f in figs.values():
            if f.figure in EXTRA or f.figure.removeprefix("mask_") in EXTRA:
                continue
            if f.figure == "mask_compliance":
                blocks.setdefault("counts", []).append(comp)
                continue
            blocks.setdefault(group(f), []).append(_line(f, tz))
        a.groups = [(title, blocks[key]) for key, title in GROUPS if key in blocks]
        out.append(a)
    return out


def compliance_chart(kecamatan: list[Area]) -> Markup:
    """Per-kecamatan compliance bars with their interval; grey "data kurang" without a ratio."""
    bars = [Bar(a.name, None if (f := a.figures["mask_compliance"]).value is None
                else float(f.value), a.compliance.value,
                _extra(a.figures, "compliance_low"), _extra(a.figures, "compliance_high"))
            for a in kecamatan]  # fmt: skip
    return hbar_chart(bars, title="Kepatuhan masker per kecamatan", missing_text=MISSING,
                      tick_text=lambda v: percent(v, "id", 0))  # fmt: skip


def view(r: Report) -> dict[str, object]:
    """The template's context."""
    all_areas = areas(r)
    city = next(a for a in all_areas if a.level == CITY_LEVEL)
    kecamatan = [a for a in all_areas if a.level != CITY_LEVEL]
    return {
        "r": r, "city": city, "kecamatan": kecamatan, "columns": [h for _, h in COLUMNS],
        "day": long_date(r.day), "cutoff": clock(r.cutoff, r.timezone),
        "generated": f"{long_date(r.generated_at.astimezone(r.cutoff.tzinfo).date())} "
                     f"{clock(r.generated_at.astimezone(r.cutoff.tzinfo), r.timezone)}",
        "late_after_h": number(r.late_after_h, "id"),
        "min_people": number(r.min_people_for_ratio, "id"),
        "chart": compliance_chart(kecamatan) if kecamatan else None,
    }  # fmt: skip
