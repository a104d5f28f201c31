"""The read side of the civic tables: the figures of one module for the areas as of one day.

Why one module: the live summaries, the decision rules, the daily report and the open data all
show cases, weekly rates, PPKM levels, isolation beds and pharmacy stock. Each used to query the
civic tables on its own (three copies of "the newest beds row on or before the day", two of the
cases, and the rules their own weekly figures), so they could disagree about the same figure on
the same day. Every consumer now reads here, so each figure has one definition:

- cases: per kelurahan and residency the newest cumulative row dated ≤ D. Weekly figures are of
  city residents: new_7d = confirmed at D − confirmed at D − 7 (both rows needed), prev_7d the
  same a week earlier (out-of-town patients are filed under kelurahan outside the city);
- population: per kelurahan the newest year ≤ D's year, else the oldest year after it;
- weekly rate per 100,000 = new cases × 100,000 / population, over the kelurahan having both;
  the PPKM-style level follows from it and the rules' bounds (levels are set per kecamatan);
- beds: per hospital and room type the newest row dated ≤ D, counted in the kelurahan the
  hospital is in. Live views (summaries, rules) ask for reports at most max_age_days old; the
  daily files (report, open data) keep older ones and show their as-of instead;
- pharmacy stock: each pharmacy's quantity per item as last written (before `until` when
  given: the daily files' cut-off; the table keeps no history);
- people entering the city and aid: the rows dated on one day;
- over a date window (the city page, central/web/city.py): the rows dated in it, and for cases
  the newest row before it too (a cumulative figure carries forward to the window's first days).

Here are SQL reads and pure helpers only; summing per area is the consumers' (central/civic/
figures.py for the summaries, central/report/build.py, central/opendata/build.py,
central/rules/gather.py, central/web/city.py), and none of them reads a civic table itself.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Select, Table, and_, func, select

from central.civic.population import rate_per_100k as population_rate
from central.store import schema
from siaga.timeutil import aware

CASE_FIELDS = ("confirmed", "active", "recovered", "deaths")



def newest_rows(t: Table, keys: tuple[str, ...], day: date) -> Select[Any]:
    """Rows of a dated civic table: per key, the newest one dated on or before `day`."""
    cols = [t.c[k] for k in keys]
    latest = select(*cols, func.max(t.c.date).label("d")).where(t.c.date <= day).group_by(*cols)
    sub = latest.subquery()
    match = [t.c[k] == sub.c[k] for k in keys]
    return select(t).join(sub, and_(*match, t.c.date == sub.c.d))


@dataclass(frozen=True, slots=True)
class Cases:
    """One kelurahan's cumulative cases of one residency as of its row's date."""

    kelurahan_code: str
    residency: str  # resident / non_resident
    date: date
    confirmed: int
    active: int
    recovered: int
    deaths: int
    updated_at: datetime | None

    def values(self) -> dict[str, int]:
        """confirmed, active, recovered, deaths."""
        return {k: getattr(self, k) for k in CASE_FIELDS}


@dataclass(frozen=True, slots=True)
class ResidentCases:
    """City residents of one kelurahan: cases as of the day and new cases per week."""

    now: Cases
    new_7d: int | None  # confirmed at D − at D − 7; None without a row on or before D − 7
    prev_7d: int | None = None  # at D − 7 − at D − 14 (asked for with weeks=2)


def cases(conn: Connection, day: date) -> list[Cases]:
    """Per kelurahan and residency the newest cumulative row dated ≤ day."""
    q = newest_rows(schema.civic_cases, ("kelurahan_code", "residency"), day)
    return [
        Cases(r["kelurahan_code"], r["residency"], r["date"], int(r["confirmed"]),
              int(r["active"]), int(r["recovered"]), int(r["deaths"]), aware(r["updated_at"]))
        for r in conn.execute(q).mappings()
    ]  # fmt: skip


def _confirmed(conn: Connection, day: date) -> dict[str, int]:
    return {c.kelurahan_code: c.confirmed for c in cases(conn, day) if c.residency == "resident"}


def resident_cases(conn: Connection, day: date, *, weeks: int = 1) -> dict[str, ResidentCases]:
    """Per kelurahan: residents' cases as of day, new cases over the last week (and, with
    weeks=2, the week before)."""
    now = {c.kelurahan_code: c for c in cases(conn, day) if c.residency == "resident"}
    before = _confirmed(conn, day - timedelta(days=7))
    before2 = _confirmed(conn, day - timedelta(days=14)) if weeks >= 2 else {}
    out: dict[str, ResidentCases] = {}
    for code, c in now.items():
        b = before.get(code)
        new = None if b is None else c.confirmed - b
        b2 = before2.get(code)
        prev = None if b is None or b2 is None else b - b2
        out[code] = ResidentCases(c, new, prev)
    return out


def population(conn: Connection, year: int) -> dict[str, int]:
    """Per kelurahan: the population of the newest year ≤ year, else of the oldest after it."""
    pc = schema.civic_population.c
    years: dict[str, dict[int, int]] = defaultdict(dict)
    for code, y, pop in conn.execute(select(pc.kelurahan_code, pc.year, pc.population)):
        years[code][y] = pop
    out: dict[str, int] = {}
    for code, by_year in years.items():
        upto = [y for y in by_year if y <= year]
        out[code] = by_year[max(upto) if upto else min(by_year)]
    return out


def rate_per_100k(n: int | None, pop: int | None) -> float | None:
    """n per 100,000 people (unrounded; central.civic.population); None without n or people."""
    return None if n is None or pop is None else population_rate(n, pop)


def ppkm_level(rate: float, bounds: tuple[float, float, float]) -> int:
    """1 below the first bound, 2 from it, 3 from the second, 4 above the third."""
    a, b, c = bounds
    return 4 if rate > c else 3 if rate >= b else 2 if rate >= a else 1


@dataclass(frozen=True, slots=True)
class BedRoom:
    """One hospital room type's isolation beds as of its row's date."""

    hospital_id: str
    hospital_name: str | None
    room_type: str
    kelurahan_code: str
    date: date
    beds: int
    used: int
    free: int
    updated_at: datetime | None


def beds(conn: Connection, day: date, *, max_age_days: int | None = None) -> list[BedRoom]:
    """Per hospital and room type the newest row dated ≤ day (and, with max_age_days, dated on or
    after day − max_age_days), by hospital and room type."""
    oldest = None if max_age_days is None else day - timedelta(days=max_age_days)
    t = schema.civic_beds
    q = newest_rows(t, ("hospital_id", "room_type"), day).order_by(t.c.hospital_id, t.c.room_type)
    return [
        BedRoom(r["hospital_id"], r["hospital_name"], r["room_type"], r["kelurahan_code"],
                r["date"], int(r["beds"]), int(r["used"]), int(r["free"]),
                aware(r["updated_at"]))
        for r in conn.execute(q).mappings()
        if oldest is None or r["date"] >= oldest
    ]  # fmt: skip


@dataclass(frozen=True, slots=True)
class Stock:
    """One pharmacy's stock of one item (mask / hand_sanitizer) as last written."""

    pharmacy_id: str
    pharmacy_name: str
    kelurahan_code: str
    lat: float
    lng: float
    item: str
    quantity: int
    updated_at: datetime | None


