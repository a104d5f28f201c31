"""Live summaries per camera, kelurahan, kecamatan and city (`siaga.summary/1`).

Figures come from SQL aggregates: one GROUP BY per period over the counts table, by
(agent, camera, reported kelurahan), using the window_end index; the roll-up to areas runs in
Python over at most one row per camera. Closed hours of today and closed days are cached and
refreshed a few per pass (so late data from a box that was offline shows up within about
HOUR_REFRESH_S / DAY_REFRESH_S); a pass scans the last `recent_min` minutes, the current hour and
the buckets due. Computation is pure (engine + clock in, payloads out); publishing is separate.

Each period has people_seen (every window), masked / unmasked / judged of the windows that count
towards compliance and not_judged = people_seen - judged (central/judged.py says which and why),
unsuitable_people (seen by cameras their agent marks unsuitable) and compliance, None below
min_people_for_ratio people judged. A camera's payload says `suitable`: its newest window's flag.

Every period also carries its uncertainty (issue 16, central/uncertainty/): `interval`, the
Wilson 95 % interval of masked / judged with the people it rests on (given below the minimum
too: its width says why no ratio is printed; null when nobody was judged), and `corrected`, the
compliance corrected for the detector's measured errors on the calibrated cameras among the
area's (each camera's confusion from its agent's newest status), with an interval that carries
the calibration's own uncertainty and `share`, the fraction of judged people it covers (null
when no calibrated camera contributes). A camera's payload names its `calibration_version`
(null: uncalibrated).
A pass is two stages that pass values: `fetch` reads (per-camera rows, civic figures) and returns
them, `build` rolls them up into payloads; the only state kept between passes is the cache.

Kelurahan, kecamatan and city payloads also carry `civic`: the local day's COVID-19 cases and
weekly rate per 100,000, PPKM-style level, isolation beds and pharmacy stock of the area
(central/civic/figures.py rolls them up from the civic read side, central/civic/read.py, which
the rules, the daily report and the open data read too).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from functools import partial
from typing import Any, Final
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine

from central.areas import Areas, CameraRegistry
from central.civic.figures import AreaCivic, area_civic
from central.config import SummariesSection
from central.rules.model import DEFAULT_RULES, Rules
from central.summary_rows import Rows, Totals, camera_rows, compliance, merge
from central.uncertainty.calibrations import CameraCalibration, read_calibrations
from central.uncertainty.correction import CameraCalls, Corrected, Correction
from central.uncertainty.interval import interval
from siaga.wire import summary_topic

log = logging.getLogger(__name__)

SUMMARY_SCHEMA: Final = "siaga.summary/1"
PERIODS: Final = ("recent", "today", "7d")
DAYS: Final = 7
HOUR_REFRESH_S: Final = 900.0  # closed hours of today
DAY_REFRESH_S: Final = 3600.0  # closed days
REFRESH_PER_PASS: Final = 3  # stale buckets recomputed per pass (missing ones: all)
# A window may end a little after `now`: an agent closes its last window early when it stops,
# and box clocks drift. Such windows count; ones further ahead are left out as bad clocks.
FUTURE_TOLERANCE_S: Final = 300.0
CamKey = tuple[str, str]  # (agent_id, camera_id)


# camera -> (the kelurahan its newest counts reported, that window's end)
Reported = dict[CamKey, tuple[str, datetime | None]]


@dataclass(frozen=True, slots=True)
class Fetched:
    """What one pass reads: per-camera rows of each period, the areas' civic figures and each
    calibrated camera's calibration (from its agent's newest status)."""

    rows: dict[str, Rows]
    civic: AreaCivic
    calibration: dict[CamKey, CameraCalibration] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Period:
    """A half-open period (start, end] on window_end."""

    name: str
    start: datetime
    end: datetime


def periods(now: datetime, cfg: SummariesSection) -> dict[str, Period]:
    """The recent, today (local day) and 7-day (today and the 6 days before) periods.

    Each period ends FUTURE_TOLERANCE_S after now (see there); `to` in the payload says now.
    """
    tz = ZoneInfo(cfg.timezone)
    today = now.astimezone(tz).date()
    return {
        "recent": Period("recent", now - timedelta(minutes=cfg.recent_min), now),
        "today": Period("today", day_start(today, tz), now),
        "7d": Period("7d", day_start(today - timedelta(days=DAYS - 1), tz), now),
    }


def day_start(d: date, tz: ZoneInfo) -> datetime:
    """Local midnight of d."""
    return datetime.combine(d, dtime(0), tzinfo=tz)


@dataclass
class Area:
    """Accumulator for one summary: period totals, reporting cameras, expected cameras, and the
    cameras behind it (the correction combines them camera by camera)."""

    totals: dict[str, Totals] = field(default_factory=lambda: {p: Totals() for p in PERIODS})
    reporting: int = 0
    expected: int = 0
    members: list[CamKey] = field(default_factory=list)

    def add(self, other: Area) -> None:
        """Accumulate other (a camera, say) into self."""
        for p in PERIODS:
            self.totals[p].add(other.totals[p])
        self.reporting += other.reporting
        self.expected += other.expected
        self.members.extend(other.members)


@dataclass(frozen=True, slots=True)
class Summary:
    """One retained summary message: its level, key (area code or agent/camera) and payload."""

    level: str
    key: str
    payload: dict[str, Any]

    def topic(self, prefix: str) -> str:
        """The retained topic it is published on."""
        return summary_topic(self.level, self.key, prefix)  # type: ignore[arg-type]


class Summarizer:
    """Computes every summary from the database at a given time; caches closed days."""

    def __init__(
        self,
        engine: Engine,
        cfg: SummariesSection,
        areas: Areas,
        cameras: CameraRegistry,
        *,
        clock: Callable[[], float] = time.monotonic,
        rules: Rules | None = None,
    ) -> None:
        self.engine, self.cfg, self.areas, self.cameras = engine, cfg, areas, cameras
        self.rules = rules or DEFAULT_RULES  # PPKM bounds, bed report age, low mask stock
        self._kecamatan_of = {code: k.kecamatan_code for code, k in areas.kelurahan.items()}
        self.tz = ZoneInfo(cfg.timezone)
        self._clock = clock
        self._buckets: dict[tuple[datetime, datetime], tuple[float, Rows]] = {}
        self.last_pass_s = 0.0

    def _rows(self, conn: Connection, start: datetime, end: datetime) -> Rows:
        return camera_rows(conn, start, end,
                           include_unsuitable=self.cfg.include_unsuitable_cameras)  # fmt: skip

    def _cached(self, conn: Connection, spans: list[tuple[datetime, datetime, float]]) -> Rows:
        """Rows of closed (start, end, refresh_s) buckets: missing ones computed, some refreshed."""
        old, self._buckets = self._buckets, {}
        now = self._clock()
        # Least recently computed first; among equals the newest bucket (late data lands there).
        stale = sorted((old[(a, b)][0], -a.timestamp(), a, b) for a, b, ttl in spans
                       if (a, b) in old and now - old[(a, b)][0] >= ttl)  # fmt: skip
        due = {(a, b) for *_, a, b in stale[:REFRESH_PER_PASS]}
        for a, b, _ttl in spans:
            if (a, b) in old and (a, b) not in due:
                self._buckets[(a, b)] = old[(a, b)]
            else:
                self._buckets[(a, b)] = (now, self._rows(conn, a, b))
        return merge(self._buckets[(a, b)][1] for a, b, _ in spans)

    def fetch(self, now: datetime) -> Fetched:
        """Per-camera rows of each period and the civic figures of the local day."""
        per = periods(now, self.cfg)
        midnight = per["today"].start.astimezone(UTC)
        n_hours = (now - midnight) // timedelta(hours=1)
        hour = midnight + timedelta(hours=n_hours)
        hours = [(midnight + timedelta(hours=h), midnight + timedelta(hours=h + 1), HOUR_REFRESH_S)
                 for h in range(n_hours)]  # fmt: skip
        today = per["today"].start.date()
        days = [(day_start(d, self.tz), day_start(d + timedelta(days=1), self.tz), DAY_REFRESH_S)
                for d in (today - timedelta(days=i) for i in range(1, DAYS))]  # fmt: skip
        until = now + timedelta(seconds=FUTURE_TOLERANCE_S)
        with self.engine.connect() as conn:
            recent = self._rows(conn, per["recent"].start, until)
            closed = self._cached(conn, hours + days)
            current = self._rows(conn, hour, until)
            # Civic figures of the local day (small tables: read every pass).
            civic = area_civic(conn, now.astimezone(self.tz).date(), self._kecamatan_of,
                               self.rules)  # fmt: skip
            calibration = read_calibrations(conn)
        today_rows = merge([current, *(self._buckets[(a, b)][1] for a, b, _ in hours)])
        rows = {"recent": recent, "today": today_rows, "7d": merge([current, closed])}
        return Fetched(rows, civic, calibration)

    def compute(self, now: datetime | None = None) -> list[Summary]:
        """Every summary (city, kecamatan, kelurahan, camera) as of now."""
        t0 = time.perf_counter()
        now = now or datetime.now(UTC)
        fetched = self.fetch(now)
        out = self.build(now, fetched.rows, fetched.civic, fetched.calibration)
        self.last_pass_s = time.perf_counter() - t0
        return out

    def camera_area(self, key: CamKey, reported: Reported) -> str:
        """A camera's kelurahan: the registry's, else the latest one its counts reported."""
        return self.cameras.camera_kelurahan(*key) or reported[key][0]

    def _cameras(
        self, now: datetime, rows: dict[str, Rows]
    ) -> tuple[dict[CamKey, Area], Reported, dict[CamKey, set[str]]]:
        """Per camera: its totals, the kelurahan its counts reported (latest, and all)."""
        cams: dict[CamKey, Area] = {k: Area(expected=int(e.expected))
                                    for k, e in self.cameras.cameras.items()}  # fmt: skip
        reported: Reported = {}
        codes: dict[CamKey, set[str]] = {}
        for name in PERIODS:
            for (agent, camera, kel), t in rows[name].items():
                key = (agent, camera)
                cams.setdefault(key, Area()).totals[name].add(t)
                codes.setdefault(key, set()).add(kel)
                prev = reported.get(key)
                if prev is None or (t.newest_end and (prev[1] is None or t.newest_end > prev[1])):
                    reported[key] = (kel, t.newest_end)
        stale_before = now - timedelta(seconds=self.cfg.stale_after_s)
        for key, a in cams.items():
            a.members = [key]
            newest = a.totals["7d"].newest_end
            a.reporting = int(newest is not None and newest > stale_before)
        return cams, reported, codes

    def build(
        self,
        now: datetime,
        rows: dict[str, Rows],
        civic: AreaCivic,
        calibration: dict[CamKey, CameraCalibration] | None = None,
    ) -> list[Summary]:
        """Roll per-camera rows up to cameras, kelurahan, kecamatan and the city; area payloads
        carry their civic figures; calibrated cameras' figures are corrected."""
        cams, reported, codes = self._cameras(now, rows)
        calibration = calibration or {}
        corr = {p: Correction({
            k: CameraCalls(a.totals[p].masked, a.totals[p].unmasked,
                           cal.confusion if (cal := calibration.get(k)) else None)
            for k, a in cams.items()}) for p in PERIODS}  # fmt: skip
        kel_areas = {code: Area() for code in self.areas.kelurahan}
        kec_areas = {code: Area() for code in self.areas.kecamatan}
        city = Area()
        head = self._head(now)
        summary = partial(self._summary, head, corr)
        out: list[Summary] = []
        for key, a in sorted(cams.items()):
            kel = self.camera_area(key, reported)
            kk = self.areas.kelurahan.get(kel)
            for target in [city] + ([kel_areas[kel], kec_areas[kk.kecamatan_code]] if kk else []):
                target.add(a)
            entry = self.cameras.cameras.get(key)
            extra = {
                "agent_id": key[0], "camera_id": key[1], "kelurahan_code": kel,
                "kecamatan_code": kk.kecamatan_code if kk else None,
                "registered": entry is not None,
                "kelurahan_mismatch": entry is not None and bool(codes.get(key, set()) - {kel}),
                "suitable": a.totals["7d"].suitable,  # the newest window's verdict on the view
                "calibration_version": cal.version if (cal := calibration.get(key)) else None,
            }  # fmt: skip
            name = entry.name if entry else None
            out.append(summary("camera", f"{key[0]}/{key[1]}", name, now, a, extra))
        for code, k in sorted(self.areas.kelurahan.items()):
            extra = {"kecamatan_code": k.kecamatan_code, **_civic_of(civic, "kelurahan", code)}
            out.append(summary("kelurahan", code, k.name, now, kel_areas[code], extra))
        for code, kc in sorted(self.areas.kecamatan.items()):
            extra = _civic_of(civic, "kecamatan", code)
            out.append(summary("kecamatan", code, kc.name, now, kec_areas[code], extra))
        kota = self.areas.kota_code, self.areas.kota_name
        out.append(summary("city", *kota, now, city, _civic_of(civic, "city", "")))
        return out

    def _head(self, now: datetime) -> dict[str, Any]:
        """What every payload of one pass shares (formatted once: a city has 10,000 cameras)."""
        per = periods(now, self.cfg)
        return {
            "computed_at": now.astimezone(self.tz).isoformat(),
            "timezone": self.cfg.timezone,
            "min_people_for_ratio": self.cfg.min_people_for_ratio,
            "include_unsuitable_cameras": self.cfg.include_unsuitable_cameras,
            "periods": {p: (per[p].start.astimezone(self.tz).isoformat(),
                            per[p].end.astimezone(self.tz).isoformat()) for p in PERIODS},
        }  # fmt: skip

    def _summary(
        self,
        head: dict[str, Any],
        corr: dict[str, Correction],
        level: str,
        code: str,
        name: str | None,
        now: datetime,
        a: Area,
        extra: dict[str, Any],
    ) -> Summary:
        newest = a.totals["7d"].newest_end
        payload: dict[str, Any] = {
            "schema": SUMMARY_SCHEMA,
            "level": level,
            "code": code,
            "name": name,
            **extra,
            **head,
            "periods": {
                p: self._period(head["periods"][p], a.totals[p], corr[p].of(a.members))
                for p in PERIODS
            },
            "cameras": {"expected": a.expected, "reporting": a.reporting},
            "freshness": {
                "newest_window_end": newest.astimezone(self.tz).isoformat() if newest else None,
                "age_s": round(max(0.0, (now - newest).total_seconds()), 1) if newest else None,
                "stale_after_s": self.cfg.stale_after_s,
            },
        }
        return Summary(level, "" if level == "city" else code, payload)

    def _period(
        self, span: tuple[str, str], t: Totals, corrected: Corrected | None
    ) -> dict[str, Any]:
        minimum = self.cfg.min_people_for_ratio
        return {
            "from": span[0],
            "to": span[1],
            "windows": t.windows,
            "people_seen": t.people_seen,
            "masked": t.masked,
            "unmasked": t.unmasked,
            "judged": t.judged,
            "not_judged": t.not_judged,
            "unsuitable_people": t.unsuitable_people,
            "compliance": compliance(t, minimum),
            "interval": interval(t.masked, t.judged),
            "corrected": corrected and corrected.payload(min_people=minimum, judged=t.judged),
        }


