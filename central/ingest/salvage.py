"""When a batch keeps failing for a reason that is not the database being away.

A batch that the database refuses again and again (a value the driver cannot take, a bug) must
not stall ingest for ever: the broker would redeliver the same messages after every reconnect.
So the batch is written one item at a time; an item that still fails is recorded as an
`internal_error` reject (topic, reason, the error) instead, and the batch is then acknowledged:
every message ends stored or recorded, never silently dropped, and the rest flows on.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from central.ingest.batch import Batch
from central.store.rows import Reject
from central.store.writes import Store
from siaga.wire import availability_topic, counts_topic, status_topic

log = logging.getLogger(__name__)

# The database is away, locked or overloaded: waiting and retrying the whole batch is right.
TRANSIENT: tuple[type[BaseException], ...] = (
    OperationalError, InterfaceError, DisconnectionError, PoolTimeout, OSError,
)  # fmt: skip


def is_transient(exc: BaseException) -> bool:
    """True for errors that say the database is unavailable rather than refusing the data."""
    return isinstance(exc, TRANSIENT)


def write_piecewise(store: Store, batch: Batch, *, prefix: str) -> tuple[int, list[Reject]]:
    """Write each item of the batch alone; failing items become `internal_error` rejects.

    Returns the number of new count rows and the rejects added. A transient error on the way
    propagates (the caller retries the whole batch; items already written are idempotent)."""
    now = datetime.now(UTC)
    new, failed = 0, list(batch.rejects)

    def one(topic: str, **item: Any) -> int:
        try:
            return store.write_batch(**item)
        except Exception as exc:
            if is_transient(exc):
                raise
            detail = f"{type(exc).__name__}: {str(exc).splitlines()[0][:250]}"
            log.error("message on %r cannot be stored (%s); recorded as a reject", topic, detail)
            failed.append(Reject(now, topic, "internal_error", detail))
            return 0

    for row in batch.counts:
        new += one(counts_topic(row.agent_id, row.camera_id, prefix), counts=[row])
    for q in batch.quarantined:
        one(counts_topic(q.row.agent_id, q.row.camera_id, prefix), quarantined=[q])
    for a in batch.availability:
        one(availability_topic(a.agent_id, prefix), availability=[a])
    for s in batch.statuses:
        one(status_topic(s.agent_id, prefix), statuses=[s])
    store.write_batch(rejects=failed)
    return new, failed[len(batch.rejects) :]
