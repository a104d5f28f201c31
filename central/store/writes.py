"""Central's storage: the collector's writes and seq queries on SQLite or PostgreSQL.

SQLite (WAL) is the embedded default, PostgreSQL (psycopg 3) the city's database; every statement
here runs unchanged on both through the dialect's own INSERT … ON CONFLICT. Counts are keyed on
(agent_id, epoch, seq), so storing a message twice is a no-op and a missing seq is a visible gap.
Datetimes go in and come out aware (UTC); see `central.store.schema.UtcDateTime`. Engines are
made in central.store.engine, migrations in central.store.migrations, values and row conversion
in central.store.rows.
"""

from __future__ import annotations

import contextlib
import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, Table, delete, func, select, union
from sqlalchemy.dialects import postgresql, sqlite

from central.store import quarantine, schema
from central.store.conflicts import find_conflicts
from central.store.engine import make_engine
from central.store.migrations import migrate
from central.store.rows import (
    DETAIL_CHARS,
    EXCERPT_BYTES,
    AgentState,
    Availability,
    CountRow,
    Gap,
    Reject,
    Row,
    SeqSummary,
    Status,
    as_count_row,
    pg_copy_insert,
    pg_params,
    sqlite_insert,
    sqlite_params,
)
from central.store.rows import clean as _clean
from siaga.wire import DEFAULT_PREFIX, OFFLINE

log = logging.getLogger(__name__)

