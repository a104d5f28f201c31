"""One day's open data: per-kelurahan aggregates, no personal data.

The day D is cut off like the daily report (D at 12:00 WIB by default) and each figure means
what it means there (see central/report/build.py):

- mask counts: count windows ending in (cut-off − 24 h, cut-off], summed over every camera of
  the kelurahan: people seen of every window, masked / unmasked / judged of the windows that
  count towards compliance (central/judged.py: not those of cameras whose view cannot judge
  masks), not judged = people seen − judged; the compliance ratio masked / judged is empty below
  the minimum of people judged;
- cases: city residents only (out-of-town patients have no city kelurahan), the newest
  cumulative row dated ≤ D; new cases over 7 days = confirmed at D − confirmed at D − 7;
- beds: the hospitals located in the kelurahan, per hospital and room type the newest row
  dated ≤ D, summed (no hospital is named);
- pharmacy stock: masks and hand sanitizer as last written before the cut-off, summed over the
  pharmacies in the kelurahan (no pharmacy is named);
- aid distributed to the kelurahan on D − 1 (the last full day), in a sibling long table;
- population: the newest year ≤ D's year (else the oldest one after it); rates per 100,000.

Nothing names a person, a camera, an agent, a hospital or a pharmacy.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, func, select

from central import judged, schema
from central.civic.figures import population_by_kelurahan, resident_cases
from central.daily import report_cutoff
from central.report.build import newest_rows

Value = int | float | str | None


@dataclass(frozen=True, slots=True)
class Field:
    """One column of an open data table: name, type, unit and description."""

    name: str
    type: str  # date / string / integer / number / datetime
    unit: str
    description: str


KELURAHAN_FIELDS: tuple[Field, ...] = (
    Field("date", "date", "", "Day of the figures (Asia/Jakarta); cut off at 12:00 WIB that day"),
    Field("kelurahan_code", "string", "", "Kemendagri code of the kelurahan (e.g. 33.74.01.1001)"),
    Field("kelurahan_name", "string", "", "Name of the kelurahan"),
    Field("kecamatan_code", "string", "", "Kemendagri code of its kecamatan"),
    Field("kecamatan_name", "string", "", "Name of its kecamatan"),
    Field("people_seen", "integer", "people",
          "People counted by the city's cameras in the 24 h before the cut-off"),
    Field("masked", "integer", "people", "Of them, judged wearing a mask"),
    Field("unmasked", "integer", "people", "Of them, judged not wearing a mask"),
    Field("judged", "integer", "people",
          "masked + unmasked: people whose mask could be judged (faces big and clear enough, "
          "on cameras able to judge masks)"),
    Field("not_judged", "integer", "people",
          "people_seen - judged: counted, but their mask could not be judged"),
    Field("mask_compliance", "number", "ratio 0-1",
          "masked / judged; empty when fewer than min_people_for_ratio were judged"),
    Field("cases_confirmed", "integer", "people",
          "COVID-19 confirmed cases among residents, cumulative as of the day"),
    Field("cases_active", "integer", "people", "Residents under treatment or isolation that day"),
    Field("cases_recovered", "integer", "people", "Residents recovered, cumulative"),
    Field("cases_deaths", "integer", "people", "Residents deceased, cumulative"),
    Field("cases_new_7d", "integer", "people",
          "New confirmed cases among residents in the 7 days up to the day"),
    Field("population", "integer", "people", "Residents of the kelurahan (latest year known)"),
    Field("cases_active_per_100k", "number", "per 100,000 residents",
          "cases_active * 100000 / population"),
    Field("cases_new_7d_per_100k", "number", "per 100,000 residents",
          "cases_new_7d * 100000 / population (the weekly rate behind PPKM levels)"),
    Field("beds_total", "integer", "beds",
          "Isolation beds of the hospitals located in the kelurahan"),
    Field("beds_used", "integer", "beds", "Of them, occupied"),
    Field("beds_free", "integer", "beds", "Of them, free"),
    Field("beds_occupancy_pct", "number", "%", "100 * beds_used / beds_total"),
    Field("pharmacy_mask_stock", "integer", "units",
          "Masks in stock at the pharmacies of the kelurahan, summed"),
    Field("pharmacy_hand_sanitizer_stock", "integer", "units",
          "Hand sanitizer in stock at the pharmacies of the kelurahan, summed"),
    Field("pharmacies_reporting", "integer", "pharmacies",
          "Pharmacies of the kelurahan with a stock report before the cut-off"),
    Field("counts_as_of", "datetime", "UTC", "End of the newest count window used"),
    Field("cases_as_of", "datetime", "UTC", "When the newest case row used was written"),
    Field("beds_as_of", "datetime", "UTC", "When the newest bed row used was written"),
    Field("stock_as_of", "datetime", "UTC", "When the newest stock row used was written"),
)  # fmt: skip

AID_FIELDS: tuple[Field, ...] = (
    Field("date", "date", "", "Day the aid was distributed"),
    Field("kelurahan_code", "string", "", "Kemendagri code of the receiving kelurahan"),
    Field("kelurahan_name", "string", "", "Name of the kelurahan"),
    Field("source", "string", "",
          "regional_government, central_government or private"),
    Field("item", "string", "", "What was distributed (e.g. mask, rice)"),
    Field("unit", "string", "", "Unit of quantity (e.g. pcs, kg)"),
    Field("quantity", "number", "unit", "Quantity distributed that day"),
)  # fmt: skip

PRIMARY_KEY = ("kelurahan_code", "date")
AID_KEY = ("kelurahan_code", "date", "source", "item", "unit")


@dataclass(frozen=True, slots=True)
class OpenData:
    """One day's tables (rows as dicts with the fields' names, in the fields' order)."""

    day: date
    cutoff: datetime
    generated_at: datetime
    min_people_for_ratio: int
    kelurahan: list[dict[str, Value]]
    aid: list[dict[str, Value]]


