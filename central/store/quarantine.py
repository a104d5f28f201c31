"""Quarantined count windows: kept with their reason, out of every figure.

A window that passes the wire contract but cannot be true (central/ingest/plausibility.py) is
written to the `quarantine` table instead of `counts`, with the reason and what was wrong; GET
/quarantine shows the newest, and the collector counts them by reason in /metrics.

Why a table of its own rather than a `quarantined` column on `counts`:
- Every figure (summaries, rules, the daily report, open data, /cameras' last window, /windows)
  reads `counts`. With a column, each of those queries, and every one written later, would have
  to remember the filter, and one that forgot would let a single box bend the city's figures
  again. With a table of its own none of them can take a quarantined window in, unchanged.
- The price is paid in delivery, where quarantined windows must still count as stored: an agent
  keeps each window until central confirms it (central/ingest/confirm.py), and the confirmation is a
  contiguous watermark over the stored seqs. A seq that is in `quarantine`, not in `counts`,
  must not stall it: the collector hands quarantined rows to the confirmer with the batch's
  counts (so the watermark walks over them as they arrive), and where the confirmer reads the
  store (central/ingest/confirm.py, _walk_store: after a restart, or over a hole) it must read
  `delivered_seqs` below, counts and quarantine together. Likewise /gaps should not call a
  quarantined seq missing.
- A key already in `counts` is not written here again (a redelivery judged otherwise later, say
  after a registry change, stays what the figures already used); a redelivered quarantined
  window is a no-op (ON CONFLICT). The other way round is not checked on the hot path: a window
  quarantined as from the future and sent again once its time has come is then stored (its
  box's clock was wrong, not its count); a confirmed window is not sent again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, Engine, func, select, tuple_, union
from sqlalchemy.dialects import postgresql, sqlite

from central.store import schema
from central.store.rows import CountRow, clean

DETAIL_CHARS = 1000
_KEYS_PER_QUERY = 500


class Quarantined(NamedTuple):
    """One window to quarantine: its counts row, the reason, what was wrong."""

    row: CountRow
    reason: str
    detail: str


def write(conn: Connection, rows: Sequence[Quarantined]) -> int:
    """Insert rows (inside the batch's transaction, after its counts); returns how many were new.

    Keys already in `counts` are left out; keys already quarantined are no-ops."""
    if not rows:
        return 0
    c = schema.counts.c
    keys = list(dict.fromkeys((q.row.agent_id, q.row.epoch, q.row.seq) for q in rows))
    stored: set[tuple[str, str, int]] = set()
    for i in range(0, len(keys), _KEYS_PER_QUERY):
        q = select(c.agent_id, c.epoch, c.seq).where(
            tuple_(c.agent_id, c.epoch, c.seq).in_(keys[i : i + _KEYS_PER_QUERY])
        )
        stored |= {(a, e, int(s)) for a, e, s in conn.execute(q)}
    values = [{**q.row._asdict(), "reason": q.reason[:32], "detail": clean(q.detail, DETAIL_CHARS)}
              for q in rows if (q.row.agent_id, q.row.epoch, q.row.seq) not in stored]  # fmt: skip
    if not values:
        return 0
    t = schema.quarantine
    ins = postgresql.insert(t) if conn.dialect.name == "postgresql" else sqlite.insert(t)
    stmt = ins.on_conflict_do_nothing(index_elements=["agent_id", "epoch", "seq"])
    return max(0, conn.execute(stmt, values).rowcount)


def delivered_seqs(conn: Connection, agent_id: str, epoch: str, *, above: int,
                   limit: int) -> list[int]:  # fmt: skip
    """The lowest `limit` seqs above `above` of one agent's epoch that central holds, stored or
    quarantined, ascending: what the confirmer's watermark may walk over."""
    c, q = schema.counts.c, schema.quarantine.c
    both = union(
        select(c.seq.label("seq")).where(c.agent_id == agent_id, c.epoch == epoch, c.seq > above),
        select(q.seq.label("seq")).where(q.agent_id == agent_id, q.epoch == epoch, q.seq > above),
    ).subquery()
    rows = conn.execute(select(both.c.seq).order_by(both.c.seq).limit(limit))
    return [int(s) for (s,) in rows]


def quarantined_seqs(conn: Connection, agent_id: str, epoch: str, *, first: int,
                     last: int) -> list[int]:  # fmt: skip
    """The quarantined seqs of one agent's epoch within [first, last], ascending."""
    q = schema.quarantine.c
    where = (q.agent_id == agent_id, q.epoch == epoch, q.seq >= first, q.seq <= last)
    rows = conn.execute(select(q.seq).where(*where).order_by(q.seq))
    return [int(s) for (s,) in rows]


def totals(engine: Engine) -> dict[str, int]:
    """Quarantined windows held, by reason."""
    q = schema.quarantine.c
    with engine.connect() as conn:
        rows = conn.execute(select(q.reason, func.count()).group_by(q.reason)).all()
    return {str(r): int(n) for r, n in rows}


def recent(engine: Engine, *, limit: int = 100, agent_id: str | None = None,
           reason: str | None = None) -> list[dict[str, Any]]:  # fmt: skip
    """The newest quarantined windows (by receive time), as JSON-ready dicts."""
    t = schema.quarantine
    q = select(t)
    if agent_id is not None:
        q = q.where(t.c.agent_id == agent_id)
    if reason is not None:
        q = q.where(t.c.reason == reason)
    q = q.order_by(t.c.received_at.desc(), t.c.agent_id, t.c.epoch, t.c.seq.desc()).limit(limit)
    with engine.connect() as conn:
        rows = conn.execute(q).mappings().all()
    return [{k: _json(v) for k, v in r.items()} for r in rows]


def by_reason(rows: Sequence[Quarantined]) -> Counter[str]:
    """How many of rows per reason."""
    return Counter(q.reason for q in rows)


def _json(v: Any) -> Any:
    return v.astimezone(UTC).isoformat() if isinstance(v, datetime) else v
