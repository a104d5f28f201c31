"""Central's storage: engines, migrations and the collector's writes and seq queries.

SQLite (WAL) is the embedded default, PostgreSQL (psycopg 3) the city's database; every statement
here runs unchanged on both through the dialect's own INSERT … ON CONFLICT. Counts are keyed on
(agent_id, seq), so storing a message twice is a no-op and a missing seq is a visible gap.
Datetimes go in and come out aware (UTC); see `central.schema.UtcDateTime`.
"""

from __future__ import annotations

import functools
import logging
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Table,
    TextClause,
    TypeDecorator,
    create_engine,
    delete,
    event,
    func,
    select,
)
from sqlalchemy import text as sql_text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool

from central import schema
from central.migrations import current_revision as current_revision
from central.migrations import head_revision as head_revision
from central.migrations import migrate as migrate
from central.schema import UtcDateTime
from siaga.wire import CountsMessage

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 30_000
REJECTS_KEEP = 100_000
EXCERPT_BYTES = 256
DETAIL_CHARS = 1000

Row = Mapping[str, Any]


# ---- engines (migrations: central.migrations, re-exported here) ----


def normalise_url(url: str) -> str:
    """The SQLAlchemy URL with PostgreSQL pinned to psycopg 3 (`postgres://` accepted)."""
    for plain in ("postgres://", "postgresql://"):
        if url.startswith(plain):
            return "postgresql+psycopg://" + url[len(plain) :]
    return url


def make_engine(url: str, *, pool_size: int = 5) -> Engine:
    """An engine for a SQLite file (WAL, synchronous=NORMAL, busy timeout) or PostgreSQL."""
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_size=pool_size, max_overflow=2, pool_pre_ping=True,
                             connect_args={"connect_timeout": 10,
                                           "application_name": "siaga-central"})  # fmt: skip
    memory = parsed.database in (None, "", ":memory:")
    if not memory:
        Path(parsed.database or "").parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        # One in-memory database is one connection: share it.
        **({"poolclass": StaticPool} if memory else {}),
    )
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # WAL: readers (API, summaries) never block the collector's writes. NORMAL: a commit is
    # durable against a process crash (what the ack-after-commit needs); a power cut may lose
    # the last commits, which the agents' outboxes cover only until they were acknowledged.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


# ---- values ----


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


_COUNTS_COLUMNS = tuple(c.name for c in schema.counts.columns)
_COUNTS_TIMES = tuple(c.name for c in schema.counts.columns if isinstance(c.type, UtcDateTime))


def _utc(t: datetime) -> datetime:
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


@functools.cache
def _pg_unnest_insert() -> TextClause:
    """INSERT INTO counts SELECT * FROM unnest(one array per column) ON CONFLICT DO NOTHING."""
    pg = postgresql.dialect()
    arrays = []
    for col in schema.counts.columns:
        sql_type = col.type.impl_instance if isinstance(col.type, TypeDecorator) else col.type
        arrays.append(f"CAST(:{col.name} AS {sql_type.compile(dialect=pg)}[])")
    return sql_text(
        f"INSERT INTO counts ({', '.join(_COUNTS_COLUMNS)}) SELECT * FROM unnest("
        f"{', '.join(arrays)}) ON CONFLICT (agent_id, seq) DO NOTHING"
    )


@functools.cache
def _sqlite_insert() -> str:
    stmt = sqlite.insert(schema.counts).on_conflict_do_nothing(index_elements=["agent_id", "seq"])
    return str(stmt.compile(dialect=sqlite.dialect()))  # positional "?" in column order


def _sqlite_time(t: datetime) -> str:
    # Exactly how SQLAlchemy's SQLite DateTime stores it, so that comparisons stay textual.
    return _utc(t).replace(tzinfo=None).isoformat(" ", "microseconds")


def _sqlite_tuple(r: Row) -> tuple[Any, ...]:
    return tuple(_sqlite_time(r[c]) if c in _COUNTS_TIMES else r[c] for c in _COUNTS_COLUMNS)


def _clean(s: str, limit: int) -> str:
    return s[:limit].replace("\x00", "\\x00")


# ---- the store ----


