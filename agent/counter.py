"""Wall-clock-aligned count windows: people seen (masked / unmasked / not judged), occupancy.

Rules:
- A window is [start, end) aligned on the epoch (`siaga.wire.window_bounds`): 10:00:00-10:01:00.
- A finished, confirmed track is one person, counted in the window holding its last-seen time.
- Occupancy is sampled on inferred frames only: mean and max of the active confirmed tracks.
- `close_due(now)` returns, in order, every window whose end <= now - grace_s, from the window of
  the first event ever seen; a window without any frame is still returned (zeros show an outage).
  `close_all(now)` (shutdown) also returns the current, partial window.
- An event for a window that was already returned goes into the earliest open window: a
  published window is never reopened, and no count is lost.

Clock jumps (the box's wall clock stepped by NTP, e.g. at boot without a real-time clock):
- Forward by more than `max_catchup_s`: windows holding data are returned, the empty windows
  of the jump are skipped (not thousands of zero messages) and counted in `skipped_windows`.
  Smaller gaps are returned as zero windows, which is right for a stalled process.
- Backward by more than one window (now is before the earliest open window's start): the open
  windows holding data are returned at once, as they stand, and counting restarts at the new
  time; windows may then repeat start times already published (each is a new message with its
  own seq, and the people in it are different people). Counted in `clock_jumps`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from siaga.timeutil import require_aware
from siaga.wire import window_bounds

DEFAULT_MAX_CATCHUP_S = 3600.0


@dataclass(frozen=True)
class Window:
    """One closed count window of one camera."""

    start: datetime
    end: datetime
    people_seen: int = 0
    masked: int = 0
    unmasked: int = 0
    occupancy_mean: float = 0.0
    occupancy_max: int = 0
    frames_processed: int = 0
    frames_inferred: int = 0
    not_judged: int = 0  # people whose mask state could not be judged (agent/judge.py)
    suitable: bool | None = None  # the camera's suitability when the window was handed on


@dataclass
class _Acc:
    masked: int = 0
    unmasked: int = 0
    not_judged: int = 0
    occupancy_sum: int = 0
    occupancy_max: int = 0
    frames_processed: int = 0
    frames_inferred: int = 0

    def window(self, start: datetime, end: datetime) -> Window:
        mean = self.occupancy_sum / self.frames_inferred if self.frames_inferred else 0.0
        return Window(
            start=start,
            end=end,
            people_seen=self.masked + self.unmasked + self.not_judged,
            masked=self.masked,
            unmasked=self.unmasked,
            not_judged=self.not_judged,
            occupancy_mean=mean,
            occupancy_max=self.occupancy_max,
            frames_processed=self.frames_processed,
            frames_inferred=self.frames_inferred,
        )


class WindowCounter:
    """Accumulates frames and people into wall-clock windows and closes them when due."""

    def __init__(
        self,
        window_s: int,
        *,
        grace_s: float = 0.0,
        max_catchup_s: float = DEFAULT_MAX_CATCHUP_S,
    ) -> None:
        if window_s <= 0:
            raise ValueError("window_s must be positive")
        self.window_s = window_s
        # Pass grace_s >= the tracker's max_age_s: a track finishes that long after it was
        # last seen, and its window should still be open then.
        self.grace_s = grace_s
        self.max_catchup_s = max_catchup_s
        self.skipped_windows = 0
        self.clock_jumps = 0
        self._open: dict[int, _Acc] = {}  # window start (epoch seconds) → accumulator
        self._next: int | None = None  # start of the earliest window not yet returned
        self._tz: tzinfo | None = None

    def frame(self, t: datetime, *, inferred: bool, occupancy: int = 0) -> None:
        """Record one processed frame; occupancy counts only on inferred frames."""
        acc = self._acc(t)
        acc.frames_processed += 1
        if inferred:
            acc.frames_inferred += 1
            acc.occupancy_sum += occupancy
            acc.occupancy_max = max(acc.occupancy_max, occupancy)

    def person(self, t: datetime, *, masked: bool | None) -> None:
        """Record one finished confirmed track, at its last-seen time; masked None: not judged."""
        acc = self._acc(t)
        if masked is None:
            acc.not_judged += 1
        elif masked:
            acc.masked += 1
        else:
            acc.unmasked += 1

    def close_due(self, now: datetime) -> list[Window]:
        """Every window whose end <= now - grace_s, in order, zeros where nothing was seen."""
        if self._next is None:
            return []
        cutoff = require_aware(now, "counter times").timestamp() - self.grace_s
        if cutoff < self._next - self.window_s:
            return self._restart(cutoff)
        last_start = self._start_of(cutoff) - self.window_s  # the last window ended by cutoff
        if last_start < self._next:
            return []
        if last_start - self._next >= self.max_catchup_s:
            out = self._take([s for s in sorted(self._open) if s <= last_start])
            self.skipped_windows += (last_start - self._next) // self.window_s + 1 - len(out)
        else:
            out = self._take(range(self._next, last_start + 1, self.window_s))
        self._next = last_start + self.window_s
        return out

    def close_all(self, now: datetime) -> list[Window]:
        """At shutdown: the due windows, then the current partial one and any later with data."""
        out = self.close_due(now)
        if self._next is None:
            return out
        last = max([self._start_of(require_aware(now, "counter times").timestamp()), *self._open])
        out += self._take(range(self._next, last + 1, self.window_s))
        self._next = last + self.window_s
        return out

    def _acc(self, t: datetime) -> _Acc:
        epoch = require_aware(t, "counter times").timestamp()
        if self._tz is None:
            self._tz = t.tzinfo
        start = self._start_of(epoch)
        if self._next is None:
            self._next = start
        # A window already returned is never reopened: late events join the earliest open one.
        return self._open.setdefault(max(start, self._next), _Acc())

    def _start_of(self, epoch: float) -> int:
        start, _ = window_bounds(datetime.fromtimestamp(epoch, self._tz), self.window_s)
        return round(start.timestamp())

    def _take(self, starts: range | list[int]) -> list[Window]:
        out = []
        for s in starts:
            acc = self._open.pop(s, _Acc())
            start = datetime.fromtimestamp(s, self._tz)
            out.append(acc.window(start, start + timedelta(seconds=self.window_s)))
        return out

    def _restart(self, cutoff: float) -> list[Window]:
        # The clock went back by more than a window: hand over what was counted, start afresh.
        self.clock_jumps += 1
        out = self._take(sorted(self._open))
        self._next = self._start_of(cutoff)
        return out
