"""One day's report: figures for the city and each kecamatan, each with source, as-of and lateness.

The report for day D is cut off at D hour:minute local time (12:00 WIB by default):

- mask compliance (source `counts`): count windows ending in (cut-off − 24 h, cut-off]; as-of is
  the newest window_end used; people_seen of every window, masked / unmasked / judged of those
  that count towards compliance and not_judged = people_seen − judged (central/judged.py: an
  unsuitable camera's people are seen, not judged); the ratio masked / judged has the same
  minimum of people judged as the summaries; with it, its Wilson 95 % interval
  (compliance_low / compliance_high) and, where calibrated cameras contribute, the compliance
  corrected for their detector errors with its interval and the share of judged people it
  covers (central/uncertainty/: the summaries' `interval` and `corrected`, as flat figures);
- COVID cases (`cases`): per kelurahan and residency the newest row dated ≤ D (cumulative), summed;
- isolation beds (`beds`): per hospital and room type the newest row dated ≤ D, summed (the
  report keeps reports older than the rules' max_age_days and shows them late);
- pharmacy stock (`pharmacy`): quantity of masks and hand sanitizer as last written before the
  cut-off, summed (the table keeps no history: a rebuilt past day lacks stock updated since);
- people entering the city (`entries`, city only) and aid (`aid`, per item): rows dated D − 1,
  the last full day before the cut-off.

Civic figures come from the read side (central/civic/read.py: the same definitions as the
summaries, the rules and the open data). A kecamatan sums the kelurahan in it; the city sums
every row, also those of a kelurahan outside the registry (out-of-town patients among them).
Civic figures' as-of is the newest updated_at of the rows used. A figure is late when it has no
data or its as-of is more than late_after_h hours before the cut-off.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, func, select

from central import judged
from central.civic import read
from central.civic.read import CASE_FIELDS
from central.daily import report_cutoff
from central.store import schema
from central.uncertainty.calibrations import read_calibrations
from central.uncertainty.columns import COLUMNS, CameraTally, flat
from central.uncertainty.correction import Corrected
from siaga.timeutil import aware

Value = int | float | None
CITY_LEVEL = "kota"
KECAMATAN_LEVEL = "kecamatan"
RESIDENCIES = ("resident", "non_resident")
STOCK_ITEMS = ("mask", "hand_sanitizer")
AID_DIRECTIONS = ("received", "distributed")


@dataclass(frozen=True, slots=True)
class Figure:
    """One number of the report for one area."""

    area_code: str
    area_name: str
    level: str  # kota / kecamatan
    figure: str
    value: Value
    unit: str
    source: str  # `counts` or a civic module's name
    as_of: datetime | None
    late: bool


@dataclass(frozen=True, slots=True)
class Report:
    """The daily report: its day, cut-off and every figure (city first, then kecamatan by code)."""

    day: date
    timezone: str
    cutoff: datetime
    generated_at: datetime
    late_after_h: float
    min_people_for_ratio: int
    city_code: str
    city_name: str
    figures: list[Figure] = field(default_factory=list)
    include_unsuitable_cameras: bool = False

    def get(self, area_code: str, figure: str) -> Figure:
        """The figure named figure for area_code (KeyError when absent)."""
        for f in self.figures:
            if f.area_code == area_code and f.figure == figure:
                return f
        raise KeyError((area_code, figure))


def _newest(a: datetime | None, b: datetime | None) -> datetime | None:
    a, b = aware(a), aware(b)
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


@dataclass(slots=True)
class _Acc:
    """Sums for one (area, group) with the newest timestamp of the rows summed."""

    sums: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    as_of: datetime | None = None
    rows: int = 0

    def add(self, as_of: datetime | None, **values: float) -> None:
        for k, v in values.items():
            self.sums[k] += v
        self.as_of = _newest(self.as_of, as_of)
        self.rows += 1


class _Builder:
    def __init__(self, kec_of: dict[str, str], city: str, cutoff: datetime, late_h: float) -> None:
        self.kec_of = kec_of
        self.city = city
        self.limit = cutoff.astimezone(UTC) - timedelta(hours=late_h)
        # (area code, group) -> accumulator
        self.acc: dict[tuple[str, str], _Acc] = defaultdict(_Acc)

    def areas_of(self, kelurahan: str | None) -> list[str]:
        """The city, plus the kecamatan of kelurahan when known."""
        kec = self.kec_of.get(kelurahan) if kelurahan else None
        return [self.city] if kec is None else [self.city, kec]

    def add(self, kelurahan: str | None, group: str, as_of: Any, **values: float) -> None:
        for area in self.areas_of(kelurahan):
            self.acc[(area, group)].add(aware(as_of), **values)

    def get(self, area: str, group: str) -> _Acc | None:
        return self.acc.get((area, group))

    def late(self, as_of: datetime | None) -> bool:
        return as_of is None or as_of < self.limit


def _num(v: float) -> int | float:
    return int(v) if float(v).is_integer() else round(v, 4)


def build_report(
    engine: Engine, day: date, tz: ZoneInfo, *, hour: int = 12, minute: int = 0,
    late_after_h: float = 36.0, min_people_for_ratio: int = 20,
    city_name: str = "Kota Semarang", now: datetime | None = None,
    include_unsuitable: bool = False,
) -> Report:  # fmt: skip
    """Query every figure of day's report (see the module docstring for what each one means)."""
    cutoff = report_cutoff(day, tz, hour, minute)
    cut_utc = cutoff.astimezone(UTC)
    with engine.connect() as conn:
        kec_rows = conn.execute(
            select(schema.kecamatan.c.code, schema.kecamatan.c.name, schema.kecamatan.c.kota_code)
            .order_by(schema.kecamatan.c.code)
        ).all()  # fmt: skip
        kel_rows = conn.execute(
            select(schema.kelurahan.c.code, schema.kelurahan.c.kecamatan_code)
        ).all()
        city = kec_rows[0].kota_code if kec_rows else "kota"
        b = _Builder({r.code: r.kecamatan_code for r in kel_rows}, city, cutoff, late_after_h)

        c = schema.counts.c
        sums = judged.sums(c, include_unsuitable=include_unsuitable)
        sum_seen, sum_masked, sum_unmasked = sums[0], sums[1], sums[2]
        q = (
            select(c.kelurahan_code, c.agent_id, c.camera_id, sum_seen, sum_masked, sum_unmasked,
                   func.max(c.window_end))
            .where(c.window_end > cut_utc - timedelta(hours=24), c.window_end <= cut_utc)
            .group_by(c.kelurahan_code, c.agent_id, c.camera_id)
        )  # fmt: skip
        n = judged.as_int
        tally = CameraTally()  # per camera, for the correction of calibrated cameras
        for kel, agent, camera, p, m, u, newest in conn.execute(q):
            b.add(kel, "counts", newest, people_seen=n(p), masked=n(m), unmasked=n(u),
                  judged=n(m) + n(u), not_judged=n(p) - n(m) - n(u))  # fmt: skip
            tally.add(b.areas_of(kel), (agent, camera, kel), n(m), n(u))
        correction = tally.correction(read_calibrations(conn))

        # cases: per (kelurahan, residency) the newest date <= day
        for cs in read.cases(conn, day):
            b.add(cs.kelurahan_code, f"cases:{cs.residency}", cs.updated_at, **cs.values())
        for room in read.beds(conn, day):
            b.add(room.kelurahan_code, "beds", room.updated_at, beds=room.beds, used=room.used,
                  free=room.free)  # fmt: skip
        for st in read.stock(conn, until=cut_utc):
            b.add(st.kelurahan_code, f"pharmacy:{st.item}", st.updated_at, quantity=st.quantity)
        flow_day = day - timedelta(days=1)
        for r in read.entries(conn, flow_day):
            b.add(None, "entries", r["updated_at"], people=r["people"])
        aid_items: set[tuple[str, str, str]] = set()
        for r in read.aid(conn, flow_day):
            aid_items.add((r["direction"], r["item"], r["unit"]))
            b.add(r["area_code"], f"aid:{r['direction']}:{r['item']}:{r['unit']}",
                  r["updated_at"], quantity=r["quantity"])  # fmt: skip

    report = Report(
        day=day, timezone=str(tz), cutoff=cutoff,
        generated_at=(now or datetime.now(UTC)).astimezone(UTC), late_after_h=late_after_h,
        min_people_for_ratio=min_people_for_ratio, city_code=city, city_name=city_name,
        include_unsuitable_cameras=include_unsuitable,
    )  # fmt: skip
    areas = [(city, city_name, CITY_LEVEL)] + [(r.code, r.name, KECAMATAN_LEVEL) for r in kec_rows]
    for code, name, level in areas:
        corrected = correction.of(tally.members.get(code, ()))
        report.figures.extend(_area_figures(b, code, name, level, min_people_for_ratio,
                                            sorted(aid_items), corrected))  # fmt: skip
    return report