def stock(conn: Connection, *, until: datetime | None = None) -> list[Stock]:
    """Every pharmacy's stock per item as last written (before until, when given), by pharmacy
    and item."""
    t = schema.civic_pharmacy_stock
    q = select(t).order_by(t.c.pharmacy_id, t.c.item)
    if until is not None:
        q = q.where(t.c.updated_at <= until.astimezone(UTC))
    return [
        Stock(r["pharmacy_id"], r["pharmacy_name"], r["kelurahan_code"], r["lat"], r["lng"],
              r["item"], int(r["quantity"]), aware(r["updated_at"]))
        for r in conn.execute(q).mappings()
    ]  # fmt: skip


def entries(conn: Connection, day: date) -> list[dict[str, Any]]:
    """People entering the city: the rows dated day."""
    t = schema.civic_entries
    return [dict(r) for r in conn.execute(select(t).where(t.c.date == day)).mappings()]


def aid(conn: Connection, day: date, direction: str | None = None) -> list[dict[str, Any]]:
    """Aid rows dated day (of one direction, when given), by area, source, item and unit."""
    t = schema.civic_aid
    q = select(t).where(t.c.date == day)
    if direction is not None:
        q = q.where(t.c.direction == direction)
    q = q.order_by(t.c.area_code, t.c.source, t.c.item, t.c.unit)
    return [dict(r) for r in conn.execute(q).mappings()]


# ---- over a date window (the city page's plots): every read is bounded by [first, last] ----


def cases_between(conn: Connection, first: date, last: date) -> list[Cases]:
    """Case rows dated in [first, last], and per kelurahan and residency the newest row dated
    before first (what the window's first days carry forward); by date."""
    t = schema.civic_cases
    before = newest_rows(t, ("kelurahan_code", "residency"), first - timedelta(days=1))
    inside = select(t).where(t.c.date >= first, t.c.date <= last)
    rows = [*conn.execute(before).mappings(), *conn.execute(inside).mappings()]
    return sorted(
        (Cases(r["kelurahan_code"], r["residency"], r["date"], int(r["confirmed"]),
               int(r["active"]), int(r["recovered"]), int(r["deaths"]), aware(r["updated_at"]))
         for r in rows),
        key=lambda c: (c.date, c.kelurahan_code, c.residency),
    )  # fmt: skip


def _dated_between(t: Table, first: date, last: date, *order: str) -> Select[Any]:
    return (select(t).where(t.c.date >= first, t.c.date <= last)
            .order_by(t.c.date, *(t.c[k] for k in order)))  # fmt: skip


def entries_between(conn: Connection, first: date, last: date) -> list[dict[str, Any]]:
    """People entering the city: the rows dated in [first, last], by date and entry point."""
    q = _dated_between(schema.civic_entries, first, last, "entry_point")
    return [dict(r) for r in conn.execute(q).mappings()]


def staples_between(conn: Connection, first: date, last: date) -> list[dict[str, Any]]:
    """Staple goods: the rows dated in [first, last], by date, market and commodity."""
    q = _dated_between(schema.civic_staples, first, last, "market_id", "commodity")
    return [dict(r) for r in conn.execute(q).mappings()]


def aid_between(conn: Connection, first: date, last: date) -> list[dict[str, Any]]:
    """Aid rows dated in [first, last], by date, direction, source, area and item."""
    q = _dated_between(schema.civic_aid, first, last, "direction", "source", "area_code", "item")
    return [dict(r) for r in conn.execute(q).mappings()]