class Store:
    """The collector's reads and writes on one engine; thread-safe (one connection per call)."""

    def __init__(self, engine: Engine, *, rejects_keep: int = REJECTS_KEEP) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        if self.dialect not in ("sqlite", "postgresql"):
            raise ValueError(f"unsupported database {self.dialect!r} (sqlite or postgresql)")
        self.rejects_keep = rejects_keep
        # Agents already known to have a row: no upsert per batch for them.
        self._known_agents: set[str] = set()

    @classmethod
    def open(cls, url: str, *, pool_size: int = 5, rejects_keep: int = REJECTS_KEEP) -> Store:
        """Engine for url, migrated to the newest revision."""
        engine = make_engine(url, pool_size=pool_size)
        migrate(engine)
        return cls(engine, rejects_keep=rejects_keep)

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    def _insert(self, table: Table) -> postgresql.Insert | sqlite.Insert:
        if self.dialect == "postgresql":
            return postgresql.insert(table)
        return sqlite.insert(table)

    # ---- writes ----

    def insert_counts(self, rows: Sequence[Row]) -> int:
        """Store count rows in one transaction; returns how many were new (not duplicates)."""
        return self.write_batch(counts=rows)

    def write_batch(
        self,
        *,
        counts: Sequence[Row] = (),
        rejects: Sequence[Reject] = (),
        availability: Sequence[Availability] = (),
        statuses: Sequence[Status] = (),
    ) -> int:
        """Everything of one collector batch in one transaction; returns the new count rows."""
        new, agents = 0, set[str]()
        with self.engine.begin() as conn:
            if counts:
                new, agents = self._counts(conn, counts)
            for a in availability:
                self._availability(conn, a)
            for s in statuses:
                self._status(conn, s)
            if rejects:
                self._rejects(conn, rejects)
        self._known_agents |= agents  # only once committed
        return new

    def _counts(self, conn: Connection, rows: Sequence[Row]) -> tuple[int, set[str]]:
        if self.dialect == "postgresql":
            # One statement over column arrays: exact rowcount, and ~4x faster than a
            # multi-row VALUES with RETURNING (executemany reports no rowcount on psycopg).
            params = {name: [r[name] for r in rows] for name in _COUNTS_COLUMNS}
            for name in _COUNTS_TIMES:
                params[name] = [_utc(t) for t in params[name]]
            new = conn.execute(_pg_unnest_insert(), params).rowcount
        else:
            # The dialect's INSERT … ON CONFLICT DO NOTHING, compiled once, run as one
            # executemany on tuples: SQLAlchemy's per-row parameter processing cost more than
            # SQLite itself. sqlite3 sums the rows inserted over executemany.
            new = conn.exec_driver_sql(_sqlite_insert(), [_sqlite_tuple(r) for r in rows]).rowcount
        return int(new), self._seen_agents(conn, rows)

    def _seen_agents(self, conn: Connection, rows: Iterable[Row]) -> set[str]:
        """Give agents first seen in this batch a row (the API lists agents from there)."""
        first: dict[str, datetime] = {}
        for r in rows:
            a = r["agent_id"]
            if a not in self._known_agents and a not in first:
                first[a] = r["received_at"]
        if first:
            stmt = self._insert(schema.agents).on_conflict_do_nothing(index_elements=["agent_id"])
            conn.execute(stmt, [{"agent_id": a, "first_seen": t, "revoked": False}
                                for a, t in sorted(first.items())])  # fmt: skip
        return set(first)

    def _availability(self, conn: Connection, a: Availability) -> None:
        ins = self._insert(schema.agents).values(
            agent_id=a.agent_id, availability=a.value, availability_at=a.at, first_seen=a.at,
            revoked=False,
        )  # fmt: skip
        t = schema.agents.c
        # Newest report wins even when two collectors write it in a different order.
        conn.execute(ins.on_conflict_do_update(
            index_elements=["agent_id"],
            set_={"availability": ins.excluded.availability,
                  "availability_at": ins.excluded.availability_at},
            where=t.availability_at.is_(None) | (t.availability_at <= ins.excluded.availability_at),
        ))  # fmt: skip

    def _status(self, conn: Connection, s: Status) -> None:
        ins = self._insert(schema.agents).values(
            agent_id=s.agent_id, status_json=s.status_json, status_at=s.at, first_seen=s.at,
            revoked=False,
        )  # fmt: skip
        t = schema.agents.c
        conn.execute(ins.on_conflict_do_update(
            index_elements=["agent_id"],
            set_={"status_json": ins.excluded.status_json, "status_at": ins.excluded.status_at},
            where=t.status_at.is_(None) | (t.status_at <= ins.excluded.status_at),
        ))  # fmt: skip

    def set_availability(self, agent_id: str, value: str, at: datetime) -> None:
        """Record `online`/`offline` (ignored when an equally new or newer one is stored)."""
        with self.engine.begin() as conn:
            self._availability(conn, Availability(agent_id, value, at))

    def set_status(self, agent_id: str, status_json: str, at: datetime) -> None:
        """Record a status report (ignored when a newer one is stored)."""
        with self.engine.begin() as conn:
            self._status(conn, Status(agent_id, status_json, at))

    def record_rejects(self, rejects: Sequence[Reject]) -> None:
        """Keep rejected messages (only the newest rejects_keep rows) and count them by reason."""
        if rejects:
            with self.engine.begin() as conn:
                self._rejects(conn, rejects)

    def _rejects(self, conn: Connection, rejects: Sequence[Reject]) -> None:
        conn.execute(schema.rejects.insert(), [
            {"received_at": r.received_at, "topic": _clean(r.topic, 512),
             "reason": _clean(r.reason, 64), "detail": _clean(r.detail, DETAIL_CHARS),
             "payload_excerpt": None if r.payload_excerpt is None
             else _clean(r.payload_excerpt, 4 * EXCERPT_BYTES)}
            for r in rejects
        ])  # fmt: skip
        by_reason = Counter(r.reason[:64] for r in rejects)
        last = max(r.received_at for r in rejects)
        ins = self._insert(schema.reject_totals)
        conn.execute(ins.on_conflict_do_update(
            index_elements=["reason"],
            set_={"count": schema.reject_totals.c.count + ins.excluded.count,
                  "last_at": ins.excluded.last_at},
        ), [{"reason": k, "count": n, "last_at": last}
            for k, n in sorted(by_reason.items())])  # fmt: skip
        r = schema.rejects.c
        newest = conn.execute(select(func.max(r.id))).scalar_one()
        if newest is not None and newest > self.rejects_keep:
            conn.execute(delete(schema.rejects).where(r.id <= newest - self.rejects_keep))

    # ---- reads ----

    def count_rows(self, agent_id: str | None = None) -> int:
        """How many count rows are stored (of one agent, when given)."""
        q = select(func.count()).select_from(schema.counts)
        if agent_id is not None:
            q = q.where(schema.counts.c.agent_id == agent_id)
        with self.engine.connect() as conn:
            return int(conn.execute(q).scalar_one())

    def stored_keys(self, agent_id: str | None = None) -> set[tuple[str, int]]:
        """Every stored (agent_id, seq) (of one agent, when given)."""
        c = schema.counts.c
        q = select(c.agent_id, c.seq)
        if agent_id is not None:
            q = q.where(c.agent_id == agent_id)
        with self.engine.connect() as conn:
            return {(a, int(s)) for a, s in conn.execute(q)}

    def gaps(self, agent_id: str | None = None) -> list[Gap]:
        """Missing seq runs per agent between its lowest and highest stored seq, in order."""
        c = schema.counts.c
        prev = func.lag(c.seq).over(partition_by=c.agent_id, order_by=c.seq).label("prev")
        inner = select(c.agent_id, c.seq, prev)
        if agent_id is not None:
            inner = inner.where(c.agent_id == agent_id)
        sub = inner.subquery()
        q = (
            select(sub.c.agent_id, sub.c.prev + 1, sub.c.seq - 1)
            .where(sub.c.seq - sub.c.prev > 1)
            .order_by(sub.c.agent_id, sub.c.seq)
        )
        with self.engine.connect() as conn:
            return [Gap(a, int(lo), int(hi)) for a, lo, hi in conn.execute(q)]

    def seq_summary(self, agent_id: str | None = None) -> list[SeqSummary]:
        """Per agent: first and last seq stored, how many stored, how many missing between."""
        c = schema.counts.c
        q = select(c.agent_id, func.min(c.seq), func.max(c.seq), func.count()).group_by(c.agent_id)
        if agent_id is not None:
            q = q.where(c.agent_id == agent_id)
        with self.engine.connect() as conn:
            rows = conn.execute(q.order_by(c.agent_id)).all()
        return [SeqSummary(a, int(lo), int(hi), int(n), int(hi) - int(lo) + 1 - int(n))
                for a, lo, hi, n in rows]  # fmt: skip

    def agents(self) -> list[AgentState]:
        """Every known agent with its availability and last status."""
        t = schema.agents.c
        q = select(t.agent_id, t.availability, t.availability_at, t.status_json, t.status_at,
                   t.first_seen, t.revoked).order_by(t.agent_id)  # fmt: skip
        with self.engine.connect() as conn:
            return [AgentState(*row) for row in conn.execute(q)]

    def reject_totals(self) -> dict[str, int]:
        """Rejected messages by reason since the database was created."""
        t = schema.reject_totals.c
        with self.engine.connect() as conn:
            return {r: int(n) for r, n in conn.execute(select(t.reason, t.count))}

    def recent_rejects(self, limit: int = 100) -> list[Reject]:
        """The newest rejected messages, newest first."""
        r = schema.rejects.c
        q = select(r.received_at, r.topic, r.reason, r.detail, r.payload_excerpt)
        with self.engine.connect() as conn:
            return [Reject(*row) for row in conn.execute(q.order_by(r.id.desc()).limit(limit))]
