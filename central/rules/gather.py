"""Gathering the figures the rules judge, from the database (SQL; nothing is decided here).

Mask counts are read here; the civic figures (residents' weekly cases, population, pharmacy
mask stock, isolation beds) come from the civic read side, central/civic/read.py, so the rules
judge the same figures the summaries, the daily report and the open data show.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, func, select

from central import judged
from central.civic import read
from central.rules.model import Rules
from central.store import schema
from central.uncertainty.calibrations import read_calibrations
from central.uncertainty.correction import Confusion
from siaga.timeutil import utc

CamKey = tuple[str, str]  # (agent_id, camera_id)


@dataclass(frozen=True, slots=True)
class KelurahanFigures:
    """One kelurahan: recent mask counts, weekly new cases and population.

    masked / unmasked: of the windows that count towards compliance (central/judged.py);
    people_seen: of every window; cameras: (masked, unmasked) per camera, for the correction.
    """

    code: str
    kecamatan_code: str
    centroid: tuple[float, float] | None = None  # (lng, lat)
    people_seen: int = 0
    masked: int = 0
    unmasked: int = 0
    window_min: float = 0.0  # minutes of counts behind people_seen (first start → last end)
    cases_week: int | None = None  # residents' new confirmed cases in the last 7 days
    cases_prev_week: int | None = None  # in the 7 days before
    population: int | None = None
    cameras: dict[CamKey, tuple[int, int]] = field(default_factory=dict)

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
    """One hospital's isolation beds: each room type's newest report, summed."""

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
    calibration: dict[CamKey, Confusion] = field(default_factory=dict)  # calibrated cameras


def gather(engine: Engine, rules: Rules, now: datetime, *,
           include_unsuitable: bool = False) -> Figures:  # fmt: skip
    """Read counts, cases, population, pharmacy stock and beds as of now (include_unsuitable:
    count masked/unmasked of cameras marked unsuitable too, central/judged.py)."""
    today = now.astimezone(ZoneInfo(rules.timezone)).date()
    lc = rules.low_compliance
    k, c = schema.kelurahan.c, schema.counts.c
    start = now - timedelta(minutes=lc.window_min)
    seen, masked, unmasked, _ = judged.sums(c, include_unsuitable=include_unsuitable)
    with engine.connect() as conn:
        areas = conn.execute(select(k.code, k.kecamatan_code, k.centroid_lng, k.centroid_lat)).all()
        # Per camera, so the correction can weigh each camera's calls by its own matrix.
        per_camera = conn.execute(
            select(
                c.kelurahan_code, c.agent_id, c.camera_id, seen, masked, unmasked,
                func.min(c.window_start), func.max(c.window_end),
            )
            .where(c.window_end > utc(start), c.window_end <= utc(now))
            .group_by(c.kelurahan_code, c.agent_id, c.camera_id)
        ).all()  # fmt: skip
        calibration = {key: cal.confusion for key, cal in read_calibrations(conn).items()
                       if cal.confusion is not None}  # fmt: skip
        cases = read.resident_cases(conn, today, weeks=2)
        population = read.population(conn, today.year)
        pharmacies = tuple(
            Pharmacy(s.pharmacy_id, s.pharmacy_name, s.kelurahan_code, s.lat, s.lng, s.quantity)
            for s in read.stock(conn)
            if s.item == "mask"
        )
        rooms = read.beds(conn, today, max_age_days=rules.bed_occupancy.max_age_days)
    beds: dict[str, list[int]] = {}
    names: dict[str, str] = {}
    for b in rooms:
        acc = beds.setdefault(b.hospital_id, [0, 0])
        acc[0] += b.beds
        acc[1] += b.used
        names[b.hospital_id] = b.hospital_name or b.hospital_id
    counts, cams = _by_kelurahan(per_camera)
    kel: dict[str, KelurahanFigures] = {}
    for code, kec, lng, lat in areas:
        p, m, u, first, last = counts.get(code, (0, 0, 0, None, None))
        minutes = (utc(last) - utc(first)).total_seconds() / 60 if first and last else 0.0
        rc = cases.get(code)
        kel[code] = KelurahanFigures(
            code=code, kecamatan_code=kec,
            centroid=(lng, lat) if lng is not None and lat is not None else None,
            people_seen=judged.as_int(p), masked=judged.as_int(m), unmasked=judged.as_int(u),
            window_min=round(minutes, 2), cases_week=rc.new_7d if rc else None,
            cases_prev_week=rc.prev_7d if rc else None, population=population.get(code),
            cameras=cams.get(code, {}),
        )  # fmt: skip
    return Figures(
        kelurahan=kel,
        pharmacies=pharmacies,
        beds=tuple(Bed(h, names[h], b, u) for h, (b, u) in sorted(beds.items())),
        calibration=calibration,
    )


def _by_kelurahan(
    per_camera: Sequence[Any],
) -> tuple[dict[str, tuple[int, int, int, Any, Any]], dict[str, dict[CamKey, tuple[int, int]]]]:
    """Per kelurahan: (seen, masked, unmasked, first start, last end) and each camera's calls."""
    counts: dict[str, tuple[int, int, int, Any, Any]] = {}
    cams: dict[str, dict[CamKey, tuple[int, int]]] = {}
    for code, agent, camera, p, m, u, first, last in per_camera:
        p, m, u = judged.as_int(p), judged.as_int(m), judged.as_int(u)
        cams.setdefault(code, {})[(agent, camera)] = (m, u)
        if code in counts:
            p0, m0, u0, f0, l0 = counts[code]
            first = f0 if first is None or (f0 is not None and utc(f0) <= utc(first)) else first
            last = l0 if last is None or (l0 is not None and utc(l0) >= utc(last)) else last
            p, m, u = p + p0, m + m0, u + u0
        counts[code] = (p, m, u, first, last)
    return counts, cams
