"""Plausibility of count windows on ingest: what one box may claim about one camera.

The wire contract bounds fields only loosely (each count ≤ 10,000,000, years 2000–2099): a box
could publish, on its own allowed topic, one 10-day window of 10,000,000 unmasked people and
make the city's compliance 0.0001. So every window that passed the contract is judged here
against what a camera can physically see and what an agent can have produced.

Quarantined (kept with the reason in `quarantine`, left out of every figure; see
central/store/quarantine.py), the first reason in this order, every problem in the detail:
- future_window: it begins more than max_future_s after central received it (clock skew). Its
  end may be later: an agent that stops emits its current window whole (agent/counter.py).
- too_old: it ended longer than the retention horizon before it was received: retention would
  delete it, the 7-day figures and reports are long closed, and no outbox holds such a backlog.
- window_length: longer than max_window_s, or a length no agent gives: a regular window is one
  of the sizes an agent may configure ([counting] window_s: 5 s up to max_window_s, dividing a
  day); a shorter one is a partial first or last window, so it starts or ends on a boundary of
  a longer size.
- too_many_people: people_seen above max_people_per_minute × the window's minutes.
- unknown_kelurahan: a well-formed code the area registry does not hold. With no registry in
  the database (an empty `kelurahan` table) this check is off: there is nothing to judge by.

Rejected (recorded in `rejects`, never stored: the key itself is not one an agent produced,
and stored it would show as an absurd run of missing windows in /gaps):
- seq_out_of_range: seq above max_seq (2^40: a box of 64 cameras at 5-s windows needs some
  2,700 years to get there).
- seq_jump: more than seq_slack + max_windows_per_s × (seconds since the epoch's newest stored
  window ended) above that window's seq. An honest jump comes from an outbox that dropped its
  oldest windows while offline, and it cannot have produced more than that rate in that time
  (the window end is before the agent made the window, so the allowance errs on the generous
  side). Likewise below it: a late or re-sent window is at most seq_slack + max_windows_per_s ×
  (seconds between the two windows' ends) below. A rejected window is not confirmed: its agent
  sends it again later, when the allowance has grown; nothing is lost to a false alarm.
  What remains: the first window of an epoch has nothing to be judged against but max_seq, and
  the ends are the agent's own clock (bounded by the age horizon), so one box can still make
  its own /gaps read large, never the city's figures.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import CompoundSelect, Engine, select, union_all

from central.config import CentralConfig, PlausibilitySection
from central.store import schema
from siaga.wire import CountsMessage

log = logging.getLogger(__name__)

QUARANTINE_REASONS = ("future_window", "too_old", "window_length", "too_many_people",
                      "unknown_kelurahan")  # fmt: skip
SEQ_REASONS = ("seq_out_of_range", "seq_jump")
DEFAULT_MAX_AGE_DAYS = 400
MIN_WINDOW_S = 5  # agent [counting] window_s lower bound
DAY_S = 86_400
KEYS_PER_QUERY = 100  # SQLite allows 500 terms in one compound SELECT
CACHE_KEYS = 200_000  # (agent, epoch) seq maxima held; a box inventing epochs cannot grow it more
_US = 1_000_000


@dataclass(frozen=True, slots=True)
class Limits:
    """The bounds a window is judged by (PlausibilitySection, resolved)."""

    max_future_s: float = 120.0
    max_age_s: float = DEFAULT_MAX_AGE_DAYS * DAY_S
    max_people_per_minute: int = 600
    max_window_s: int = 3600
    max_seq: int = 2**40
    max_windows_per_s: float = 10.0
    seq_slack: int = 100_000

    @classmethod
    def of(cls, p: PlausibilitySection, retention_days: int | None = None) -> Limits:
        """The section's limits; the age horizon falls back on retention_days, then 400 days."""
        days = p.max_age_days or retention_days or DEFAULT_MAX_AGE_DAYS
        return cls(max_future_s=p.max_future_s, max_age_s=days * DAY_S,
                   max_people_per_minute=p.max_people_per_minute, max_window_s=p.max_window_s,
                   max_seq=p.max_seq, max_windows_per_s=p.max_windows_per_s,
                   seq_slack=p.seq_slack)  # fmt: skip

    def sizes(self) -> tuple[int, ...]:
        """The window lengths an agent may be configured with, shortest first."""
        top = min(self.max_window_s, DAY_S)
        return tuple(w for w in range(MIN_WINDOW_S, top + 1) if DAY_S % w == 0)