def _civic_of(civic: AreaCivic, level: str, code: str) -> dict[str, Any]:
    """{"civic": figures} of one area (see central/civic/figures.py), or {} without figures."""
    figs = civic.get((level, code))
    return {} if figs is None else {"civic": figs}


class SummaryBoard:
    """The latest pass's summaries, written by the summary loop and read by the API."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_key: dict[tuple[str, str], Summary] = {}
        self.computed_at: datetime | None = None
        self.computed_mono: float | None = None
        self.passes = 0
        self.failures = 0
        self.published = 0
        self.last_pass_s = 0.0

    def update(self, summaries: list[Summary], *, computed_at: datetime, pass_s: float) -> None:
        """Replace the board with one pass's results."""
        by_key = {(s.level, s.key): s for s in summaries}
        with self._lock:
            self._by_key = by_key
            self.computed_at, self.computed_mono = computed_at, time.monotonic()
            self.passes += 1
            self.last_pass_s = pass_s

    def get(self, level: str, key: str = "") -> Summary | None:
        """One summary, or None."""
        with self._lock:
            return self._by_key.get((level, key))

    def of_level(self, level: str) -> list[Summary]:
        """Every summary of one level, by key."""
        with self._lock:
            return sorted((s for s in self._by_key.values() if s.level == level),
                          key=lambda s: s.key)  # fmt: skip

    def age_s(self) -> float | None:
        """Seconds since the last pass, or None before the first."""
        m = self.computed_mono
        return None if m is None else time.monotonic() - m