def _aware(t: Any) -> datetime | None:
    if t is None:
        return None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def _iso(t: datetime | None) -> str | None:
    return None if t is None else t.isoformat().replace("+00:00", "Z")


def _newest(a: datetime | None, b: Any) -> datetime | None:
    b = _aware(b)
    return b if a is None or (b is not None and b > a) else a


def _rate(n: int | None, pop: int | None) -> float | None:
    return None if n is None or not pop else round(n * 100_000 / pop, 2)


def _cases(conn: Connection, day: date) -> dict[str, tuple[dict[str, int], datetime | None]]:
    """Per kelurahan: residents' newest cumulative figures dated ≤ day and their updated_at."""
    return {
        code: ({k: int(r[k]) for k in ("confirmed", "active", "recovered", "deaths")},
               _aware(r["updated_at"]))
        for code, r in resident_cases(conn, day).items()
    }  # fmt: skip


def build_opendata(
    engine: Engine, day: date, tz: ZoneInfo, *, hour: int = 12, minute: int = 0,
    min_people_for_ratio: int = 20, now: datetime | None = None, include_unsuitable: bool = False,
) -> OpenData:  # fmt: skip
    """Query day's per-kelurahan aggregates (see the module docstring)."""
    cutoff = report_cutoff(day, tz, hour, minute)
    cut = cutoff.astimezone(UTC)
    k, kc, c = schema.kelurahan.c, schema.kecamatan.c, schema.counts.c
    with engine.connect() as conn:
        areas = conn.execute(
            select(k.code, k.name, k.kecamatan_code, kc.name)
            .join(schema.kecamatan, kc.code == k.kecamatan_code, isouter=True)
            .order_by(k.code)
        ).all()  # fmt: skip
        sums = judged.sums(c, include_unsuitable=include_unsuitable)
        sum_seen, sum_masked, sum_unmasked = sums[0], sums[1], sums[2]
        counts = {
            r[0]: r[1:]
            for r in conn.execute(
                select(c.kelurahan_code, sum_seen, sum_masked, sum_unmasked, func.max(c.window_end))
                .where(c.window_end > cut - timedelta(hours=24), c.window_end <= cut)
                .group_by(c.kelurahan_code)
            )
        }  # fmt: skip
        cases_now = _cases(conn, day)
        cases_before = _cases(conn, day - timedelta(days=7))
        population = population_by_kelurahan(conn, day.year)
        beds: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
        beds_as_of: dict[str, datetime | None] = {}
        q = newest_rows(schema.civic_beds, ("hospital_id", "room_type"), day)
        for r in conn.execute(q).mappings():
            acc = beds[r["kelurahan_code"]]
            acc[0] += r["beds"]
            acc[1] += r["used"]
            acc[2] += r["free"]
            beds_as_of[r["kelurahan_code"]] = _newest(beds_as_of.get(r["kelurahan_code"]),
                                                      r["updated_at"])  # fmt: skip
        stock: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        pharmacies: dict[str, set[str]] = defaultdict(set)
        stock_as_of: dict[str, datetime | None] = {}
        t = schema.civic_pharmacy_stock
        for r in conn.execute(select(t).where(t.c.updated_at <= cut)).mappings():
            code = r["kelurahan_code"]
            stock[code][r["item"]] += r["quantity"]
            pharmacies[code].add(r["pharmacy_id"])
            stock_as_of[code] = _newest(stock_as_of.get(code), r["updated_at"])
        t = schema.civic_aid
        aid_rows = conn.execute(
            select(t.c.area_code, t.c.source, t.c.item, t.c.unit, t.c.quantity)
            .where(t.c.date == day - timedelta(days=1), t.c.direction == "distributed")
            .order_by(t.c.area_code, t.c.source, t.c.item, t.c.unit)
        ).all()  # fmt: skip

    rows: list[dict[str, Value]] = []
    names: dict[str, str] = {}
    for code, name, kec_code, kec_name in areas:
        names[code] = name
        p, m, u, newest = counts.get(code, (0, 0, 0, None))
        seen, masked, unmasked = judged.as_int(p), judged.as_int(m), judged.as_int(u)
        cs, cases_at = cases_now.get(code, ({}, None))
        before = cases_before.get(code)
        new_7d = cs["confirmed"] - before[0]["confirmed"] if cs and before else None
        pop = population.get(code)
        b = beds.get(code)
        st = stock.get(code)
        row: dict[str, Value] = {
            "date": day.isoformat(), "kelurahan_code": code, "kelurahan_name": name,
            "kecamatan_code": kec_code, "kecamatan_name": kec_name,
            "people_seen": seen, "masked": masked, "unmasked": unmasked,
            "judged": masked + unmasked, "not_judged": seen - masked - unmasked,
            "mask_compliance": judged.compliance(masked, unmasked, min_people_for_ratio),
            "cases_confirmed": cs.get("confirmed"), "cases_active": cs.get("active"),
            "cases_recovered": cs.get("recovered"), "cases_deaths": cs.get("deaths"),
            "cases_new_7d": new_7d, "population": pop,
            "cases_active_per_100k": _rate(cs.get("active"), pop),
            "cases_new_7d_per_100k": _rate(new_7d, pop),
            "beds_total": b[0] if b else None, "beds_used": b[1] if b else None,
            "beds_free": b[2] if b else None,
            "beds_occupancy_pct": round(100 * b[1] / b[0], 1) if b and b[0] else None,
            "pharmacy_mask_stock": st.get("mask", 0) if st else None,
            "pharmacy_hand_sanitizer_stock": st.get("hand_sanitizer", 0) if st else None,
            "pharmacies_reporting": len(pharmacies.get(code, ())),
            "counts_as_of": _iso(_aware(newest)), "cases_as_of": _iso(cases_at),
            "beds_as_of": _iso(beds_as_of.get(code)), "stock_as_of": _iso(stock_as_of.get(code)),
        }  # fmt: skip
        rows.append({f.name: row[f.name] for f in KELURAHAN_FIELDS})
    aid: list[dict[str, Value]] = [
        {"date": (day - timedelta(days=1)).isoformat(), "kelurahan_code": area,
         "kelurahan_name": names.get(area), "source": source, "item": item, "unit": unit,
         "quantity": int(qty) if float(qty).is_integer() else round(qty, 4)}
        for area, source, item, unit, qty in aid_rows
        if area in names
    ]  # fmt: skip
    return OpenData(
        day=day, cutoff=cutoff, generated_at=(now or datetime.now(UTC)).astimezone(UTC),
        min_people_for_ratio=min_people_for_ratio, kelurahan=rows, aid=aid,
    )  # fmt: skip