class Verdict(NamedTuple):
    """What to do with one window: reject it (a seq reason), quarantine it, or (both None) store
    it."""

    reject: str | None = None
    quarantine: str | None = None
    detail: str = ""


Newest = tuple[int, datetime]  # an epoch's highest stored seq and that window's end


def _us(t: datetime) -> int:
    # Exact to the microsecond (float timestamps of this century carry ~0.25 µs).
    return round(t.timestamp() * _US)


def length_problem(start: datetime, end: datetime, sizes: tuple[int, ...]) -> str | None:
    """Why [start, end) is no window an agent emits (None: it is one)."""
    return _length_problem(_us(start), _us(end), sizes)


def _length_problem(s: int, e: int, sizes: tuple[int, ...]) -> str | None:
    length = e - s
    if length > sizes[-1] * _US:
        return f"{length / _US:g} s long, over the longest window ({sizes[-1]} s)"
    if length % _US == 0 and length // _US in sizes:
        return None
    if any(w * _US > length and (s % (w * _US) == 0 or e % (w * _US) == 0) for w in sizes):
        return None  # a partial window, on a boundary of the size it was cut from
    return (f"{length / _US:g} s long: no window size ({sizes[0]}-{sizes[-1]} s dividing a day) "
            "and no partial window on a boundary of one")  # fmt: skip


def window_problems(
    msg: CountsMessage, received: datetime, limits: Limits,
    kelurahan: Collection[str] = (), sizes: tuple[int, ...] | None = None,
) -> list[tuple[str, str]]:  # fmt: skip
    """Every (reason, detail) that makes the window implausible, in QUARANTINE_REASONS order."""
    out: list[tuple[str, str]] = []
    s, e, r = _us(msg.window_start), _us(msg.window_end), _us(received)
    ahead_s = (s - r) / _US
    if ahead_s > limits.max_future_s:
        out.append(("future_window", f"begins {ahead_s:.0f} s after it was received "
                                     f"(skew allowed: {limits.max_future_s:g} s)"))  # fmt: skip
    age_s = (r - e) / _US
    if age_s > limits.max_age_s:
        out.append(("too_old", f"ended {age_s / DAY_S:.1f} days before it was received "
                               f"(horizon: {limits.max_age_s / DAY_S:g} days)"))  # fmt: skip
    why = _length_problem(s, e, sizes or limits.sizes())
    if why is not None:
        out.append(("window_length", why))
    if msg.people_seen * 60 * _US > limits.max_people_per_minute * (e - s):
        most = limits.max_people_per_minute * (e - s) / (60 * _US)
        out.append(("too_many_people", f"{msg.people_seen} people in {(e - s) / _US:g} s, over "
                                       f"the {most:.0f} one camera can see"))  # fmt: skip
    if kelurahan and msg.kelurahan_code not in kelurahan:
        out.append(("unknown_kelurahan", f"kelurahan {msg.kelurahan_code} is not in the registry"))
    return out


def seq_problem(
    msg: CountsMessage, received: datetime, limits: Limits, newest: Newest | None
) -> tuple[str, str] | None:
    """(reason, detail) when the seq is not one the agent can have produced; None otherwise."""
    if msg.seq > limits.max_seq:
        return "seq_out_of_range", f"seq {msg.seq} is above {limits.max_seq}"
    if newest is None:
        return None
    top, top_end = newest
    rate = limits.max_windows_per_s
    if msg.seq > top:
        elapsed = max(0.0, (received - top_end).total_seconds())
        highest = top + limits.seq_slack + int(rate * elapsed)
        if msg.seq > highest:
            return "seq_jump", (f"seq {msg.seq} is {msg.seq - top} above {_newest(msg, top)}, "
                                f"ended {elapsed:.0f} s before it was received: at most "
                                f"{highest} could have been produced")  # fmt: skip
        return None
    # Below it (a late or re-sent window): by at most what was produced between the two ends.
    earlier = max(0.0, (top_end - msg.window_end).total_seconds())
    lowest = top - limits.seq_slack - int(rate * earlier)
    if msg.seq < lowest:
        return "seq_jump", (f"seq {msg.seq} is {top - msg.seq} below {_newest(msg, top)}, "
                            f"for a window {earlier:.0f} s older: at least {lowest}")  # fmt: skip
    return None


