"""One read side (central/civic/read.py): summary, rules, report and open data agree.

One database holds civic rows for three kelurahan in two kecamatan over two weeks, chosen where
the consumers used to compute a figure each their own way: a population row for a later year,
a hospital whose room types report on different days, out-of-town patients, a resident row of a
kelurahan outside the registry. For every figure two or more of them share (cases, weekly
cases and rate, population, PPKM level, beds, pharmacy stock), each gives the same value for
the same area and day, and that value is the hand-computed one.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, insert

from central.config import SummariesSection
from central.opendata import build_opendata
from central.report import build_report
from central.rules import DEFAULT_RULES, Figures, evaluate, gather
from central.store import schema
from central.summaries import Summarizer
from tests.central.summary_fixtures import K1, K2, WIB, A, B, C, registry, small_areas

DAY = date(2025, 6, 10)
NOW = datetime(2025, 6, 10, 12, 0, tzinfo=WIB)  # the daily files' cut-off, and the live "now"
CITY = "33.74"
ELSEWHERE = "33.22.01.2001"  # an out-of-town patient's home kelurahan
GONE = "33.74.09.9999"  # a city kelurahan no longer in the registry
WRITTEN = datetime(2025, 6, 10, 1, 0, tzinfo=UTC)  # every row written before the cut-off
# PPKM alerts from level 1, so the rules show every kecamatan's level and rate
RULES = DEFAULT_RULES.model_copy(
    update={"ppkm": DEFAULT_RULES.ppkm.model_copy(update={"alert_level": 1})}
)


def _row(**cols: Any) -> dict[str, Any]:
    return cols | {"schema_version": 1, "updated_at": WRITTEN, "updated_by": "test"}


def _case(kel: str, days_ago: int, confirmed: int, active: int, res: str = "resident") -> Any:
    return schema.civic_cases, _row(
        kelurahan_code=kel, date=DAY - timedelta(days=days_ago), residency=res,
        confirmed=confirmed, active=active, recovered=0, deaths=0, suspect=0, probable=0,
    )  # fmt: skip


def _bed(hid: str, kel: str, room: str, days_ago: int, beds: int, used: int) -> Any:
    return schema.civic_beds, _row(
        hospital_id=hid, date=DAY - timedelta(days=days_ago), room_type=room, hospital_name=hid,
        kelurahan_code=kel, beds=beds, used=used, used_suspect=0, used_confirmed=used, queue=0,
        prepare=0, free=beds - used,
    )  # fmt: skip


def _stock(pid: str, kel: str, item: str, qty: int) -> Any:
    return schema.civic_pharmacy_stock, _row(
        pharmacy_id=pid, item=item, pharmacy_name=pid, kelurahan_code=kel, lat=-7.0, lng=110.4,
        quantity=qty, unit="pcs", as_of=WRITTEN,
    )  # fmt: skip


def _pop(kel: str, year: int, n: int) -> Any:
    return schema.civic_population, _row(kelurahan_code=kel, year=year, population=n)


ROWS: list[Any] = [
    (schema.kecamatan, {"code": K1, "name": "Semarang Tengah", "kota_code": CITY}),
    (schema.kecamatan, {"code": K2, "name": "Semarang Utara", "kota_code": CITY}),
    (schema.kelurahan, {"code": A, "name": "Miroto", "kecamatan_code": K1}),
    (schema.kelurahan, {"code": B, "name": "Bandarharjo", "kecamatan_code": K2}),
    (schema.kelurahan, {"code": C, "name": "Brumbungan", "kecamatan_code": K1}),
    _case(A, 14, 90, 25), _case(A, 7, 100, 30), _case(A, 0, 130, 20),
    _case(A, -1, 999, 99),  # tomorrow: not yet
    _case(C, 8, 50, 9), _case(C, 1, 60, 5),  # newest on or before the day, and a week before
    _case(B, 0, 10, 1),  # no row a week before: no weekly figure
    _case(ELSEWHERE, 0, 500, 50, res="non_resident"),  # out-of-town patients
    _case(GONE, 0, 7, 7),  # outside the registry: in the city's sums only
    _pop(A, 2024, 1), _pop(A, 2025, 50_000), _pop(A, 2026, 99_999),  # the day's year wins
    _pop(C, 2026, 50_000),  # only a later year: that one
    _pop(B, 2025, 20_000),
    _bed("rs-1", A, "icu", 1, 10, 7), _bed("rs-1", A, "ward", 0, 10, 9),  # rooms on two days
    _bed("rs-1", A, "ward", 2, 99, 0),  # an older report of the same room
    _bed("rs-2", B, "ward", 2, 50, 10),
    _stock("p1", C, "mask", 30), _stock("p1", C, "hand_sanitizer", 10),
    _stock("p2", C, "mask", 100), _stock("p3", B, "mask", 5),
]  # fmt: skip


class Views:
    """The four consumers' outputs for DAY, from one database."""

    def __init__(self, engine: Engine) -> None:
        areas = small_areas()
        out = Summarizer(engine, SummariesSection(), areas, registry(areas),
                         rules=RULES).compute(NOW)  # fmt: skip
        self.summary = {(s.level, s.key): s.payload.get("civic") for s in out}
        self.figures: Figures = gather(engine, RULES, NOW)
        self.alerts = {(d.rule, d.area_code): d.figures for d in evaluate(self.figures, RULES, NOW)}
        self.report = build_report(engine, DAY, WIB)
        self.opendata = {r["kelurahan_code"]: r for r in build_opendata(engine, DAY, WIB).kelurahan}

    def civic(self, level: str, code: str, section: str, field: str) -> Any:
        f = self.summary[(level, "" if level == "city" else code)]
        assert f is not None
        return f[section][field] if section else f[field]

    def kel(self, code: str, field: str) -> Any:
        k = self.figures.kelurahan[code]
        if field == "rate":
            if k.cases_week is None or not k.population:
                return None
            return round(k.cases_week * 100_000 / k.population, 2)
        return getattr(k, field)

    def ppkm(self, kec: str, field: str) -> Any:
        return self.alerts[("ppkm_level", kec)][field]

    def mask(self, kel: str) -> int:
        return sum(p.quantity for p in self.figures.pharmacies if p.kelurahan_code == kel)

    def hospitals(self, field: str) -> int:
        return sum(getattr(b, field) for b in self.figures.beds)

    def fig(self, area: str, figure: str) -> Any:
        return self.report.get(area, figure).value

    def od(self, kel: str, field: str) -> Any:
        return self.opendata[kel][field]


