"""The city page's figures (central/web/city.py) on SQLite and PostgreSQL, against hand-computed
values, and the page served at /kota: Indonesian and English formats, empty states, bounds.

One database holds civic rows inside a seven-day window and just outside it on both sides, so a
read that is not bounded by the window, or a carried-forward case row that is not, shows up as a
wrong sum.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert

from central.api.city_page import CITY_PAGE_PATH, city_page_router
from central.store import schema
from central.web.city import (
    AidItem,
    Beds,
    CaseDay,
    MarketPrice,
    Pharmacies,
    Window,
    city_figures,
)

FIRST, LAST = date(2025, 6, 1), date(2025, 6, 7)
WINDOW = Window(FIRST, LAST)
A, B = "33.74.01.1001", "33.74.01.1002"
ELSEWHERE = "33.22.01.2001"
WRITTEN = datetime(2025, 6, 7, 1, 0, tzinfo=UTC)


def d(month: int, day: int) -> date:
    return date(2025, month, day)


def _row(table: Any, **cols: Any) -> tuple[Any, dict[str, Any]]:
    return table, cols | {"schema_version": 1, "updated_at": WRITTEN, "updated_by": "test"}


def _case(kel: str, day: date, confirmed: int, active: int, recovered: int, deaths: int,
          res: str = "resident") -> Any:  # fmt: skip
    return _row(schema.civic_cases, kelurahan_code=kel, date=day, residency=res,
                confirmed=confirmed, active=active, recovered=recovered, deaths=deaths,
                suspect=0, probable=0)  # fmt: skip


def _entry(day: date, point: str, people: int) -> Any:
    return _row(schema.civic_entries, date=day, entry_point=point, people=people)


def _staple(market: str, name: str, day: date, commodity: str, price: int, stock: float) -> Any:
    return _row(schema.civic_staples, market_id=market, date=day, commodity=commodity,
                market_name=name, kind="market", kelurahan_code=A, unit="kg", price_idr=price,
                stock=stock)  # fmt: skip


def _aid(day: date, direction: str, source: str, area: str, item: str, qty: float,
         unit: str = "pcs") -> Any:  # fmt: skip
    return _row(schema.civic_aid, date=day, direction=direction, source=source, area_code=area,
                item=item, unit=unit, quantity=qty)  # fmt: skip


def _bed(hospital: str, room: str, day: date, beds: int, used: int) -> Any:
    return _row(schema.civic_beds, hospital_id=hospital, date=day, room_type=room,
                hospital_name=hospital, kelurahan_code=A, beds=beds, used=used, used_suspect=0,
                used_confirmed=used, queue=0, prepare=0, free=beds - used)  # fmt: skip


def _stock(pharmacy: str, item: str, qty: int) -> Any:
    return _row(schema.civic_pharmacy_stock, pharmacy_id=pharmacy, item=item,
                pharmacy_name=pharmacy, kelurahan_code=A, lat=-7.0, lng=110.4, quantity=qty,
                unit="pcs", as_of=WRITTEN)  # fmt: skip


ROWS = [
    _case(A, d(5, 20), 90, 20, 68, 2),  # an older row before the window: superseded by 28 May
    _case(A, d(5, 28), 100, 10, 88, 2),  # carried into the window's first days
    _case(A, d(6, 3), 110, 15, 92, 3),
    _case(A, d(6, 8), 999, 99, 800, 100),  # after the window
    _case(B, d(6, 2), 40, 4, 35, 1),
    _case(ELSEWHERE, d(6, 1), 500, 50, 450, 0, res="non_resident"),  # not a city resident
    _entry(d(5, 31), "terminal-terboyo", 99_999),  # before the window
    _entry(d(6, 1), "terminal-terboyo", 1000),
    _entry(d(6, 1), "stasiun-tawang", 2500),
    _entry(d(6, 2), "terminal-terboyo", 1200),
    _entry(d(6, 8), "stasiun-tawang", 99_999),  # after it
    _staple("pasar-johar", "Pasar Johar", d(5, 31), "beras_medium", 9000, 9),  # before
    _staple("pasar-johar", "Pasar Johar", d(6, 1), "beras_medium", 10500, 1000),
    _staple("pasar-johar", "Pasar Johar", d(6, 3), "beras_medium", 11000, 800),
    _staple("pasar-karangayu", "Pasar Karangayu", d(6, 2), "beras_medium", 10800, 500),
    _staple("pasar-johar", "Pasar Johar", d(6, 1), "gula_pasir", 14000, 300),
    _aid(d(5, 31), "received", "central_government", "33.74", "masker_kain", 99_999),  # before
    _aid(d(6, 1), "received", "central_government", "33.74", "masker_kain", 1000),
    _aid(d(6, 2), "received", "private", "33.74", "masker_kain", 500),
    _aid(d(6, 3), "distributed", "central_government", A, "masker_kain", 300),
    _aid(d(6, 4), "distributed", "central_government", B, "masker_kain", 200),
    _aid(d(6, 5), "received", "regional_government", "33.74", "beras", 2000, unit="kg"),
    _bed("rs-1", "isolasi", d(6, 6), 20, 15),
    _bed("rs-2", "icu", d(6, 7), 10, 9),
    _bed("rs-3", "isolasi", d(5, 1), 100, 0),  # older than the bed rule's 3 days: not counted
    _stock("apotek-1", "mask", 30),  # under the mask_stock rule's low_stock (50)
    _stock("apotek-1", "hand_sanitizer", 10),
    _stock("apotek-2", "mask", 200),
]


def _seed(engine: Engine) -> None:
    with engine.begin() as conn:
        for table, row in ROWS:
            conn.execute(insert(table), row)


def test_city_figures_are_the_hand_computed_ones(engine: Engine) -> None:
    _seed(engine)
    f = city_figures(engine, WINDOW)
    one = CaseDay(d(6, 1), 100, 10, 88, 2)  # A's 28 May row only
    two = CaseDay(d(6, 2), 140, 14, 123, 3)  # and B's first row
    rest = [CaseDay(d(6, n), 150, 19, 127, 4) for n in range(3, 8)]  # A's 3 June row + B
    assert f.cases == [one, two, *rest]
    assert [c.recovery_rate for c in (one, two, rest[0])] == [0.88, 123 / 140, 127 / 150]

    assert f.entries.points == ["stasiun-tawang", "terminal-terboyo"]  # most people first
    assert f.entries.by_point == {"stasiun-tawang": 2500, "terminal-terboyo": 2200}
    assert f.entries.per_day == [(d(6, 1), {"stasiun-tawang": 2500, "terminal-terboyo": 1000}),
                                 (d(6, 2), {"terminal-terboyo": 1200})]  # fmt: skip
    assert f.entries.total == 4700

    beras, gula = f.staples
    assert (beras.name, beras.unit, gula.name) == ("beras_medium", "kg", "gula_pasir")
    assert beras.prices == {"Pasar Johar": [(d(6, 1), 10500), (d(6, 3), 11000)],
                            "Pasar Karangayu": [(d(6, 2), 10800)]}  # fmt: skip
    assert beras.newest == [
        MarketPrice("pasar-johar", "Pasar Johar", "market", d(6, 3), 11000, 800.0),
        MarketPrice("pasar-karangayu", "Pasar Karangayu", "market", d(6, 2), 10800, 500.0),
    ]
    assert beras.stock == 1300.0 and gula.stock == 300.0

    assert f.aid == [
        AidItem("beras", "kg", {"regional_government": 2000.0, "central_government": 0.0,
                                "private": 0.0}, dict.fromkeys(
                                    ("regional_government", "central_government", "private"),
                                    0.0)),
        AidItem("masker_kain", "pcs",
                {"regional_government": 0.0, "central_government": 1000.0, "private": 500.0},
                {"regional_government": 0.0, "central_government": 500.0, "private": 0.0}),
    ]  # fmt: skip
    assert f.beds == Beds(beds=30, used=24, free=6, hospitals=2, as_of=d(6, 6))
    assert f.beds.occupancy == 0.8
    assert f.pharmacies == Pharmacies(mask=230, hand_sanitizer=10, pharmacies=2, low_mask=1)


def test_a_window_before_any_row_is_empty(engine: Engine) -> None:
    _seed(engine)
    f = city_figures(engine, Window(d(5, 1), d(5, 7)))
    assert f.cases == [] and f.entries.per_day == [] and f.staples == [] and f.aid == []
    # the first case row inside a window starts its series; no zero before it
    f = city_figures(engine, Window(d(5, 18), d(5, 24)))
    assert [c.day for c in f.cases] == [d(5, 20), d(5, 21), d(5, 22), d(5, 23), d(5, 24)]


@pytest.mark.parametrize(("days", "first"), [(1, d(6, 1)), (7, d(6, 1)), (28, d(5, 11)),
                                             (10_000, d(3, 8))])  # fmt: skip
def test_window_is_bounded(days: int, first: date) -> None:
    w = Window.ending(LAST, days)
    assert (w.first, w.last) == (first, LAST)
    assert len(w.days) == min(max(days, 7), 92) and w.days[-1] == LAST


def _client(engine: Engine) -> TestClient:
    app = FastAPI()
    app.include_router(city_page_router(engine, today=lambda: LAST))
    return TestClient(app)


def test_the_page_in_both_languages(engine: Engine) -> None:
    _seed(engine)
    client = _client(engine)
    page = client.get(CITY_PAGE_PATH, params={"days": 7})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    html = page.text
    assert '<html lang="id">' in html and "Belum ada data" not in html
    # Indonesian formats: thousands with a dot, decimals with a comma, a space before %
    assert ">4.700<" in html  # people entering over the window
    assert ">84,7 %<" in html  # recovery rate 127 / 150
    assert "Rp 11.000" in html and "80,0 %" in html  # newest price at Pasar Johar, beds
    assert "Pemerintah pusat" in html and "Swasta" in html
    assert html.count("<svg") >= 8 and "<script" not in html
    en = client.get(CITY_PAGE_PATH, params={"days": 7, "lang": "en"}).text
    assert '<html lang="en">' in en and ">4,700<" in en and ">84.7%<" in en
    assert "Central government" in en and "Rp 11,000" in en


def test_empty_database_says_so_in_every_section(engine: Engine) -> None:
    html = _client(engine).get(CITY_PAGE_PATH).text
    # cases, entries, staples, aid: "no data for this period"; beds and pharmacies: "no data"
    assert html.count("Belum ada data: belum ada data untuk periode ini") == 4
    assert html.count("Belum ada data") == 6
    assert "<svg" not in html


@pytest.mark.parametrize("query", [{"days": 6}, {"days": 93}, {"lang": "fr"},
                                   {"end": "1999-12-31"}])  # fmt: skip
def test_out_of_bounds_parameters_are_refused(engine: Engine, query: dict[str, Any]) -> None:
    assert _client(engine).get(CITY_PAGE_PATH, params=query).status_code == 422


def test_end_moves_the_window(engine: Engine) -> None:
    _seed(engine)
    html = _client(engine).get(CITY_PAGE_PATH, params={"end": "2025-06-01", "days": 7}).text
    assert "26 Mei 2025 – 1 Jun 2025" in html
    assert ">103.499<" in html  # entries of 31 May and 1 June
