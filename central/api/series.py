"""GET /series/{level}/{code}?span=today|14d (and /series/city): an area's counts over time.

For the dashboard's area panel plots: today in 10-minute bins up to the current one, or the
last 14 local days (today last), each bin with people seen, masked, unmasked, judged and
compliance, counted as everywhere else (central/judged.py: masked/unmasked only of windows that
count towards compliance; compliance None below min_people_for_ratio people *judged*). Bins are
half-open (from, to] on window_end like the summaries' periods, so today's bins add up to the
`today` period. Windows count in the kelurahan their counts reported, as in the daily report
and the open data. Public: the aggregates the open data publishes. The time zone, minimum and
unsuitable-camera switch are the summaries' (read from the latest city summary).

Bounded cost: one GROUP BY kelurahan_code per bin over the window_end index; closed bins and
days are cached per kelurahan (a kecamatan or the city is a sum in Python) and a few stale ones
are recomputed per call (late data from a box that was offline shows up within the refresh
time); the open bin is recomputed at most every OPEN_TTL_S whatever the number of viewers.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from typing import Annotated, Any, Final, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Query
from sqlalchemy import Connection, Engine, select

from central import judged
from central.contract.series import Series
from central.store import schema
from central.summaries import SummaryBoard

BIN_S: Final = 600
DAYS: Final = 14
BIN_REFRESH_S: Final = 900.0  # a closed bin of today is recomputed after this long
DAY_REFRESH_S: Final = 3600.0  # a closed day
OPEN_TTL_S: Final = 15.0  # the current bin, whoever asks
REFRESH_PER_CALL: Final = 3
Span = Literal["today", "14d"]
SpanQuery = Annotated[Span, Query(description="today: 10-minute bins; 14d: daily")]
Bucket = tuple[datetime, datetime]  # (start, end] in UTC


@dataclass(slots=True)
class Sums:
    """people_seen, and masked / unmasked of the windows that count (central/judged.py)."""

    people_seen: int = 0
    masked: int = 0
    unmasked: int = 0

    def add(self, o: Sums) -> None:
        self.people_seen += o.people_seen
        self.masked += o.masked
        self.unmasked += o.unmasked


ByKelurahan = dict[str, Sums]


def kelurahan_sums(conn: Connection, a: datetime, b: datetime, *,
                   include_unsuitable: bool) -> ByKelurahan:  # fmt: skip
    """Sums per reported kelurahan of the windows ending in (a, b]."""
    c = schema.counts.c
    seen, masked, unmasked, _ = judged.sums(c, include_unsuitable=include_unsuitable)
    q = (select(c.kelurahan_code, seen, masked, unmasked)
         .where(c.window_end > a, c.window_end <= b).group_by(c.kelurahan_code))  # fmt: skip
    return {k: Sums(judged.as_int(p), judged.as_int(m), judged.as_int(u))
            for k, p, m, u in conn.execute(q)}  # fmt: skip


def today_bins(now: datetime, tz: ZoneInfo) -> list[Bucket]:
    """Today's 10-minute bins (local day), from midnight up to the one holding now."""
    midnight = datetime.combine(now.astimezone(tz).date(), dtime(0), tzinfo=tz).astimezone(UTC)
    n = int((now - midnight).total_seconds() // BIN_S) + 1
    step = timedelta(seconds=BIN_S)
    return [(midnight + i * step, midnight + (i + 1) * step) for i in range(n)]


def past_days(now: datetime, tz: ZoneInfo, n: int = DAYS - 1) -> list[Bucket]:
    """The n local days before today, oldest first (DST-safe: local midnights)."""
    today = now.astimezone(tz).date()

    def start(i: int) -> datetime:
        return datetime.combine(today - timedelta(days=i), dtime(0), tzinfo=tz).astimezone(UTC)

    return [(start(i), start(i - 1)) for i in range(n, 0, -1)]


class SeriesCache:
    """Per-kelurahan sums of bins and days: closed ones kept and refreshed a few per call."""

    def __init__(self, engine: Engine, clock: Callable[[], float] = time.monotonic) -> None:
        self.engine, self._clock = engine, clock
        self._lock = threading.Lock()
        self._kept: dict[str, dict[Bucket, tuple[float, ByKelurahan]]] = {"bins": {}, "days": {}}

    def sums(self, kind: str, spans: list[Bucket], now: datetime, *, include_unsuitable: bool,
             ttl_s: float) -> list[ByKelurahan]:  # fmt: skip
        """Each span's sums; a span ending after now is open (recomputed after OPEN_TTL_S)."""
        with self._lock, self.engine.connect() as conn:
            old, t = self._kept[kind], self._clock()
            new: dict[Bucket, tuple[float, ByKelurahan]] = {}
            stale = sorted((old[s][0], s) for s in spans if s in old
                           and t - old[s][0] >= (ttl_s if s[1] <= now else OPEN_TTL_S))  # fmt: skip
            due = {s for _, s in stale[:REFRESH_PER_CALL]} | {s for _, s in stale if s[1] > now}
            for s in spans:
                if s in old and s not in due:
                    new[s] = old[s]
                else:
                    new[s] = (t, kelurahan_sums(conn, *s, include_unsuitable=include_unsuitable))
            self._kept[kind] = new  # buckets no longer asked for (yesterday's bins) go
            return [new[s][1] for s in spans]


def total(by_kel: ByKelurahan, codes: frozenset[str] | None) -> Sums:
    """The sums over codes (None: every kelurahan, known or not: the city)."""
    out = Sums()
    for code, s in by_kel.items():
        if codes is None or code in codes:
            out.add(s)
    return out


def point(a: datetime, b: datetime, s: Sums, tz: ZoneInfo, min_people: int) -> dict[str, Any]:
    """One bin of the answer."""
    return {"from": a.astimezone(tz).isoformat(), "to": b.astimezone(tz).isoformat(),
            "people_seen": s.people_seen, "masked": s.masked, "unmasked": s.unmasked,
            "judged": s.masked + s.unmasked,
            "compliance": judged.compliance(s.masked, s.unmasked, min_people)}  # fmt: skip


def _sum_all(parts: Iterable[ByKelurahan]) -> ByKelurahan:
    out: ByKelurahan = {}
    for part in parts:
        for code, s in part.items():
            out.setdefault(code, Sums()).add(s)
    return out


def _utcnow() -> datetime:
    return datetime.now(UTC)


def series_router(engine: Engine, board: SummaryBoard, *,
                  now: Callable[[], datetime] = _utcnow) -> APIRouter:  # fmt: skip
    """GET /series/city and /series/{kecamatan|kelurahan}/{code} (public)."""
    router = APIRouter()
    cache = SeriesCache(engine)

    def area(level: str, code: str) -> tuple[str, str | None, frozenset[str] | None]:
        if level == "city":
            city = board.get("city")
            return (city.payload["code"], city.payload["name"], None) if city else ("", None, None)
        kl, kc = schema.kelurahan.c, schema.kecamatan.c
        with engine.connect() as conn:
            if level == "kelurahan":
                name = conn.execute(select(kl.name).where(kl.code == code)).scalar()
                members = frozenset({code})
            else:
                name = conn.execute(select(kc.name).where(kc.code == code)).scalar()
                members = frozenset(conn.execute(select(kl.code).where(kl.kecamatan_code == code))
                                    .scalars())  # fmt: skip
        if name is None:
            raise HTTPException(404, f"no {level} {code!r} in the area registry")
        return code, name, members

    def answer(level: str, code: str, span: Span) -> dict[str, Any]:
        city = board.get("city")
        if city is None:
            raise HTTPException(503, "no summary computed yet; retry after the first pass")
        head = city.payload
        tz, min_people = ZoneInfo(head["timezone"]), head["min_people_for_ratio"]
        unsuitable = head["include_unsuitable_cameras"]
        code, name, members = area(level, code)
        t = now()
        bins = today_bins(t, tz)
        by_bin = cache.sums("bins", bins, t, include_unsuitable=unsuitable, ttl_s=BIN_REFRESH_S)
        if span == "today":
            spans, parts = bins, by_bin
        else:
            days = past_days(t, tz)
            by_day = cache.sums("days", days, t, include_unsuitable=unsuitable,
                                ttl_s=DAY_REFRESH_S)  # fmt: skip
            today = (bins[0][0], bins[0][0] + timedelta(days=1))  # today: the sum of its bins
            spans, parts = [*days, today], [*by_day, _sum_all(by_bin)]
        return {
            "level": level, "code": code, "name": name, "span": span,
            "bin_s": BIN_S if span == "today" else 86_400, "timezone": head["timezone"],
            "min_people_for_ratio": min_people, "include_unsuitable_cameras": unsuitable,
            "computed_at": t.astimezone(tz).isoformat(),
            "points": [point(a, b, total(p, members), tz, min_people)
                       for (a, b), p in zip(spans, parts, strict=True)],
        }  # fmt: skip

    @router.get("/series/city", response_model=Series,
                summary="The city's counts today (10-minute bins) or over 14 days")  # fmt: skip
    def city_series(span: SpanQuery = "today") -> Any:
        return answer("city", "", span)

    @router.get("/series/{level}/{code}", response_model=Series,
                summary="An area's counts today (10-minute bins) or over 14 days")  # fmt: skip
    def area_series(level: Literal["kecamatan", "kelurahan"], code: str,
                    span: SpanQuery = "today") -> Any:  # fmt: skip
        return answer(level, code, span)

    return router