def _area_figures(
    b: _Builder, code: str, name: str, level: str, min_people: int,
    aid_items: Iterable[tuple[str, str, str]], corrected: Corrected | None,
) -> list[Figure]:  # fmt: skip
    out: list[Figure] = []

    def fig(figure: str, value: Value, unit: str, source: str, acc: _Acc | None) -> None:
        as_of = acc.as_of if acc else None
        out.append(Figure(code, name, level, figure, value, unit, source, as_of, b.late(as_of)))

    def val(acc: _Acc | None, key: str) -> int | float | None:
        return None if acc is None else _num(acc.sums[key])

    a = b.get(code, "counts")
    for k in ("people_seen", "masked", "unmasked", "judged", "not_judged"):
        fig(k, val(a, k) if a else 0, "people", "counts", a)
    ratio = judged.compliance(a.sums["masked"], a.sums["unmasked"], min_people) if a else None
    fig("mask_compliance", ratio, "ratio", "counts", a)
    masked, unmasked = (int(a.sums["masked"]), int(a.sums["unmasked"])) if a else (0, 0)
    cols = flat(masked, unmasked, corrected, min_people=min_people)
    for k in COLUMNS:
        fig(k, cols[k], "ratio", "counts", a)

    for res in RESIDENCIES:
        a = b.get(code, f"cases:{res}")
        for k in CASE_FIELDS:
            fig(f"cases_{res}_{k}", val(a, k), "people", "cases", a)

    a = b.get(code, "beds")
    fig("beds_total", val(a, "beds"), "beds", "beds", a)
    fig("beds_used", val(a, "used"), "beds", "beds", a)
    fig("beds_free", val(a, "free"), "beds", "beds", a)
    occ = None
    if a is not None and a.sums["beds"] > 0:
        occ = round(100.0 * a.sums["used"] / a.sums["beds"], 1)
    fig("beds_occupancy_pct", occ, "%", "beds", a)

    for item in STOCK_ITEMS:
        a = b.get(code, f"pharmacy:{item}")
        fig(f"pharmacy_{item}_stock", val(a, "quantity"), "units", "pharmacy", a)

    if level == CITY_LEVEL:
        a = b.get(code, "entries")
        fig("people_entering", val(a, "people"), "people", "entries", a)

    items = list(aid_items)
    for direction in AID_DIRECTIONS:
        mine = [(i, u) for d, i, u in items if d == direction]
        if not mine:
            fig(f"aid_{direction}", None, "", "aid", None)
        for item, unit in mine:
            a = b.get(code, f"aid:{direction}:{item}:{unit}")
            fig(f"aid_{direction}:{item}", val(a, "quantity"), unit, "aid", a)
    return out
