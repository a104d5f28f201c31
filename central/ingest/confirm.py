"""End-to-end confirmation: tell each agent how far its windows are committed to the store.

An agent keeps every window until central says it stored it (wire.AckMessage on the retained
`siaga/v1/<agent>/ack`), so a broker that crashes before saving a message, or loses its database,
costs a re-send and never a window. The confirmation is a watermark per (agent, epoch): every seq
up to it is in the store. A watermark, not a list: one retained message per agent holds the whole
state, an agent that reconnects reads it at once, and a lost or stale one only means a re-send.

How the watermark is found without scanning an agent's history: each counts message says the
lowest seq its agent still held (`first_unconfirmed`); everything below was confirmed or dropped by
the outbox cap, so the watermark starts there at the latest. From there it walks the batch's own
seqs (the steady state: the next seq arrives, the watermark moves by one, no query) and reads the
store only where the batch leaves a hole or this collector has not seen the agent before.

Several collectors may confirm the same agent: each publishes what it computed, and an agent
only ever moves forward (a lower confirmation deletes nothing), so the worst case is a re-send.
Agents without an epoch (before confirmation) are not confirmed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime

from sqlalchemy import Engine

from central.store.quarantine import delivered_seqs
from central.store.rows import CountRow
from siaga.wire import AckMessage, ack_topic

log = logging.getLogger(__name__)

Key = tuple[str, str]  # (agent_id, epoch)
Publish = Callable[[str, bytes], object]  # topic, payload: retained, QoS 1
PAGE = 1000


class Confirmer:
    """Computes each agent epoch's committed watermark after a batch and publishes it."""

    def __init__(self, engine: Engine, publish: Publish, *, prefix: str) -> None:
        self.engine = engine
        self.publish = publish
        self.prefix = prefix
        self._lock = threading.Lock()  # several writer threads may commit batches
        self._mark: dict[Key, int] = {}  # highest contiguous committed seq, as computed here
        self._sent: dict[Key, int] = {}  # what was last published
        self._top: dict[Key, int] = {}  # the highest seq seen committed here
        self.published = 0

    def after_commit(self, rows: Iterable[CountRow], floors: Mapping[Key, int]) -> int:
        """Confirm what a committed batch made contiguous; returns how many acks went out.

        floors: per (agent, epoch) of the batch, the highest first_unconfirmed its messages
        carried. An agent sending again what it already sent (a seq at or below its
        confirmation) is re-told, since it may have missed the retained message.
        """
        seqs: dict[Key, set[int]] = {}
        for r in rows:
            if r.epoch:
                seqs.setdefault((r.agent_id, r.epoch), set()).add(r.seq)
        out = 0
        with self._lock:
            for key, batch in seqs.items():
                mark = self._advance(key, batch, floors.get(key, 0) - 1)
                again = min(batch) <= self._sent.get(key, -1)
                if mark > 0 and (mark > self._sent.get(key, 0) or again):
                    self._send(key, mark)
                    out += 1
        return out

    def _advance(self, key: Key, batch: set[int], floor: int) -> int:
        known = key in self._mark
        top = self._top[key] = max(self._top.get(key, 0), *batch)
        mark = max(self._mark.get(key, 0), floor)
        while mark + 1 in batch:
            mark += 1
        if not known or mark < top:  # a hole, or windows committed above it earlier
            mark = self._walk_store(key, mark)
        self._mark[key] = mark
        return mark

    def _walk_store(self, key: Key, mark: int) -> int:
        """Move the watermark over what central holds contiguously above it."""
        agent, epoch = key
        while True:
            # Stored or quarantined: central holds both, and the agent must not send either again.
            with self.engine.connect() as conn:
                page = delivered_seqs(conn, agent, epoch, above=mark, limit=PAGE)
            for s in page:
                if s != mark + 1:
                    return mark
                mark = s
            if len(page) < PAGE:
                return mark

    def _send(self, key: Key, mark: int) -> None:
        agent, epoch = key
        msg = AckMessage(agent_id=agent, epoch=epoch, seq=mark, time=datetime.now(UTC))
        try:
            self.publish(ack_topic(agent, self.prefix), msg.to_payload())
        except Exception:  # the agent re-sends and is confirmed with the next batch
            log.exception("confirming seq ..%d to agent %s failed", mark, agent)
            return
        self._sent[key] = mark
        self.published += 1
