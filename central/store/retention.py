"""Retention of the raw count windows: rows older than `[storage] retention_days` are deleted.

At city scale the `counts` table grows by millions of rows a day; what is kept for longer is
what the daily report and the open-data files made of them. Deletion runs in chunks, each its
own short transaction, so ingest is never locked out for long; it runs on the instance that
holds the jobs lease (central/store/lease.py), with the reports. The minimum (15 days) leaves the
7-day summaries and the 7-day report catch-up their data.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, Engine, Table, delete, select, tuple_

from central.store import schema

log = logging.getLogger(__name__)

CHUNK_ROWS = 10_000


def cutoff(now: datetime, days: int) -> datetime:
    """Windows that ended before this are purged."""
    return now.astimezone(UTC) - timedelta(days=days)


def purge_counts(
    engine: Engine,
    before: datetime,
    *,
    chunk: int = CHUNK_ROWS,
    should_stop: Callable[[], bool] = lambda: False,
) -> int:
    """Delete count windows that ended before `before`, and quarantined windows received before
    it (their own times may be anything: that is why they are there), chunk rows per
    transaction; how many in all."""
    total = 0
    for table, when in ((schema.counts, schema.counts.c.window_end),
                        (schema.quarantine, schema.quarantine.c.received_at)):  # fmt: skip
        total += _purge(engine, table, when, before, chunk=chunk, should_stop=should_stop)
    return total


def _purge(engine: Engine, t: Table, when: ColumnElement[datetime], before: datetime, *,
           chunk: int, should_stop: Callable[[], bool]) -> int:  # fmt: skip
    key = (t.c.agent_id, t.c.epoch, t.c.seq)
    old = select(*key).where(when < before).limit(chunk)
    total = 0
    while not should_stop():
        with engine.begin() as conn:
            n = conn.execute(delete(t).where(tuple_(*key).in_(old))).rowcount
        total += max(0, n)
        if n < chunk:
            break
        log.info("retention: %d %s rows deleted so far", total, t.name)
    if total:
        log.info("retention: %d %s rows from before %s deleted", total, t.name,
                 before.isoformat(timespec="seconds"))  # fmt: skip
    return total
