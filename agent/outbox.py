"""The durable outbox: every message gets the agent's next seq and waits on disk until confirmed.

SQLite in WAL mode with synchronous=FULL, because edge boxes lose power: a committed row (and the
seq counter) survives a crash. The seq counter lives in its own table, so it never goes back and
is never reused, even after rows are acknowledged, dropped by the size cap, or the agent restarts.
One connection guarded by a lock serves every thread (the pipeline enqueues, the publisher acks).

Each outbox has an epoch, a random token drawn when it is created (or upgraded from schema 1):
a wiped or replaced outbox starts again at seq 1 under a new epoch, and central keys windows on
(agent, epoch, seq), so the new series is stored rather than taken for duplicates. A row leaves
the outbox when central confirms it stored it (`confirm`), or on the broker's PUBACK where
end-to-end confirmation is off (`ack_many`).
"""

from __future__ import annotations

import logging
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2
_SCHEMA = """
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    enqueued_at REAL NOT NULL
);
INSERT OR IGNORE INTO counters (name, value) VALUES ('last_seq', 0), ('dropped', 0),
    ('confirmed', 0);
"""


def new_epoch() -> str:
    """A fresh outbox epoch: 16 URL-safe characters (96 random bits), wire.EPOCH_PATTERN."""
    return secrets.token_urlsafe(12)


class OutboxError(Exception):
    """The outbox database cannot be opened or used; the message names the file."""


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """One message waiting for the broker's acknowledgement."""

    seq: int
    topic: str
    payload: bytes
    enqueued_at: float


@dataclass(frozen=True, slots=True)
class Stamp:
    """What a message is built with: its seq, the outbox's epoch, and the lowest seq still held
    (this one when the outbox was empty) — wire.CountsMessage.first_unconfirmed."""

    seq: int
    epoch: str
    first_unconfirmed: int


@dataclass(frozen=True, slots=True)
class _Dropped:
    count: int
    first: int
    last: int