REJECTS_KEEP = 100_000


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

    def insert_counts(self, rows: Sequence[Row | CountRow]) -> int:
        """Store count rows (mappings or CountRows) in one transaction; returns how many were
        new (not duplicates)."""
        return self.write_batch(counts=[as_count_row(r) for r in rows])

    def write_batch(
        self,
        *,
        counts: Sequence[CountRow] = (),
        rejects: Sequence[Reject] = (),
        availability: Sequence[Availability] = (),
        statuses: Sequence[Status] = (),
        quarantined: Sequence[quarantine.Quarantined] = (),
        counts_params: Sequence[Sequence[Any]] | None = None,
        conflicts: list[Reject] | None = None,
        prefix: str = DEFAULT_PREFIX,
    ) -> int:
        """Everything of one collector batch in one transaction; returns the new count rows.

        counts_params: prepare_counts(counts), when the caller made it already (the collector
        does, on its validation thread, to keep the writer thread for the database).
        conflicts: gets the `seq_conflict` rejects found (central.store.conflicts); they are
        recorded with the batch's rejects either way.
        quarantined: implausible windows (central.store.quarantine), kept out of `counts`.
        """
        new, agents, found = 0, set[str](), list[Reject]()
        with self.engine.begin() as conn:
            if counts:
                params = self.prepare_counts(counts) if counts_params is None else counts_params
                new, agents = self._counts(conn, counts, params)
                if new < len(counts):  # duplicates, or the same key with other content
                    found = find_conflicts(conn, counts, prefix=prefix)
            quarantine.write(conn, quarantined)
            for a in availability:
                self._availability(conn, a)
            for s in statuses:
                self._status(conn, s)
            if rejects or found:
                self._rejects(conn, [*rejects, *found])
        if conflicts is not None:
            conflicts.extend(found)
        self._known_agents |= agents  # only once committed
        return new

    def prepare_counts(self, rows: Sequence[CountRow]) -> Sequence[Sequence[Any]]:
        """Count rows as this database's driver takes them (see _counts)."""
        return pg_params(rows) if self.dialect == "postgresql" else sqlite_params(rows)

    def _counts(
        self, conn: Connection, rows: Sequence[CountRow], params: Sequence[Sequence[Any]]
    ) -> tuple[int, set[str]]:
        # Both on the driver's own cursor, inside the engine's transaction.
        with contextlib.closing(conn.connection.driver_connection.cursor()) as cur:  # type: ignore[union-attr]
            if self.dialect == "postgresql":
                # COPY into a temporary table, then one INSERT … SELECT … ON CONFLICT DO
                # NOTHING: exact rowcount, rows formatted in C. (An INSERT over unnest(column
                # arrays) was 3x slower: psycopg dumped the arrays element by element.)
                new = pg_copy_insert(cur, params)
            else:
                # The dialect's INSERT … ON CONFLICT DO NOTHING, compiled once, as one
                # executemany: SQLAlchemy's per-row parameter handling cost more than SQLite
                # itself. sqlite3 sums the rows inserted over executemany.
                cur.executemany(sqlite_insert(), params)
                new = cur.rowcount
        return int(new), self._seen_agents(conn, rows)

    def _seen_agents(self, conn: Connection, rows: Iterable[CountRow]) -> set[str]:
        """Give agents first seen in this batch a row (the API lists agents from there)."""
        first: dict[str, datetime] = {}
        known = self._known_agents
        for r in rows:
            a = r.agent_id
            if a not in known and a not in first:
                first[a] = r.received_at
        if first:
            stmt = self._insert(schema.agents).on_conflict_do_nothing(index_elements=["agent_id"])
            conn.execute(stmt, [{"agent_id": a, "first_seen": t, "revoked": False}
                                for a, t in sorted(first.items())])  # fmt: skip
        return set(first)

    def _availability(self, conn: Connection, a: Availability) -> None:
        """Newest connection wins; within one connection "offline" (its will) beats "online".

        A report without a connection start (an older agent: a.since None) is ordered by its
        receive time, the later one winning a tie (a batch's messages share one receive time),
        and wins over a stored connection's report when received after that connection began.
        """
        t = schema.agents
        ins = self._insert(t).values(
            agent_id=a.agent_id, first_seen=a.at, revoked=False, availability=a.value,
            availability_at=a.at, availability_since=a.since,
        )  # fmt: skip
        since, ex = t.c.availability_since, ins.excluded
        if a.since is not None:
            newer = since.is_(None) | (since < ex.availability_since) | (
                (since == ex.availability_since) & (ex.availability == OFFLINE))  # fmt: skip
        else:
            newer = (since.is_(None) & (t.c.availability_at.is_(None)
                                        | (t.c.availability_at <= ex.availability_at))
                     ) | (since <= ex.availability_at)  # fmt: skip
        conn.execute(ins.on_conflict_do_update(
            index_elements=["agent_id"],
            set_={k: ex[k] for k in ("availability", "availability_at", "availability_since")},
            where=newer,
        ))  # fmt: skip

    def _status(self, conn: Connection, s: Status) -> None:
        self._report(conn, s.agent_id, "status_at",
                     {"status_json": s.status_json, "status_at": s.at})  # fmt: skip

    def _report(self, conn: Connection, agent_id: str, at_key: str, values: dict[str, Any]) -> None:
        """Upsert one kind of agent report; its `at_key` time decides: the newest wins even when
        two collectors write them in a different order."""
        ins = self._insert(schema.agents).values(
            agent_id=agent_id, first_seen=values[at_key], revoked=False, **values
        )
        at = schema.agents.c[at_key]
        conn.execute(ins.on_conflict_do_update(
            index_elements=["agent_id"],
            set_={k: ins.excluded[k] for k in values},
            where=at.is_(None) | (at <= ins.excluded[at_key]),
        ))  # fmt: skip

    def set_availability(
        self, agent_id: str, value: str, at: datetime, since: datetime | None = None
    ) -> None:
        """Record `online`/`offline` (ignored when a report of a newer connection is stored)."""
        with self.engine.begin() as conn:
            self._availability(conn, Availability(agent_id, value, at, since))

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
        """Every stored (agent_id, seq) (of one agent, when given), epochs merged."""
        return {(a, s) for a, _e, s in self.stored_epoch_keys(agent_id)}

    def stored_epoch_keys(self, agent_id: str | None = None) -> set[tuple[str, str, int]]:
        """Every stored (agent_id, epoch, seq) (of one agent, when given)."""
        c = schema.counts.c
        q = select(c.agent_id, c.epoch, c.seq)
        if agent_id is not None:
            q = q.where(c.agent_id == agent_id)
        with self.engine.connect() as conn:
            return {(a, e, int(s)) for a, e, s in conn.execute(q)}

    def _held_keys(self, agent_id: str | None) -> Any:
        """(agent_id, epoch, seq) of every window central holds: stored, or quarantined (kept
        out of the figures, but delivered: not a gap)."""
        c, q = schema.counts.c, schema.quarantine.c
        a = select(c.agent_id, c.epoch, c.seq)
        b = select(q.agent_id, q.epoch, q.seq)
        if agent_id is not None:
            a, b = a.where(c.agent_id == agent_id), b.where(q.agent_id == agent_id)
        return union(a, b).subquery()

    def gaps(self, agent_id: str | None = None) -> list[Gap]:
        """Missing seq runs per agent and epoch between its lowest and highest held seq."""
        k = self._held_keys(agent_id).c
        prev = func.lag(k.seq).over(partition_by=(k.agent_id, k.epoch), order_by=k.seq)
        sub = select(k.agent_id, k.epoch, k.seq, prev.label("prev")).subquery()
        q = (
            select(sub.c.agent_id, sub.c.prev + 1, sub.c.seq - 1, sub.c.epoch)
            .where(sub.c.seq - sub.c.prev > 1)
            .order_by(sub.c.agent_id, sub.c.epoch, sub.c.seq)
        )
        with self.engine.connect() as conn:
            return [Gap(a, int(lo), int(hi), e) for a, lo, hi, e in conn.execute(q)]

    def seq_summary(self, agent_id: str | None = None) -> list[SeqSummary]:
        """Per agent and epoch: first and last seq held, how many, how many missing between."""
        k = self._held_keys(agent_id).c
        q = select(k.agent_id, func.min(k.seq), func.max(k.seq), func.count(), k.epoch).group_by(
            k.agent_id, k.epoch)
        with self.engine.connect() as conn:
            rows = conn.execute(q.order_by(k.agent_id, k.epoch)).all()
        return [SeqSummary(a, int(lo), int(hi), int(n), int(hi) - int(lo) + 1 - int(n), e)
                for a, lo, hi, n, e in rows]  # fmt: skip

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
