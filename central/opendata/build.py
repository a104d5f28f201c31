"""One day's open data: per-kelurahan aggregates, no personal data.

The day D is cut off like the daily report (D at 12:00 WIB by default) and each figure means
what it means there (see central/report/build.py):

- mask counts: count windows ending in (cut-off − 24 h, cut-off], summed over every camera of
  the kelurahan: people seen of every window, masked / unmasked / judged of the windows that
  count towards compliance (central/judged.py: not those of cameras whose view cannot judge
  masks), not judged = people seen − judged; the compliance ratio masked / judged is empty below
  the minimum of people judged; its Wilson 95 % interval (compliance_low / _high, given at any
  number judged: its width says how far the ratio can be trusted) and, where calibrated cameras
  contribute, the compliance corrected for their known detector errors with its interval and
  the share of judged people it covers (central/uncertainty/, as in the summaries and report);
- cases: city residents only (out-of-town patients have no city kelurahan), the newest
  cumulative row dated ≤ D; new cases over 7 days = confirmed at D − confirmed at D − 7;
- beds: the hospitals located in the kelurahan, per hospital and room type the newest row
  dated ≤ D, summed (no hospital is named);
- pharmacy stock: masks and hand sanitizer as last written before the cut-off, summed over the
  pharmacies in the kelurahan (no pharmacy is named);
- aid distributed to the kelurahan on D − 1 (the last full day), in a sibling long table;
- population: the newest year ≤ D's year (else the oldest one after it); rates per 100,000.

Civic figures come from the read side (central/civic/read.py), as for the report, the
summaries and the rules. Nothing names a person, a camera, an agent, a hospital or a pharmacy.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, func, select

from central import judged
from central.civic import read
from central.daily import report_cutoff
from central.store import schema
from central.uncertainty.calibrations import read_calibrations
from central.uncertainty.columns import CameraTally, flat
from siaga.timeutil import iso

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
    Field("compliance_low", "number", "ratio 0-1",
          "Batas bawah interval kepercayaan 95 % (Wilson) dari masked / judged; kosong bila tak "
          "seorang pun dinilai / Lower bound of the 95 % (Wilson) confidence interval of "
          "masked / judged; empty when nobody was judged (given below min_people_for_ratio too)"),
    Field("compliance_high", "number", "ratio 0-1",
          "Batas atas interval kepercayaan 95 % / Upper bound of that interval"),
    Field("compliance_corrected", "number", "ratio 0-1",
          "Kepatuhan dikoreksi untuk kesalahan detektor yang terukur pada kamera terkalibrasi; "
          "kosong tanpa kamera terkalibrasi atau di bawah min_people_for_ratio / Compliance "
          "corrected for the detector errors measured when the cameras were calibrated; empty "
          "without a calibrated camera or below min_people_for_ratio judged"),
    Field("compliance_corrected_low", "number", "ratio 0-1",
          "Batas bawah interval 95 % kepatuhan terkoreksi (termasuk ketidakpastian kalibrasi) / "
          "Lower bound of its 95 % interval (sampling and calibration uncertainty)"),
    Field("compliance_corrected_high", "number", "ratio 0-1",
          "Batas atas interval itu / Upper bound of that interval"),
    Field("corrected_share", "number", "ratio 0-1",
          "Bagian orang yang dinilai oleh kamera terkalibrasi (sisanya masuk tanpa koreksi) / "
          "Share of the people judged that calibrated cameras saw (the rest enter uncorrected)"),
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


def _newest(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None or (b is not None and b > a) else a


def _rate(n: int | None, pop: int | None) -> float | None:
    r = read.rate_per_100k(n, pop)
    return None if r is None else round(r, 2)


def _quantity(q: float) -> int | float:
    return int(q) if float(q).is_integer() else round(q, 4)


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
        counts: dict[str, list[Any]] = {}
        tally = CameraTally()  # per camera, for the correction of calibrated cameras
        for kel, agent, camera, p, m, u, newest in conn.execute(
            select(c.kelurahan_code, c.agent_id, c.camera_id, sum_seen, sum_masked, sum_unmasked,
                   func.max(c.window_end))
            .where(c.window_end > cut - timedelta(hours=24), c.window_end <= cut)
            .group_by(c.kelurahan_code, c.agent_id, c.camera_id)
        ):  # fmt: skip
            acc = counts.setdefault(kel, [0, 0, 0, None])
            p, m, u = judged.as_int(p), judged.as_int(m), judged.as_int(u)
            acc[0], acc[1], acc[2] = acc[0] + p, acc[1] + m, acc[2] + u
            acc[3] = _newest(acc[3], newest)
            tally.add([kel], (agent, camera, kel), m, u)
        correction = tally.correction(read_calibrations(conn))
        cases = read.resident_cases(conn, day)
        population = read.population(conn, day.year)
        beds: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
        beds_as_of: dict[str, datetime | None] = {}
        for room in read.beds(conn, day):
            acc = beds[room.kelurahan_code]
            acc[0] += room.beds
            acc[1] += room.used
            acc[2] += room.free
            kel = room.kelurahan_code
            beds_as_of[kel] = _newest(beds_as_of.get(kel), room.updated_at)
        stock: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        pharmacies: dict[str, set[str]] = defaultdict(set)
        stock_as_of: dict[str, datetime | None] = {}
        for item in read.stock(conn, until=cut):
            kel = item.kelurahan_code
            stock[kel][item.item] += item.quantity
            pharmacies[kel].add(item.pharmacy_id)
            stock_as_of[kel] = _newest(stock_as_of.get(kel), item.updated_at)
        aid_rows = read.aid(conn, day - timedelta(days=1), "distributed")

    rows: list[dict[str, Value]] = []
    names: dict[str, str] = {}
    for code, name, kec_code, kec_name in areas:
        names[code] = name
        p, m, u, newest = counts.get(code, (0, 0, 0, None))
        seen, masked, unmasked = judged.as_int(p), judged.as_int(m), judged.as_int(u)
        rc = cases.get(code)
        cs = rc.now.values() if rc else {}
        cases_at = rc.now.updated_at if rc else None
        new_7d = rc.new_7d if rc else None
        pop = population.get(code)
        b = beds.get(code)
        st = stock.get(code)
        row: dict[str, Value] = {
            "date": day.isoformat(), "kelurahan_code": code, "kelurahan_name": name,
            "kecamatan_code": kec_code, "kecamatan_name": kec_name,
            "people_seen": seen, "masked": masked, "unmasked": unmasked,
            "judged": masked + unmasked, "not_judged": seen - masked - unmasked,
            "mask_compliance": judged.compliance(masked, unmasked, min_people_for_ratio),
            **flat(masked, unmasked, correction.of(tally.members.get(code, ())),
                   min_people=min_people_for_ratio),
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
            "counts_as_of": iso(newest, z=True), "cases_as_of": iso(cases_at, z=True),
            "beds_as_of": iso(beds_as_of.get(code), z=True),
            "stock_as_of": iso(stock_as_of.get(code), z=True),
        }  # fmt: skip
        rows.append({f.name: row[f.name] for f in KELURAHAN_FIELDS})
    aid: list[dict[str, Value]] = [
        {"date": (day - timedelta(days=1)).isoformat(), "kelurahan_code": r["area_code"],
         "kelurahan_name": names.get(r["area_code"]), "source": r["source"], "item": r["item"],
         "unit": r["unit"], "quantity": _quantity(r["quantity"])}
        for r in aid_rows
        if r["area_code"] in names
    ]  # fmt: skip
    return OpenData(
        day=day, cutoff=cutoff, generated_at=(now or datetime.now(UTC)).astimezone(UTC),
        min_people_for_ratio=min_people_for_ratio, kelurahan=rows, aid=aid,
    )  # fmt: skip
