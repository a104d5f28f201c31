"""Key reuse with different content: a conflict, recorded, never a silent duplicate.

Counts are written with INSERT … ON CONFLICT DO NOTHING on (agent_id, epoch, seq), which is right
for a redelivery (the same window again) and wrong for a *different* window under a key already
stored: a bug, a box cloned with its outbox, or an agent forging its own history. Both used to look
the same (a "duplicate"). Only when a batch had rows that were not new does this read back the
stored rows under the batch's keys and compare their content; a difference becomes a
`seq_conflict` reject (kept, counted by reason, logged by the collector). The stored row stays:
the first window under a key is the one the figures already used.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, select, tuple_

from central.store import schema
from central.store.rows import CountRow, Reject
from siaga.wire import DEFAULT_PREFIX, counts_topic

# Not content: when central received it, and central's own registry check.
_IGNORED = frozenset({"received_at", "kelurahan_mismatch"})
_COMPARED = tuple(f for f in CountRow._fields if f not in _IGNORED)
_KEYS_PER_QUERY = 500


def find_conflicts(conn: Connection, rows: Sequence[CountRow], *,
                   prefix: str = DEFAULT_PREFIX) -> list[Reject]:  # fmt: skip
    """Rows of the batch whose key is stored with other content (inside the batch's
    transaction, after its insert)."""
    c = schema.counts.c
    key_cols = (c.agent_id, c.epoch, c.seq)
    keys = list(dict.fromkeys((r.agent_id, r.epoch, r.seq) for r in rows))
    stored: dict[tuple[str, str, int], CountRow] = {}
    for i in range(0, len(keys), _KEYS_PER_QUERY):
        part = keys[i : i + _KEYS_PER_QUERY]
        q = select(*(c[f] for f in CountRow._fields)).where(tuple_(*key_cols).in_(part))
        for got in conn.execute(q):
            row = CountRow(*got)
            stored[(row.agent_id, row.epoch, int(row.seq))] = row
    out = []
    for r in rows:
        old = stored.get((r.agent_id, r.epoch, r.seq))
        if old is None:
            continue  # not stored after all (cannot happen inside the insert's transaction)
        diff = differences(old, r)
        if diff:
            epoch = f" epoch {r.epoch!r}" if r.epoch else ""
            detail = (f"agent {r.agent_id!r}{epoch} seq {r.seq} is stored with other content "
                      f"(kept; this window dropped): {'; '.join(diff)}")  # fmt: skip
            out.append(Reject(r.received_at, counts_topic(r.agent_id, r.camera_id, prefix),
                              "seq_conflict", detail))  # fmt: skip
    return out


def differences(stored: CountRow, new: CountRow) -> list[str]:
    """`field: stored → new` for each content field that differs."""
    out = []
    for f in _COMPARED:
        a, b = getattr(stored, f), getattr(new, f)
        if isinstance(a, datetime) and isinstance(b, datetime):
            same = a == b  # instants, whatever the offsets
        elif isinstance(a, float) or isinstance(b, float):
            same = abs(float(a) - float(b)) <= 1e-9 * max(1.0, abs(float(a)))
        else:
            same = a == b
        if not same:
            out.append(f"{f}: {_short(a)} → {_short(b)}")
    return out


def _short(v: object) -> str:
    s = v.isoformat() if isinstance(v, datetime) else repr(v)
    return s if len(s) <= 40 else s[:37] + "..."
