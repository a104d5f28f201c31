"""Database engines for central: SQLite (WAL) as the embedded default, PostgreSQL by URL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool

SQLITE_BUSY_TIMEOUT_MS = 30_000
# Page cache per SQLite connection (KiB, as a negative cache_size says it; filled only as pages
# are read). The default 2 MiB made the collector's inserts re-read index pages from the OS once
# counts outgrew it; 16 MiB got most of what 32 MiB did (measured: -20% time per insert).
SQLITE_CACHE_KIB = 16 * 1024
# Checkpoint the WAL into the database every this many pages (default 1000, 4 MiB). Each
# checkpoint syncs the database file; fewer, larger ones write a hot page once, not many times.
SQLITE_WAL_AUTOCHECKPOINT_PAGES = 10_000


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


SQLITE_SYNCHRONOUS = "FULL"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # WAL: readers (API, summaries) never block the collector's writes. FULL: every commit is
    # on disk before it returns, so a message acknowledged after its commit survives a power cut
    # too (NORMAL would survive only a process crash, and the agent has already deleted it).
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute(f"PRAGMA synchronous={SQLITE_SYNCHRONOUS}")
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cur.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
    cur.execute(f"PRAGMA wal_autocheckpoint={SQLITE_WAL_AUTOCHECKPOINT_PAGES}")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()
