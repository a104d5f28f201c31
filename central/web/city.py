"""The city page's figures (`/kota`): the civic modules over a date window, as the public sees them.

What the Siaga Corona site shows a citizen, from the civic tables central already holds, read
through the one read side (central/civic/read.py) and summed here in pure functions:

- cases of city residents per day: per kelurahan the newest cumulative row dated on or before the
  day (carried forward, as every other consumer reads it), summed over the city; recovery rate =
  recovered / confirmed. A day before any row has no point;
- people entering the city per day and per entry point (the rows dated in the window);
- staple goods: each market's price per commodity per day, and its newest price and stock;
- aid received and distributed over the window, per item and unit, by source;
- isolation beds (the newest report per hospital and room type, at most the bed rule's
  max_age_days old) and pharmacy stock, as city totals only: the public page shows aggregates
  that the open data publishes, never a hospital's or a pharmacy's own figures.

Every query is bounded by the window (at most MAX_DAYS days), so the page costs the same on a
city's years of data as on the demo's fortnight.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Engine

from central.civic import read
from central.civic.read import Cases, Stock
from central.rules import DEFAULT_RULES

DEFAULT_DAYS = 28
MIN_DAYS, MAX_DAYS = 7, 92
AID_SOURCES = ("regional_government", "central_government", "private")


@dataclass(frozen=True, slots=True)
class Window:
    """The days [first, last] the page shows, both included."""

    first: date
    last: date

    @classmethod
    def ending(cls, last: date, days: int = DEFAULT_DAYS) -> Window:
        """`days` days up to and including `last` (days clamped to [MIN_DAYS, MAX_DAYS])."""
        days = max(MIN_DAYS, min(MAX_DAYS, days))
        return cls(last - timedelta(days=days - 1), last)

    @property
    def days(self) -> list[date]:
        """Every day of the window, oldest first."""
        return [self.first + timedelta(days=i) for i in range((self.last - self.first).days + 1)]


@dataclass(frozen=True, slots=True)
class CaseDay:
    """City residents' cumulative cases as of one day."""

    day: date
    confirmed: int
    active: int
    recovered: int
    deaths: int

    @property
    def recovery_rate(self) -> float | None:
        """Recovered / confirmed; None with no confirmed case."""
        return self.recovered / self.confirmed if self.confirmed else None


def case_days(rows: Iterable[Cases], window: Window) -> list[CaseDay]:
    """Per day of the window, the residents' newest row per kelurahan dated ≤ that day, summed.

    `rows` are read.cases_between's: the window's rows and the newest row before it. Days before
    the first row have no point (no data is not zero cases)."""
    pending = sorted((c for c in rows if c.residency == "resident"), key=lambda c: c.date)
    latest: dict[str, Cases] = {}
    out: list[CaseDay] = []
    i = 0
    for day in window.days:
        while i < len(pending) and pending[i].date <= day:
            latest[pending[i].kelurahan_code] = pending[i]
            i += 1
        if latest:
            sums = [sum(c.values()[k] for c in latest.values()) for k in read.CASE_FIELDS]
            out.append(CaseDay(day, *sums))
    return out


@dataclass(frozen=True, slots=True)
class Entries:
    """People entering the city over the window."""

    points: list[str]  # entry points, most people first
    per_day: list[tuple[date, dict[str, int]]]  # days with a row: people per entry point
    by_point: dict[str, int]

    @property
    def total(self) -> int:
        """Everyone counted entering over the window."""
        return sum(self.by_point.values())


def entry_figures(rows: Iterable[Mapping[str, Any]]) -> Entries:
    """Per day and per entry point, from read.entries_between's rows."""
    days: dict[date, dict[str, int]] = defaultdict(dict)
    by_point: dict[str, int] = defaultdict(int)
    for r in rows:
        days[r["date"]][r["entry_point"]] = int(r["people"])
        by_point[r["entry_point"]] += int(r["people"])
    points = sorted(by_point, key=lambda p: (-by_point[p], p))
    return Entries(points, sorted(days.items()), dict(by_point))


@dataclass(frozen=True, slots=True)
class MarketPrice:
    """One market's newest price and stock of one commodity in the window."""

    market_id: str
    market_name: str
    kind: str
    date: date
    price_idr: int
    stock: float


@dataclass(slots=True)
class Commodity:
    """One commodity across the markets: price per market per day, newest figures per market."""

    name: str
    unit: str
    prices: dict[str, list[tuple[date, int]]] = field(default_factory=dict)  # market name → series
    newest: list[MarketPrice] = field(default_factory=list)  # by market name

    @property
    def stock(self) -> float:
        """Stock across the markets, from each one's newest row."""
        return sum(m.stock for m in self.newest)