class Outbox:
    """A persistent, capped FIFO of messages keyed by a never-reused seq."""

    def __init__(self, path: Path | str, *, max_messages: int = 500_000) -> None:
        if max_messages < 1:
            raise ValueError("max_messages must be at least 1")
        self.path = Path(path)
        self.max_messages = max_messages
        self._lock = threading.Lock()
        self._conn = self._open()
        try:
            self._depth = int(self._scalar("SELECT COUNT(*) FROM outbox"))
            self._last_seq = int(self._scalar("SELECT value FROM counters WHERE name='last_seq'"))
            self._dropped = int(self._scalar("SELECT value FROM counters WHERE name='dropped'"))
            self._confirmed = int(
                self._scalar("SELECT value FROM counters WHERE name='confirmed'"))
            with self._lock:
                row = self._conn.execute("SELECT value FROM meta WHERE name='epoch'").fetchone()
            self.epoch = str(row[0])
        except sqlite3.Error as exc:
            self._conn.close()
            raise self._error("cannot read", exc) from exc

    def _error(self, what: str, exc: BaseException, *, opening: bool = True) -> OutboxError:
        hint = (
            " It may hold undelivered counts: move it aside (do not delete it) to start anew."
            if opening
            else ""
        )
        return OutboxError(f"{self.path}: {what} the outbox database: {exc}.{hint}")

    def _open(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise self._error("cannot create the folder of", exc) from exc
        try:
            # isolation_level=None: we issue BEGIN/COMMIT ourselves so one enqueue is one
            # transaction; check_same_thread=False because the lock serialises every use.
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise self._error("cannot open", exc) from exc
        try:
            self._prepare(conn)
        except sqlite3.Error as exc:
            conn.close()
            raise self._error("cannot use", exc) from exc
        return conn

    def _prepare(self, conn: sqlite3.Connection) -> None:
        conn.execute("PRAGMA busy_timeout = 5000")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise sqlite3.OperationalError(f"cannot switch to WAL mode (got {mode})")
        conn.execute("PRAGMA synchronous = FULL")
        check = conn.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            raise sqlite3.DatabaseError(f"integrity check failed: {check}")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version not in (0, 1, SCHEMA_VERSION):  # 1: upgraded below (gets its epoch)
            raise sqlite3.DatabaseError(f"unknown outbox schema version {version}")
        # A new outbox, or one of schema 1, gets its epoch here (once: INSERT OR IGNORE).
        conn.executescript(
            f"BEGIN; {_SCHEMA} INSERT OR IGNORE INTO meta (name, value) VALUES "
            f"('epoch', '{new_epoch()}'); PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
        )

    def _scalar(self, sql: str, *args: object) -> int:
        with self._lock:
            return int(self._conn.execute(sql, args).fetchone()[0])

    def enqueue(self, topic: str, build: Callable[[int], bytes]) -> int:
        """Give the next seq to build(seq), store its payload durably, and return the seq."""
        return self.enqueue_stamped(topic, lambda stamp: build(stamp.seq))

    def enqueue_stamped(self, topic: str, build: Callable[[Stamp], bytes]) -> int:
        """Like enqueue, build() getting the seq, the epoch and the lowest seq still held."""
        with self._lock:
            conn = self._conn
            try:
                conn.execute("BEGIN IMMEDIATE")
                seq = self._last_seq + 1
                low = conn.execute("SELECT MIN(seq) FROM outbox").fetchone()[0]
                payload = build(Stamp(seq, self.epoch, seq if low is None else int(low)))
                conn.execute("UPDATE counters SET value = ? WHERE name = 'last_seq'", (seq,))
                conn.execute(
                    "INSERT INTO outbox (seq, topic, payload, enqueued_at) VALUES (?, ?, ?, ?)",
                    (seq, topic, bytes(payload), time.time()),
                )
                dropped = self._enforce_cap(conn, self._depth + 1)
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                self._resync()
                raise self._error("cannot write to", exc, opening=False) from exc
            except BaseException:
                self._rollback()
                raise
            # Memory follows the database only once the transaction is committed.
            self._last_seq = seq
            self._depth += 1 - dropped.count
            self._dropped += dropped.count
            if dropped.count:
                # Central sees the gap in seq; this line tells the technician why it is there.
                log.warning(
                    "outbox full (max_messages=%d): dropped the %d oldest undelivered "
                    "message(s), seq %d..%d (%d dropped in total)",
                    self.max_messages, dropped.count, dropped.first, dropped.last, self._dropped,
                )  # fmt: skip
            return seq

    def _enforce_cap(self, conn: sqlite3.Connection, depth: int) -> _Dropped:
        """Delete the oldest rows beyond max_messages, inside the caller's transaction."""
        excess = depth - self.max_messages
        if excess <= 0:
            return _Dropped(0, 0, 0)
        first, last = conn.execute(
            "SELECT MIN(seq), MAX(seq) FROM (SELECT seq FROM outbox ORDER BY seq LIMIT ?)",
            (excess,),
        ).fetchone()
        n = conn.execute("DELETE FROM outbox WHERE seq <= ?", (last,)).rowcount
        conn.execute("UPDATE counters SET value = value + ? WHERE name = 'dropped'", (n,))
        return _Dropped(n, int(first), int(last))

    def _resync(self) -> None:
        """After a failed write, take the seq counter and depth from the file: a COMMIT that
        reported an error may still have reached the disk, and a stale counter would collide
        with that row on every later enqueue."""
        try:
            self._last_seq = max(self._last_seq, int(self._conn.execute(
                "SELECT value FROM counters WHERE name='last_seq'").fetchone()[0]))
            self._depth = int(self._conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])
        except sqlite3.Error:
            pass  # the file is unreadable too: the next enqueue fails and tries again

    def _rollback(self) -> None:
        # A failed COMMIT may have ended the transaction; a second error would hide the first.
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")

    def pending(self, limit: int, after_seq: int | None = None) -> list[OutboxRow]:
        """Up to limit waiting rows in seq order, starting after after_seq when given."""
        if limit <= 0:
            return []
        with self._lock:
            rows = self._conn.execute(
                "SELECT seq, topic, payload, enqueued_at FROM outbox WHERE seq > ? "
                "ORDER BY seq LIMIT ?",
                (-1 if after_seq is None else after_seq, limit),
            ).fetchall()
        return [OutboxRow(int(s), str(t), bytes(p), float(e)) for s, t, p, e in rows]

    def ack(self, seq: int) -> bool:
        """Delete one acknowledged row; False when it was already gone."""
        return self.ack_many([seq]) == 1

    def _delete(self, where: str, args: tuple[int, ...], counter: str | None = None,
                value: str = "value + ?") -> int:
        """DELETE FROM outbox WHERE <where> and, when given, update one counter (its new value
        as an expression of the rows deleted, or of args), in one transaction; rows deleted.
        The caller holds the lock."""
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            n = int(conn.execute(f"DELETE FROM outbox WHERE {where}", args).rowcount)
            if counter is not None:
                param = n if value == "value + ?" else args[0]
                conn.execute(f"UPDATE counters SET value = {value} WHERE name = ?",
                             (param, counter))  # fmt: skip
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback()
            raise self._error("cannot write to", exc, opening=False) from exc
        self._depth -= n
        return n

    def ack_many(self, seqs: Iterable[int]) -> int:
        """Delete acknowledged rows in one transaction; returns how many existed."""
        keys = sorted(set(seqs))
        if not keys:
            return 0
        with self._lock:
            marks = ", ".join("?" * len(keys))
            return self._delete(f"seq IN ({marks})", tuple(keys))

    def discard(self, seq: int) -> bool:
        """Drop one row that can never be delivered, counted with the cap's drops."""
        with self._lock:
            n = self._delete("seq = ?", (seq,), "dropped")
            self._dropped += n
            return n == 1

    def confirm(self, epoch: str, seq: int) -> int:
        """Central confirmed every seq of epoch up to seq: delete those rows; how many existed.

        A confirmation of another epoch (a retained one from before this outbox) changes nothing.
        """
        if epoch != self.epoch:
            return 0
        with self._lock:
            if seq <= self._confirmed:
                return 0
            n = self._delete("seq <= ?", (seq,), "confirmed", value="?")
            self._confirmed = seq
            return n

    def confirmed_seq(self) -> int | None:
        """The highest seq central confirmed for this epoch, or None before the first."""
        with self._lock:
            return self._confirmed or None

    def first_seq(self) -> int | None:
        """The lowest seq still held, or None when empty."""
        with self._lock:
            row = self._conn.execute("SELECT MIN(seq) FROM outbox").fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def depth(self) -> int:
        """Rows waiting for acknowledgement."""
        with self._lock:
            return self._depth

    def dropped(self) -> int:
        """Rows ever dropped by the size cap (persisted)."""
        with self._lock:
            return self._dropped

    def last_seq(self) -> int | None:
        """The last seq given out, or None before the first message."""
        with self._lock:
            return self._last_seq or None

    def oldest_age_s(self) -> float | None:
        """Seconds the oldest waiting row has waited, or None when empty."""
        with self._lock:
            # The oldest seq is the oldest row; this reads one index entry, not the table.
            row = self._conn.execute(
                "SELECT enqueued_at FROM outbox ORDER BY seq LIMIT 1"
            ).fetchone()
        return None if row is None else max(0.0, time.time() - float(row[0]))

    def close(self) -> None:
        """Close the database (idempotent)."""
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
