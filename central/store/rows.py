"""Central's storage values, and counts rows as each database driver takes them.

The value types (Gap, SeqSummary, Reject, AgentState, Availability, Status) are what the store
returns and takes. `counts_row` turns a validated message into a `counts` row; `sqlite_params`
turns rows into one executemany's parameters and `pg_copy_insert` COPYs them into PostgreSQL,
with as little Python per row as they can: at tens of thousands of rows a second the
conversion cost more than the database's own work.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy.dialects import sqlite

from central.store import schema
from central.store.schema import UtcDateTime
from siaga.timeutil import utc
from siaga.wire import CountsMessage

EXCERPT_BYTES = 256
DETAIL_CHARS = 1000

Row = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Gap:
    """A run of missing seqs of one agent's epoch, both ends included."""

    agent_id: str
    first_missing: int
    last_missing: int
    epoch: str = ""

    @property
    def size(self) -> int:
        """How many seqs are missing."""
        return self.last_missing - self.first_missing + 1


@dataclass(frozen=True, slots=True)
class SeqSummary:
    """What is stored of one agent's seqs in one epoch: missing counts seqs between first and
    last only."""

    agent_id: str
    first_seq: int
    last_seq: int
    stored: int
    missing: int
    epoch: str = ""


@dataclass(frozen=True, slots=True)
class Reject:
    """One rejected message, as kept in the bounded `rejects` table."""

    received_at: datetime
    topic: str
    reason: str
    detail: str
    payload_excerpt: str | None = None


@dataclass(frozen=True, slots=True)
class AgentState:
    """An agent's row: availability and status as last reported."""

    agent_id: str
    availability: str | None
    availability_at: datetime | None
    status_json: str | None
    status_at: datetime | None
    first_seen: datetime | None
    revoked: bool


@dataclass(frozen=True, slots=True)
class Availability:
    """An `online`/`offline` report of one agent, stamped when central received it.

    since: what orders one agent's reports — the start of the connection it belongs to (the
    wire's AVAILABILITY_SINCE), else the receive time; None: the receive time.
    """

    agent_id: str
    value: str
    at: datetime
    since: datetime | None = None


@dataclass(frozen=True, slots=True)
class Status:
    """A status report of one agent (raw JSON) with the agent's own time."""

    agent_id: str
    status_json: str
    at: datetime


class CountRow(NamedTuple):
    """One `counts` table row, fields in the table's column order (checked below)."""

    agent_id: str
    seq: int
    camera_id: str
    site: str
    kelurahan_code: str
    window_start: datetime
    window_end: datetime
    people_seen: int
    masked: int
    unmasked: int
    occupancy_mean: float
    occupancy_max: int
    frames_processed: int
    frames_inferred: int
    model_name: str
    model_version: str
    model_sha256: str
    calibration_version: str | None
    kelurahan_mismatch: bool
    received_at: datetime
    epoch: str = ""
    suitable: bool | None = None


def counts_row(
    msg: CountsMessage, *, received_at: datetime, kelurahan_mismatch: bool = False
) -> CountRow:
    """The `counts` table row of a validated message (built positionally: the hot path)."""
    m = msg.model
    return CountRow(
        msg.agent_id, msg.seq, msg.camera_id, msg.site, msg.kelurahan_code, msg.window_start,
        msg.window_end, msg.people_seen, msg.masked, msg.unmasked, msg.occupancy_mean,
        msg.occupancy_max, msg.frames_processed, msg.frames_inferred, m.name, m.version,
        m.sha256, msg.calibration_version, kelurahan_mismatch, received_at, msg.epoch or "",
        msg.suitable,
    )  # fmt: skip


def as_count_row(r: Row | CountRow) -> CountRow:
    """r as a CountRow (a mapping needs every column but kelurahan_mismatch/calibration_version)."""
    if isinstance(r, CountRow):
        return r
    return CountRow(**{"calibration_version": None, "kelurahan_mismatch": False, **r})


def excerpt(payload: bytes, limit: int = EXCERPT_BYTES) -> str:
    """A printable, storable start of a payload (PostgreSQL text cannot hold NUL)."""
    return payload[:limit].decode("utf-8", "backslashreplace").replace("\x00", "\\x00")


