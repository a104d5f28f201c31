"""On-disk size of a `counts` row on real PostgreSQL (table, TOAST and indexes), for the
capacity model of docs/deployment.md ("The province on paper").

Writes N realistic windows (100 agents x cameras, the wire's field values, epochs as real
agents stamp them) through central's own Store (the collector's insert path), VACUUMs, and
reads `pg_total_relation_size('counts')`, `pg_relation_size` and `pg_indexes_size`; prints
bytes per row and the implied storage per 10,000 cameras a day.

    python -m benchmarks.pg_rowsize [--rows 200000] [--pg-url URL]

Without --pg-url, a throwaway database on the local cluster (tests/pg.py's PgServer).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from central.store.rows import counts_row
from central.store.writes import Store
from siaga.wire import CountsMessage, ModelInfo

MODEL = ModelInfo(name="mask-detector", version="1.4.0", sha256="ab" * 32)
BATCH = 5000


def windows(n: int, agents: int = 100, cameras: int = 4) -> Iterator[CountsMessage]:
    """n windows, round-robin over agents and cameras, one minute apart per camera."""
    base = datetime(2026, 12, 1, tzinfo=UTC)
    epochs = {a: secrets.token_hex(8) for a in range(agents)}
    for i in range(n):
        a, c, k = i % agents, (i // agents) % cameras, i // (agents * cameras)
        start = base + timedelta(minutes=k)
        yield CountsMessage(
            agent_id=f"smg-{a:05d}", seq=i // agents + 1, camera_id=f"cam{c}",
            site=f"Pasar {a:05d}", kelurahan_code="33.74.16.1004", window_start=start,
            window_end=start + timedelta(minutes=1), people_seen=12, masked=8, unmasked=3,
            occupancy_mean=2.4, occupancy_max=5, frames_processed=300, frames_inferred=100,
            model=MODEL, epoch=epochs[a], first_unconfirmed=1,
        )  # fmt: skip


@contextlib.contextmanager
def database(url: str | None) -> Iterator[str]:
    if url:
        yield url
        return
    from tests.pg import PgServer

    server = PgServer.ensure()
    try:
        with server.database() as tmp:
            yield tmp
    finally:
        server.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=200_000)
    p.add_argument("--pg-url", default=None)
    a = p.parse_args(argv)
    with database(a.pg_url) as url:
        store = Store.open(url)
        now = datetime.now(UTC)
        batch = []
        for msg in windows(a.rows):
            batch.append(counts_row(msg, received_at=now))
            if len(batch) == BATCH:
                store.insert_counts(batch)
                batch = []
        if batch:
            store.insert_counts(batch)
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE counts"))
            q = ("SELECT count(*), pg_total_relation_size('counts'), pg_relation_size('counts'),"
                 " pg_indexes_size('counts'), version() FROM counts")  # fmt: skip
            rows, total, heap, idx, version = conn.execute(text(q)).one()
        store.close()
    per_row = total / rows
    out = {
        "rows": rows, "total_bytes": total, "heap_bytes": heap, "index_bytes": idx,
        "bytes_per_row": round(per_row, 1), "heap_bytes_per_row": round(heap / rows, 1),
        "index_bytes_per_row": round(idx / rows, 1),
        "gb_per_day_per_10k_cameras": round(per_row * 10_000 * 1440 / 1e9, 2),
        "postgresql": version.split(",")[0],
    }  # fmt: skip
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
