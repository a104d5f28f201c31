"""Central's storage values, and counts rows as each database driver takes them.

The value types (Gap, SeqSummary, Reject, AgentState, Availability, Status) are what the store
returns and takes. `counts_row` turns a validated message into a `counts` row; `sqlite_params`
turns rows into one executemany's parameters and `pg_copy_insert` COPYs them into PostgreSQL,
with as little Python per row as they can: at tens of thousands of rows a second the
conversion cost more than the database's own work.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.dialects import sqlite

from central import schema
from central.schema import UtcDateTime
from siaga.wire import CountsMessage

EXCERPT_BYTES = 256
DETAIL_CHARS = 1000

Row = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Gap:
    """A run of missing seqs of one agent, both ends included."""

    agent_id: str
    first_missing: int
    last_missing: int

    @property
    def size(self) -> int:
        """How many seqs are missing."""
        return self.last_missing - self.first_missing + 1


@dataclass(frozen=True, slots=True)
class SeqSummary:
    """What is stored of one agent's seqs: missing counts seqs between first and last only."""

    agent_id: str
    first_seq: int
    last_seq: int
    stored: int
    missing: int


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
    """An `online`/`offline` report of one agent, stamped when central received it."""

    agent_id: str
    value: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Status:
    """A status report of one agent (raw JSON) with the agent's own time."""

    agent_id: str
    status_json: str
    at: datetime


def counts_row(
    msg: CountsMessage, *, received_at: datetime, kelurahan_mismatch: bool = False
) -> dict[str, Any]:
    """The `counts` table row of a validated message."""
    return {
        "agent_id": msg.agent_id, "seq": msg.seq, "camera_id": msg.camera_id, "site": msg.site,
        "kelurahan_code": msg.kelurahan_code, "window_start": msg.window_start,
        "window_end": msg.window_end, "people_seen": msg.people_seen, "masked": msg.masked,
        "unmasked": msg.unmasked, "occupancy_mean": msg.occupancy_mean,
        "occupancy_max": msg.occupancy_max, "frames_processed": msg.frames_processed,
        "frames_inferred": msg.frames_inferred, "model_name": msg.model.name,
        "model_version": msg.model.version, "model_sha256": msg.model.sha256,
        "calibration_version": msg.calibration_version,
        "kelurahan_mismatch": kelurahan_mismatch, "received_at": received_at,
    }  # fmt: skip


def excerpt(payload: bytes, limit: int = EXCERPT_BYTES) -> str:
    """A printable, storable start of a payload (PostgreSQL text cannot hold NUL)."""
    return payload[:limit].decode("utf-8", "backslashreplace").replace("\x00", "\\x00")


COUNTS_COLUMNS = tuple(c.name for c in schema.counts.columns)
COUNTS_TIMES = tuple(c.name for c in schema.counts.columns if isinstance(c.type, UtcDateTime))
_TIME_INDEX = tuple(COUNTS_COLUMNS.index(name) for name in COUNTS_TIMES)
_IN_COLUMN_ORDER = operator.itemgetter(*COUNTS_COLUMNS)


def utc(t: datetime) -> datetime:
    """t in UTC (a naive t is taken as UTC)."""
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def clean(s: str, limit: int) -> str:
    """s cut to limit characters, NUL written out (PostgreSQL text cannot hold it)."""
    return s[:limit].replace("\x00", "\\x00")


_PG_STAGE = "counts_in"  # a temporary table per connection, emptied at every commit


def pg_params(rows: Sequence[Row]) -> list[tuple[Any, ...]]:
    """pg_copy_insert()'s rows: one tuple per row in column order (naive times taken as UTC)."""
    out = []
    for r in rows:
        values = _IN_COLUMN_ORDER(r)
        if any(values[i].tzinfo is None for i in _TIME_INDEX):
            values = tuple(utc(v) if i in _TIME_INDEX else v for i, v in enumerate(values))
        out.append(values)
    return out


def pg_copy_insert(cursor: Any, params: Sequence[tuple[Any, ...]]) -> int:
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
                   "ON CONFLICT (agent_id, seq) DO NOTHING")  # fmt: skip
    return int(cursor.rowcount)


@functools.cache
def sqlite_insert() -> str:
    """The dialect's INSERT … ON CONFLICT DO NOTHING, positional "?" in column order."""
    stmt = sqlite.insert(schema.counts).on_conflict_do_nothing(index_elements=["agent_id", "seq"])
    return str(stmt.compile(dialect=sqlite.dialect()))


def sqlite_time(t: datetime) -> str:
    """Exactly how SQLAlchemy's SQLite DateTime stores t (UTC), so comparisons stay textual."""
    return utc(t).replace(tzinfo=None).isoformat(" ", "microseconds")


def sqlite_params(rows: Sequence[Row]) -> list[tuple[Any, ...]]:
    """sqlite_insert()'s parameters: one tuple per row in column order, times as text.

    A batch's rows share few distinct times (windows are aligned, received_at is per read), so
    each is formatted once per batch.
    """
    texts: dict[datetime, str] = {}
    out = []
    for r in rows:
        values = list(_IN_COLUMN_ORDER(r))
        for i in _TIME_INDEX:
            t = values[i]
            s = texts.get(t)
            if s is None:
                s = texts[t] = sqlite_time(t)
            values[i] = s
        out.append(tuple(values))
    return out