COUNTS_COLUMNS = tuple(c.name for c in schema.counts.columns)
if CountRow._fields != COUNTS_COLUMNS:  # the positional row and the table must agree
    raise RuntimeError(f"CountRow fields {CountRow._fields} differ from counts {COUNTS_COLUMNS}")
COUNTS_TIMES = tuple(c.name for c in schema.counts.columns if isinstance(c.type, UtcDateTime))
_TIME_INDEX = tuple(COUNTS_COLUMNS.index(name) for name in COUNTS_TIMES)
if _TIME_INDEX != (5, 6, 19):  # sqlite_params() formats these three positions
    raise RuntimeError(f"counts time columns moved: {COUNTS_TIMES}")


def clean(s: str, limit: int) -> str:
    """s cut to limit characters, NUL written out (PostgreSQL text cannot hold it)."""
    return s[:limit].replace("\x00", "\\x00")


_PG_STAGE = "counts_in"  # a temporary table per connection, emptied at every commit


def pg_params(rows: Sequence[CountRow]) -> list[tuple[Any, ...]]:
    """pg_copy_insert()'s rows: the rows themselves (tuples in column order), naive times as UTC."""
    out: list[tuple[Any, ...]] = []
    for r in rows:
        if None in (r.window_start.tzinfo, r.window_end.tzinfo, r.received_at.tzinfo):
            r = r._replace(window_start=utc(r.window_start), window_end=utc(r.window_end),
                           received_at=utc(r.received_at))  # fmt: skip
        out.append(r)
    return out


def pg_copy_insert(cursor: Any, params: Sequence[Sequence[Any]]) -> int:
    """COPY rows (pg_params) into a temporary table, then INSERT … ON CONFLICT DO NOTHING.

    Returns the new rows. psycopg formats COPY rows in C, where array parameters (one per
    column for unnest) were dumped element by element in Python. cursor: a psycopg cursor in
    the batch's transaction.
    """
    cols = ", ".join(COUNTS_COLUMNS)
    cursor.execute(f"CREATE TEMP TABLE IF NOT EXISTS {_PG_STAGE} "
                   "(LIKE counts INCLUDING DEFAULTS) ON COMMIT DELETE ROWS")  # fmt: skip
    with cursor.copy(f"COPY {_PG_STAGE} ({cols}) FROM STDIN") as copy:
        write = copy.write_row
        for values in params:
            write(values)
    cursor.execute(f"INSERT INTO counts ({cols}) SELECT {cols} FROM {_PG_STAGE} "
                   "ON CONFLICT (agent_id, epoch, seq) DO NOTHING")  # fmt: skip
    return int(cursor.rowcount)


@functools.cache
def sqlite_insert() -> str:
    """The dialect's INSERT … ON CONFLICT DO NOTHING, positional "?" in column order."""
    stmt = sqlite.insert(schema.counts).on_conflict_do_nothing(
        index_elements=["agent_id", "epoch", "seq"]
    )
    return str(stmt.compile(dialect=sqlite.dialect()))


def sqlite_time(t: datetime) -> str:
    """Exactly how SQLAlchemy's SQLite DateTime stores t (UTC), so comparisons stay textual."""
    return utc(t).replace(tzinfo=None).isoformat(" ", "microseconds")


def sqlite_params(rows: Sequence[CountRow]) -> list[list[Any]]:
    """sqlite_insert()'s parameters: one list per row in column order, times as text.

    A batch's rows share few distinct times (windows are aligned, received_at is per read), so
    each is formatted once per batch.
    """
    texts: dict[datetime, str] = {}
    out = []
    for r in rows:
        a, b, c = r[5], r[6], r[19]
        values = list(r)
        values[5] = texts.get(a) or texts.setdefault(a, sqlite_time(a))
        values[6] = texts.get(b) or texts.setdefault(b, sqlite_time(b))
        values[19] = texts.get(c) or texts.setdefault(c, sqlite_time(c))
        out.append(values)
    return out
