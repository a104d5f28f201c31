"""The summaries' per-camera sums: one GROUP BY per period bucket over the counts table.

Split from central/summaries.py (which rolls these up to areas and builds the payloads). What
counts towards compliance is central/judged.py's: masked and unmasked here are those of the
windows that count, people_seen that of every window.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, func, select

from central import judged
from central.store import schema
from siaga.timeutil import aware, utc


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    return a if b is None or (a is not None and a >= b) else b


@dataclass(slots=True)
class Totals:
    """Sums over count windows (masked/unmasked: of the windows that count, central/judged.py).

    unsuitable_people: people seen in windows marked suitable = false. newest_suitable_end /
    newest_unsuitable_end: the newest end of a window marked true / false, for `suitable`.
    """

    people_seen: int = 0
    masked: int = 0
    unmasked: int = 0
    windows: int = 0
    newest_end: datetime | None = None
    unsuitable_people: int = 0
    newest_suitable_end: datetime | None = None
    newest_unsuitable_end: datetime | None = None

    @property
    def judged(self) -> int:
        """People whose mask state counts towards compliance."""
        return self.masked + self.unmasked

    @property
    def not_judged(self) -> int:
        """People seen but not judged (or judged by a camera left out of compliance)."""
        return self.people_seen - self.judged

    @property
    def suitable(self) -> bool | None:
        """The newest window's flag (true / false / None: not assessed, or no window)."""
        return judged.newest_flag(self.newest_end, self.newest_suitable_end,
                                  self.newest_unsuitable_end)  # fmt: skip

    def add(self, other: Totals) -> None:
        """Accumulate other into self."""
        self.people_seen += other.people_seen
        self.masked += other.masked
        self.unmasked += other.unmasked
        self.windows += other.windows
        self.unsuitable_people += other.unsuitable_people
        self.newest_end = _later(self.newest_end, other.newest_end)
        self.newest_suitable_end = _later(self.newest_suitable_end, other.newest_suitable_end)
        self.newest_unsuitable_end = _later(self.newest_unsuitable_end,
                                            other.newest_unsuitable_end)  # fmt: skip


# (agent_id, camera_id, reported kelurahan) -> totals
Rows = dict[tuple[str, str, str], Totals]


def camera_rows(conn: Connection, start: datetime, end: datetime, *,
                include_unsuitable: bool = False) -> Rows:  # fmt: skip
    """Per (agent, camera, kelurahan) sums of windows with start < window_end <= end."""
    c = schema.counts.c
    q = (
        select(
            c.agent_id, c.camera_id, c.kelurahan_code,
            *judged.sums(c, include_unsuitable=include_unsuitable),
            func.count(), func.max(c.window_end), *judged.newest_ends(c),
        )
        .where(c.window_end > utc(start), c.window_end <= utc(end))
        .group_by(c.agent_id, c.camera_id, c.kelurahan_code)
    )  # fmt: skip
    n = judged.as_int
    out: Rows = {}
    for a, cam, kel, p, m, u, bad, w, newest, ok_end, bad_end in conn.execute(q):
        out[(a, cam, kel)] = Totals(n(p), n(m), n(u), int(w), aware(newest), n(bad),
                                    aware(ok_end), aware(bad_end))  # fmt: skip
    return out


def merge(parts: Iterable[Rows]) -> Rows:
    """Sum several row sets key by key."""
    out: Rows = {}
    for part in parts:
        for key, t in part.items():
            out.setdefault(key, Totals()).add(t)
    return out


def compliance(t: Totals, min_people: int) -> float | None:
    """masked / judged, or None below min_people people judged (central/judged.py)."""
    return judged.compliance(t.masked, t.unmasked, min_people)
