"""Civic figures in the merged summaries: table-driven, hand-computed, on both databases."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, insert

from central.civic.figures import area_civic
from central.config import SummariesSection
from central.rules import DEFAULT_RULES
from central.store import schema
from central.summaries import Summarizer
from tests.central.summary_fixtures import K1, K2, A, B, C, registry, small_areas, wib

TODAY = date(2025, 6, 10)
NOW = wib(10, 12, 0)
KEC_OF = {A: K1, C: K1, B: K2}


def _civic(**row: Any) -> dict[str, Any]:
    return row | {"schema_version": 1, "updated_at": datetime(2025, 6, 10, tzinfo=UTC),
                  "updated_by": "test"}  # fmt: skip


def case(kel: str, d: str, confirmed: int, active: int, res: str = "resident") -> Any:
    return schema.civic_cases, _civic(kelurahan_code=kel, date=date.fromisoformat(d),
                                      residency=res, confirmed=confirmed, active=active,
                                      recovered=0, deaths=0, suspect=0, probable=0)  # fmt: skip


def pop(kel: str, year: int, n: int) -> Any:
    return schema.civic_population, _civic(kelurahan_code=kel, year=year, population=n)


def bed(hid: str, kel: str, room: str, d: str, beds: int, used: int) -> Any:
    return schema.civic_beds, _civic(hospital_id=hid, date=date.fromisoformat(d), room_type=room,
                                     hospital_name=hid, kelurahan_code=kel, beds=beds, used=used,
                                     used_suspect=0, used_confirmed=used, queue=0, prepare=0,
                                     free=beds - used)  # fmt: skip


def stock(pid: str, kel: str, item: str, qty: int) -> Any:
    return schema.civic_pharmacy_stock, _civic(
        pharmacy_id=pid, item=item, pharmacy_name=pid, kelurahan_code=kel, lat=-7.0, lng=110.4,
        quantity=qty, unit="pcs", as_of=datetime(2025, 6, 10, tzinfo=UTC),
    )  # fmt: skip


CASES = [
    case(A, "2025-06-03", 100, 30), case(A, "2025-06-10", 130, 20),
    case(A, "2025-06-11", 999, 99),  # tomorrow: not yet
    case(C, "2025-06-03", 50, 9), case(C, "2025-06-09", 60, 5),
    case(B, "2025-06-10", 10, 1),  # no row a week before: no weekly figure
    case(A, "2025-06-10", 500, 50, res="non_resident"),  # out-of-town patients: not counted
    pop(A, 2024, 1), pop(A, 2025, 50_000), pop(C, 2026, 50_000), pop(B, 2025, 20_000),
]  # fmt: skip
BEDS = [
    bed("rs-1", A, "icu", "2025-06-09", 10, 7), bed("rs-1", A, "ward", "2025-06-10", 10, 9),
    bed("rs-1", A, "ward", "2025-06-08", 99, 0),  # an older report of the same room
    bed("rs-2", B, "ward", "2025-06-06", 50, 0),  # 4 days old: beyond max_age_days (3)
]  # fmt: skip
STOCK = [stock("p1", C, "mask", 30), stock("p1", C, "hand_sanitizer", 10),
         stock("p2", C, "mask", 100), stock("p3", B, "mask", 5)]  # fmt: skip

# (level, code, section, field) → expected; computed by hand from the rows above.
SCENARIOS: dict[str, tuple[list[Any], dict[tuple[str, str, str, str], Any]]] = {
    "cases": (CASES, {
        ("kelurahan", A, "cases", "confirmed"): 130, ("kelurahan", A, "cases", "active"): 20,
        ("kelurahan", A, "cases", "new_7d"): 30, ("kelurahan", A, "cases", "population"): 50_000,
        ("kelurahan", A, "cases", "weekly_rate_per_100k"): 60.0,  # 30 / 50,000
        ("kelurahan", A, "", "ppkm_level"): 2,  # its kecamatan's: 40 per 100,000
        ("kelurahan", C, "cases", "new_7d"): 10, ("kelurahan", C, "cases", "population"): 50_000,
        ("kelurahan", C, "cases", "weekly_rate_per_100k"): 20.0,
        ("kelurahan", B, "cases", "new_7d"): None,
        ("kelurahan", B, "cases", "weekly_rate_per_100k"): None,
        ("kelurahan", B, "", "ppkm_level"): None,
        ("kecamatan", K1, "cases", "new_7d"): 40,
        ("kecamatan", K1, "cases", "weekly_rate_per_100k"): 40.0,  # 40 / 100,000
        ("kecamatan", K1, "", "ppkm_level"): 2, ("kecamatan", K2, "", "ppkm_level"): None,
        ("kecamatan", K2, "cases", "confirmed"): 10,
        ("city", "", "cases", "confirmed"): 200, ("city", "", "cases", "active"): 26,
        ("city", "", "cases", "population"): 120_000,
        ("city", "", "cases", "weekly_rate_per_100k"): 40.0,  # B has no weekly figure
        ("city", "", "", "ppkm_level"): 2,
        ("city", "", "beds", "total"): None, ("city", "", "pharmacy", "pharmacies"): 0,
    }),
    "beds": (BEDS, {
        ("kelurahan", A, "beds", "total"): 20, ("kelurahan", A, "beds", "used"): 16,
        ("kelurahan", A, "beds", "free"): 4, ("kelurahan", A, "beds", "occupancy"): 0.8,
        ("kelurahan", B, "beds", "total"): None, ("kelurahan", B, "beds", "occupancy"): None,
        ("kecamatan", K1, "beds", "occupancy"): 0.8, ("kecamatan", K2, "beds", "used"): None,
        ("city", "", "beds", "total"): 20, ("city", "", "beds", "occupancy"): 0.8,
        ("city", "", "cases", "confirmed"): None, ("city", "", "", "ppkm_level"): None,
    }),
    "stock": (STOCK, {
        ("kelurahan", C, "pharmacy", "mask_stock"): 130,
        ("kelurahan", C, "pharmacy", "hand_sanitizer_stock"): 10,
        ("kelurahan", C, "pharmacy", "pharmacies"): 2,
        ("kelurahan", C, "pharmacy", "low_mask_stock"): 1,  # p1: 30 < 50
        ("kelurahan", A, "pharmacy", "mask_stock"): None,
        ("kelurahan", A, "pharmacy", "pharmacies"): 0,
        ("kelurahan", B, "pharmacy", "hand_sanitizer_stock"): None,
        ("kecamatan", K2, "pharmacy", "low_mask_stock"): 1,
        ("city", "", "pharmacy", "mask_stock"): 135,
        ("city", "", "pharmacy", "hand_sanitizer_stock"): 10,
        ("city", "", "pharmacy", "pharmacies"): 3, ("city", "", "pharmacy", "low_mask_stock"): 2,
    }),
}  # fmt: skip


def _seed(engine: Engine, rows: list[Any]) -> None:
    with engine.begin() as conn:
        for table, row in rows:
            conn.execute(insert(table), row)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_area_civic_figures(engine: Engine, name: str) -> None:
    rows, expected = SCENARIOS[name]
    _seed(engine, rows)
    with engine.connect() as conn:
        figs = area_civic(conn, TODAY, KEC_OF, DEFAULT_RULES)
    assert set(figs) == {("kelurahan", A), ("kelurahan", B), ("kelurahan", C),
                         ("kecamatan", K1), ("kecamatan", K2), ("city", "")}  # fmt: skip
    got = {}
    for level, code, section, fld in expected:
        f = figs[(level, code)]
        got[(level, code, section, fld)] = f[section][fld] if section else f[fld]
    assert got == expected
    assert all(f["date"] == "2025-06-10" for f in figs.values())


def test_ppkm_level_follows_the_rules_bounds(engine: Engine) -> None:
    _seed(engine, CASES)
    rules = DEFAULT_RULES.model_copy(
        update={"ppkm": DEFAULT_RULES.ppkm.model_copy(update={"bounds": (10.0, 30.0, 35.0)})}
    )
    with engine.connect() as conn:
        figs = area_civic(conn, TODAY, KEC_OF, rules)
    assert figs[("kecamatan", K1)]["ppkm_level"] == 4  # 40 > 35
    assert figs[("kelurahan", C)]["ppkm_level"] == 4  # its kecamatan's, not its own 20


def test_merged_summaries_carry_civic_figures(engine: Engine) -> None:
    _seed(engine, CASES + BEDS + STOCK)
    areas = small_areas()
    out = Summarizer(engine, SummariesSection(), areas, registry(areas)).compute(NOW)
    by = {(s.level, s.key): s.payload for s in out}
    assert by[("kelurahan", A)]["civic"]["beds"]["occupancy"] == 0.8
    assert by[("kelurahan", A)]["civic"]["cases"]["weekly_rate_per_100k"] == 60.0
    assert by[("kecamatan", K1)]["civic"]["ppkm_level"] == 2
    assert by[("city", "")]["civic"]["pharmacy"]["mask_stock"] == 135
    # the count figures are still there, and cameras carry no civic figures
    assert by[("city", "")]["periods"]["today"]["people_seen"] == 0
    assert all("civic" not in p for (lvl, _), p in by.items() if lvl == "camera")
