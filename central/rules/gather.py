"""Gathering the figures the rules judge, from the database (SQL; nothing is decided here)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, func, select

from central import judged, schema
from central.rules.model import Rules


@dataclass(frozen=True, slots=True)
class KelurahanFigures:
    """One kelurahan: recent mask counts, weekly new cases and population.

    masked / unmasked: of the windows that count towards compliance (central/judged.py);
    people_seen: of every window.
    """

    code: str
    kecamatan_code: str
    centroid: tuple[float, float] | None = None  # (lng, lat)
    people_seen: int = 0
    masked: int = 0
    unmasked: int = 0
    window_min: float = 0.0  # minutes of counts behind people_seen (first start → last end)
    cases_week: int | None = None  # new confirmed cases in the last 7 days
    cases_prev_week: int | None = None  # in the 7 days before
    population: int | None = None

    @property
    def judged(self) -> int:
        """People whose mask state counts towards compliance."""
        return self.masked + self.unmasked


@dataclass(frozen=True, slots=True)
class Pharmacy:
    """Mask stock at one pharmacy."""

    pharmacy_id: str
    name: str
    kelurahan_code: str
    lat: float
    lng: float
    quantity: int


@dataclass(frozen=True, slots=True)
class Bed:
    """One hospital's isolation beds (newest report, all room types summed)."""

    hospital_id: str
    name: str
    beds: int
    used: int


@dataclass(frozen=True, slots=True)
class Figures:
    """Everything the rules judge at one moment."""

    kelurahan: dict[str, KelurahanFigures] = field(default_factory=dict)
    pharmacies: tuple[Pharmacy, ...] = ()
    beds: tuple[Bed, ...] = ()


def _utc(t: datetime) -> datetime:
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def _cumulative_at(series: list[tuple[date, int]], day: date) -> int | None:
    """The newest cumulative value on or before day (series sorted by date)."""
    value = None
    for d, v in series:
        if d > day:
            break
        value = v
    return value


def gather(engine: Engine, rules: Rules, now: datetime, *,
           include_unsuitable: bool = False) -> Figures:  # fmt: skip
    """Read counts, cases, population, pharmacy stock and beds as of now (include_unsuitable:
    count masked/unmasked of cameras marked unsuitable too, central/judged.py)."""
    today = now.astimezone(ZoneInfo(rules.timezone)).date()
    lc = rules.low_compliance
    k, c = schema.kelurahan.c, schema.counts.c
    cc, pc = schema.civic_cases.c, schema.civic_population.c
    ph, bc = schema.civic_pharmacy_stock.c, schema.civic_beds.c
    start = now - timedelta(minutes=lc.window_min)
    seen, masked, unmasked, _ = judged.sums(c, include_unsuitable=include_unsuitable)
    with engine.connect() as conn:
        areas = conn.execute(select(k.code, k.kecamatan_code, k.centroid_lng, k.centroid_lat)).all()
        counts = {
            r[0]: r[1:]
            for r in conn.execute(
                select(
                    c.kelurahan_code, seen, masked, unmasked, func.min(c.window_start),
                    func.max(c.window_end),
                )
                .where(c.window_end > _utc(start), c.window_end <= _utc(now))
                .group_by(c.kelurahan_code)
            )
        }  # fmt: skip
        series: dict[str, dict[str, list[tuple[date, int]]]] = defaultdict(dict)
        for kcode, res, d, confirmed in conn.execute(
            select(cc.kelurahan_code, cc.residency, cc.date, cc.confirmed)
            .where(cc.date <= today)
            .order_by(cc.date)
        ):
            series[kcode].setdefault(res, []).append((d, confirmed))
        population: dict[str, int] = {}
        for kcode, _year, pop in conn.execute(
            select(pc.kelurahan_code, pc.year, pc.population).order_by(pc.year)
        ):
            population[kcode] = pop  # the newest year wins
        pharmacies = tuple(
            Pharmacy(*r)
            for r in conn.execute(
                select(ph.pharmacy_id, ph.pharmacy_name, ph.kelurahan_code, ph.lat, ph.lng,
                       ph.quantity)
                .where(ph.item == "mask")
                .order_by(ph.pharmacy_id)
            )
        )  # fmt: skip
        oldest = today - timedelta(days=rules.bed_occupancy.max_age_days)
        newest = dict(
            conn.execute(
                select(bc.hospital_id, func.max(bc.date))
                .where(bc.date >= oldest, bc.date <= today)
                .group_by(bc.hospital_id)
            ).all()
        )
        bed_rows = conn.execute(
            select(bc.hospital_id, bc.date, bc.hospital_name, bc.beds, bc.used).where(
                bc.date >= oldest, bc.date <= today
            )
        ).all()
    beds: dict[str, list[int]] = {}
    names: dict[str, str] = {}
    for hid, d, name, n, used in bed_rows:
        if newest.get(hid) == d:
            acc = beds.setdefault(hid, [0, 0])
            acc[0] += n
            acc[1] += used
            names[hid] = name or hid
    kel: dict[str, KelurahanFigures] = {}
    for code, kec, lng, lat in areas:
        p, m, u, first, last = counts.get(code, (0, 0, 0, None, None))
        minutes = (_utc(last) - _utc(first)).total_seconds() / 60 if first and last else 0.0
        week = prev = None
        if code in series:
            cum = [
                [_cumulative_at(s, today - timedelta(days=d)) for d in (0, 7, 14)]
                for s in series[code].values()
            ]
            if all(v[0] is not None and v[1] is not None for v in cum):
                week = sum((v[0] or 0) - (v[1] or 0) for v in cum)
                if all(v[2] is not None for v in cum):
                    prev = sum((v[1] or 0) - (v[2] or 0) for v in cum)
        kel[code] = KelurahanFigures(
            code=code, kecamatan_code=kec,
            centroid=(lng, lat) if lng is not None and lat is not None else None,
            people_seen=judged.as_int(p), masked=judged.as_int(m), unmasked=judged.as_int(u),
            window_min=round(minutes, 2), cases_week=week, cases_prev_week=prev,
            population=population.get(code),
        )  # fmt: skip
    return Figures(
        kelurahan=kel,
        pharmacies=pharmacies,
        beds=tuple(Bed(h, names[h], b, u) for h, (b, u) in sorted(beds.items())),
    )