def _newest_query(keys: list[tuple[str, str]]) -> CompoundSelect:
    """Each key's newest stored (agent_id, epoch, seq, window_end): one probe of the primary key
    per key (backwards, LIMIT 1), all in one statement. A GROUP BY max(seq) would read every
    stored row of each epoch on PostgreSQL."""
    c = schema.counts.c
    parts = [select(c.agent_id, c.epoch, c.seq, c.window_end)
             .where(c.agent_id == a, c.epoch == e).order_by(c.seq.desc()).limit(1).subquery()
             for a, e in keys]  # fmt: skip
    return union_all(*(select(p) for p in parts))


def _newest(msg: CountsMessage, top: int) -> str:
    return f"the newest stored{f' in epoch {msg.epoch!r}' if msg.epoch else ''} ({top})"


class Plausibility:
    """Judges windows for the collector: the registry's kelurahan codes (re-read every
    refresh_s) and each epoch's newest stored seq (read once, then followed). Used from the
    collector's one checker thread."""

    def __init__(
        self, limits: Limits, *, engine: Engine | None = None,
        kelurahan: Collection[str] | None = None, refresh_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:  # fmt: skip
        self.limits, self.engine = limits, engine
        self._sizes = limits.sizes()
        self._fixed = kelurahan is not None  # given: never read from the database
        self._kelurahan: frozenset[str] = frozenset(kelurahan or ())
        self._refresh_s, self._clock = refresh_s, clock
        self._read_at: float | None = None
        self._newest: dict[tuple[str, str], Newest | None] = {}

    @classmethod
    def from_config(cls, cfg: CentralConfig, engine: Engine | None) -> Plausibility | None:
        """The collector's judge ([plausibility]); None when the section disables it."""
        p = cfg.plausibility
        if not p.enabled:
            return None
        limits = Limits.of(p, cfg.storage.retention_days)
        return cls(limits, engine=engine, refresh_s=p.registry_refresh_s)

    def prepare(self, msgs: Iterable[CountsMessage]) -> None:
        """Before judging a batch: refresh the registry when due, read the newest stored seq of
        epochs not seen yet. A database failure leaves the checks it feeds as they were."""
        if self.engine is None:
            return
        now = self._clock()
        if not self._fixed and (self._read_at is None or now - self._read_at >= self._refresh_s):
            self._read_at = now
            try:
                with self.engine.connect() as conn:
                    codes = conn.execute(select(schema.kelurahan.c.code)).scalars()
                    self._kelurahan = frozenset(codes)
            except Exception:
                log.exception("reading the kelurahan registry failed; the previous one is used")
        keys = {(m.agent_id, m.epoch or "") for m in msgs} - self._newest.keys()
        if keys:
            self._read_newest(keys)

    def _read_newest(self, keys: set[tuple[str, str]]) -> None:
        if len(self._newest) + len(keys) > CACHE_KEYS:
            self._newest.clear()
        assert self.engine is not None
        todo = sorted(keys)
        try:
            with self.engine.connect() as conn:
                for i in range(0, len(todo), KEYS_PER_QUERY):
                    part = todo[i : i + KEYS_PER_QUERY]
                    rows = conn.execute(_newest_query(part))
                    found = {(a, e): (int(s), t) for a, e, s, t in rows}
                    self._newest.update((k, found.get(k)) for k in part)
        except Exception:
            log.exception("reading the newest stored seqs failed; seq jumps go unchecked")

    def judge(self, msg: CountsMessage, received: datetime) -> Verdict:
        """The verdict on one window received at `received`; a stored one moves its epoch's
        newest seq."""
        key = (msg.agent_id, msg.epoch or "")
        newest = self._newest.get(key)
        seq = seq_problem(msg, received, self.limits, newest)
        if seq is not None:
            return Verdict(reject=seq[0], detail=seq[1])
        found = window_problems(msg, received, self.limits, self._kelurahan, self._sizes)
        if found:
            return Verdict(quarantine=found[0][0], detail="; ".join(d for _r, d in found))
        if newest is None or msg.seq > newest[0]:
            if len(self._newest) >= CACHE_KEYS:
                self._newest.clear()  # read again as needed
            self._newest[key] = (msg.seq, msg.window_end)
        return Verdict()