def _pct(ratio: float | None) -> float | None:
    return None if ratio is None else round(100 * ratio, 1)


Get = Callable[[Views], Any]
# (figure, area) → (hand-computed value, {consumer: how it shows the figure})
TABLE: dict[tuple[str, str], tuple[Any, dict[str, Get]]] = {
    ("cases confirmed", A): (130, {
        "summary": lambda v: v.civic("kelurahan", A, "cases", "confirmed"),
        "opendata": lambda v: v.od(A, "cases_confirmed")}),
    ("cases active", C): (5, {
        "summary": lambda v: v.civic("kelurahan", C, "cases", "active"),
        "opendata": lambda v: v.od(C, "cases_active")}),
    ("cases confirmed", K1): (190, {
        "summary": lambda v: v.civic("kecamatan", K1, "cases", "confirmed"),
        "report": lambda v: v.fig(K1, "cases_resident_confirmed")}),
    ("cases confirmed", CITY): (207, {  # A + C + B + the kelurahan outside the registry
        "summary": lambda v: v.civic("city", CITY, "cases", "confirmed"),
        "report": lambda v: v.fig(CITY, "cases_resident_confirmed")}),
    ("cases active", CITY): (33, {
        "summary": lambda v: v.civic("city", CITY, "cases", "active"),
        "report": lambda v: v.fig(CITY, "cases_resident_active")}),
    ("new cases 7d", A): (30, {
        "summary": lambda v: v.civic("kelurahan", A, "cases", "new_7d"),
        "rules": lambda v: v.kel(A, "cases_week"),
        "opendata": lambda v: v.od(A, "cases_new_7d")}),
    ("new cases 7d", C): (10, {
        "summary": lambda v: v.civic("kelurahan", C, "cases", "new_7d"),
        "rules": lambda v: v.kel(C, "cases_week"),
        "opendata": lambda v: v.od(C, "cases_new_7d")}),
    ("new cases 7d", B): (None, {
        "summary": lambda v: v.civic("kelurahan", B, "cases", "new_7d"),
        "rules": lambda v: v.kel(B, "cases_week"),
        "opendata": lambda v: v.od(B, "cases_new_7d")}),
    ("population", A): (50_000, {
        "summary": lambda v: v.civic("kelurahan", A, "cases", "population"),
        "rules": lambda v: v.kel(A, "population"),
        "opendata": lambda v: v.od(A, "population")}),
    ("population", C): (50_000, {
        "summary": lambda v: v.civic("kelurahan", C, "cases", "population"),
        "rules": lambda v: v.kel(C, "population"),
        "opendata": lambda v: v.od(C, "population")}),
    ("weekly rate per 100k", A): (60.0, {
        "summary": lambda v: v.civic("kelurahan", A, "cases", "weekly_rate_per_100k"),
        "rules": lambda v: v.kel(A, "rate"),
        "opendata": lambda v: v.od(A, "cases_new_7d_per_100k")}),
    ("weekly rate per 100k", C): (20.0, {
        "summary": lambda v: v.civic("kelurahan", C, "cases", "weekly_rate_per_100k"),
        "rules": lambda v: v.kel(C, "rate"),
        "opendata": lambda v: v.od(C, "cases_new_7d_per_100k")}),
    ("weekly rate per 100k", K1): (40.0, {  # (30 + 10) / 100,000
        "summary": lambda v: v.civic("kecamatan", K1, "cases", "weekly_rate_per_100k"),
        "rules": lambda v: v.ppkm(K1, "rate_per_100k")}),
    ("PPKM level", K1): (2, {
        "summary": lambda v: v.civic("kecamatan", K1, "", "ppkm_level"),
        "summary (its kelurahan)": lambda v: v.civic("kelurahan", C, "", "ppkm_level"),
        "rules": lambda v: v.ppkm(K1, "level")}),
    ("beds total", A): (20, {  # icu of yesterday + ward of today
        "summary": lambda v: v.civic("kelurahan", A, "beds", "total"),
        "opendata": lambda v: v.od(A, "beds_total")}),
    ("beds used", A): (16, {
        "summary": lambda v: v.civic("kelurahan", A, "beds", "used"),
        "opendata": lambda v: v.od(A, "beds_used")}),
    ("beds free", B): (40, {
        "summary": lambda v: v.civic("kelurahan", B, "beds", "free"),
        "opendata": lambda v: v.od(B, "beds_free")}),
    ("beds occupancy %", A): (80.0, {
        "summary": lambda v: _pct(v.civic("kelurahan", A, "beds", "occupancy")),
        "opendata": lambda v: v.od(A, "beds_occupancy_pct")}),
    ("beds used", K1): (16, {
        "summary": lambda v: v.civic("kecamatan", K1, "beds", "used"),
        "report": lambda v: v.fig(K1, "beds_used")}),
    ("beds total", CITY): (70, {
        "summary": lambda v: v.civic("city", CITY, "beds", "total"),
        "rules": lambda v: v.hospitals("beds"),
        "report": lambda v: v.fig(CITY, "beds_total")}),
    ("beds used", CITY): (26, {
        "summary": lambda v: v.civic("city", CITY, "beds", "used"),
        "rules": lambda v: v.hospitals("used"),
        "report": lambda v: v.fig(CITY, "beds_used")}),
    ("beds occupancy %", CITY): (37.1, {
        "summary": lambda v: _pct(v.civic("city", CITY, "beds", "occupancy")),
        "report": lambda v: v.fig(CITY, "beds_occupancy_pct")}),
    ("mask stock", C): (130, {
        "summary": lambda v: v.civic("kelurahan", C, "pharmacy", "mask_stock"),
        "rules": lambda v: v.mask(C),
        "opendata": lambda v: v.od(C, "pharmacy_mask_stock")}),
    ("hand sanitizer stock", C): (10, {
        "summary": lambda v: v.civic("kelurahan", C, "pharmacy", "hand_sanitizer_stock"),
        "opendata": lambda v: v.od(C, "pharmacy_hand_sanitizer_stock")}),
    ("pharmacies reporting", C): (2, {
        "summary": lambda v: v.civic("kelurahan", C, "pharmacy", "pharmacies"),
        "opendata": lambda v: v.od(C, "pharmacies_reporting")}),
    ("mask stock", K2): (5, {
        "summary": lambda v: v.civic("kecamatan", K2, "pharmacy", "mask_stock"),
        "rules": lambda v: v.mask(B),
        "report": lambda v: v.fig(K2, "pharmacy_mask_stock")}),
    ("mask stock", CITY): (135, {
        "summary": lambda v: v.civic("city", CITY, "pharmacy", "mask_stock"),
        "rules": lambda v: v.mask(B) + v.mask(C) + v.mask(A),
        "report": lambda v: v.fig(CITY, "pharmacy_mask_stock")}),
    ("hand sanitizer stock", CITY): (10, {
        "summary": lambda v: v.civic("city", CITY, "pharmacy", "hand_sanitizer_stock"),
        "report": lambda v: v.fig(CITY, "pharmacy_hand_sanitizer_stock")}),
}  # fmt: skip