def staple_figures(rows: Iterable[Mapping[str, Any]]) -> list[Commodity]:
    """Per commodity (by name): price series per market and each market's newest price and stock,
    from read.staples_between's rows (by date)."""
    out: dict[str, Commodity] = {}
    newest: dict[tuple[str, str], MarketPrice] = {}
    for r in rows:
        name, market = r["commodity"], r["market_name"]
        c = out.setdefault(name, Commodity(name, r["unit"]))
        c.prices.setdefault(market, []).append((r["date"], int(r["price_idr"])))
        newest[(name, r["market_id"])] = MarketPrice(
            r["market_id"], market, r["kind"], r["date"], int(r["price_idr"]), float(r["stock"])
        )
    for (name, _), m in sorted(newest.items(), key=lambda kv: (kv[0][0], kv[1].market_name)):
        out[name].newest.append(m)
    return [out[k] for k in sorted(out)]


@dataclass(frozen=True, slots=True)
class AidItem:
    """One item (in one unit) over the window: quantity received and distributed per source."""

    item: str
    unit: str
    received: dict[str, float]  # source → quantity (every source of AID_SOURCES present)
    distributed: dict[str, float]


def aid_figures(rows: Iterable[Mapping[str, Any]]) -> list[AidItem]:
    """Sums per item and unit, direction and source, from read.aid_between's rows."""
    sums: dict[tuple[str, str], dict[str, dict[str, float]]] = {}
    for r in rows:
        by_dir = sums.setdefault((r["item"], r["unit"]), {"received": {}, "distributed": {}})
        per = by_dir[r["direction"]]
        per[r["source"]] = per.get(r["source"], 0.0) + float(r["quantity"])

    def full(d: dict[str, float]) -> dict[str, float]:
        return {s: d.get(s, 0.0) for s in AID_SOURCES}

    return [AidItem(i, u, full(v["received"]), full(v["distributed"]))
            for (i, u), v in sorted(sums.items())]  # fmt: skip


@dataclass(frozen=True, slots=True)
class Beds:
    """The city's isolation beds from the newest report per hospital and room type."""

    beds: int
    used: int
    free: int
    hospitals: int
    as_of: date  # the oldest report counted

    @property
    def occupancy(self) -> float | None:
        """Used / beds; None without beds."""
        return self.used / self.beds if self.beds else None


def bed_figures(rooms: Sequence[read.BedRoom]) -> Beds | None:
    """City totals of read.beds' rooms; None without any."""
    if not rooms:
        return None
    return Beds(sum(r.beds for r in rooms), sum(r.used for r in rooms),
                sum(r.free for r in rooms), len({r.hospital_id for r in rooms}),
                min(r.date for r in rooms))  # fmt: skip


@dataclass(frozen=True, slots=True)
class Pharmacies:
    """Masks and hand sanitizer in stock at the city's pharmacies, as last reported."""

    mask: int
    hand_sanitizer: int
    pharmacies: int
    low_mask: int  # pharmacies with fewer masks than the mask_stock rule's low_stock


def pharmacy_figures(stock: Sequence[Stock], *, low_stock: int) -> Pharmacies | None:
    """City totals of read.stock's rows; None without any."""
    if not stock:
        return None
    mask = {s.pharmacy_id: s.quantity for s in stock if s.item == "mask"}
    return Pharmacies(sum(mask.values()),
                      sum(s.quantity for s in stock if s.item == "hand_sanitizer"),
                      len({s.pharmacy_id for s in stock}),
                      sum(1 for q in mask.values() if q < low_stock))  # fmt: skip


@dataclass(frozen=True, slots=True)
class CityFigures:
    """Everything the city page shows for one window."""

    window: Window
    cases: list[CaseDay]
    entries: Entries
    staples: list[Commodity]
    aid: list[AidItem]
    beds: Beds | None
    pharmacies: Pharmacies | None


def city_figures(engine: Engine, window: Window) -> CityFigures:
    """Read the window's civic rows (one connection, bounded queries) and sum them."""
    rules = DEFAULT_RULES
    with engine.connect() as conn:
        cases = read.cases_between(conn, window.first, window.last)
        entries = read.entries_between(conn, window.first, window.last)
        staples = read.staples_between(conn, window.first, window.last)
        aid = read.aid_between(conn, window.first, window.last)
        rooms = read.beds(conn, window.last, max_age_days=rules.bed_occupancy.max_age_days)
        stock = read.stock(conn)
    return CityFigures(
        window, case_days(cases, window), entry_figures(entries), staple_figures(staples),
        aid_figures(aid), bed_figures(rooms),
        pharmacy_figures(stock, low_stock=rules.mask_stock.low_stock),
    )  # fmt: skip