def _seed(engine: Engine, rows: list[Any]) -> None:
    with engine.begin() as conn:
        for table, row in rows:
            conn.execute(insert(table), row)


def test_every_consumer_gives_the_same_civic_figure(engine: Engine) -> None:
    _seed(engine, ROWS)
    views = Views(engine)
    got = {key: {who: get(views) for who, get in how.items()} for key, (_, how) in TABLE.items()}
    want = {key: dict.fromkeys(how, value) for key, (value, how) in TABLE.items()}
    assert got == want
    # out-of-town patients: the report's own figure, in the city only
    assert views.fig(CITY, "cases_non_resident_confirmed") == 500
    assert views.fig(K1, "cases_non_resident_confirmed") is None


@pytest.mark.parametrize("days_ago", [3, 4])
def test_bed_report_age_live_views_and_daily_files(engine: Engine, days_ago: int) -> None:
    """The one documented difference: the live views (summary, rules) leave out a bed report older
    than bed_occupancy.max_age_days (3); the daily files keep it and show it late."""
    _seed(engine, [*ROWS[:5], _bed("rs-9", A, "ward", days_ago, 10, 5)])
    views = Views(engine)
    fresh = days_ago <= RULES.bed_occupancy.max_age_days
    live = 10 if fresh else None
    assert views.civic("kelurahan", A, "beds", "total") == live
    assert views.civic("city", CITY, "beds", "total") == live
    assert views.hospitals("beds") == (10 if fresh else 0)
    assert views.od(A, "beds_total") == 10
    assert views.fig(CITY, "beds_total") == 10
