"""The collector's in-between: a bounded inbox of deliveries, and what one batch of them becomes.

The network thread puts everything one socket read delivered into the `Inbox` at once (a chunk);
writer threads take up to batch_max_rows messages across chunks. `classify` validates a batch
(central.ingest.validate.check on every message) into rows to write, rejects, availability and
status updates; the inbox never holds more than its bound, so a full one pushes back on the broker.
Valid windows are then judged by central.ingest.plausibility: stored, quarantined or (a seq no agent
produced) rejected.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Container, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

from central.ingest.packets import Publish
from central.ingest.plausibility import Plausibility
from central.ingest.validate import Outcome, check
from central.store.quarantine import Quarantined
from central.store.rows import Availability, CountRow, Reject, Status, counts_row, excerpt
from siaga.wire import CountsMessage

log = logging.getLogger(__name__)

LOG_EVERY_S = 10.0  # one log line per reject reason per this many seconds


class Chunk(NamedTuple):
    """Deliveries of one socket read: when they came and on which connection."""

    received: float  # time.time()
    gen: int
    pubs: list[Publish]  # (topic, payload, size, packet id, qos)


class Inbox:
    """A bounded FIFO of deliveries, counted in messages.

    The bound covers every message in hand: queued, or taken by get() and not yet done() (being
    validated, waiting for a writer, being written).
    """

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._chunks: deque[Chunk] = deque()
        self._n = 0  # queued
        self._held = 0  # queued, or taken and not yet done()
        self._cond = threading.Condition()

    def __len__(self) -> int:
        """Messages in hand (queued or being handled)."""
        return self._held

    def idle(self) -> bool:
        """Nothing queued and nothing being handled."""
        return self._held == 0

    def put(self, chunk: Chunk, give_up: Callable[[], bool]) -> int:
        """Queue the chunk, waiting for room (in parts when needed); how many were queued."""
        pubs, done = chunk.pubs, 0
        with self._cond:
            while done < len(pubs):
                room = self.maxsize - self._held
                if room <= 0:
                    if give_up():
                        return done
                    self._cond.wait(0.2)
                    continue
                part = pubs if done == 0 and len(pubs) <= room else pubs[done : done + room]
                self._chunks.append(Chunk(chunk.received, chunk.gen, part))
                self._n += len(part)
                self._held += len(part)
                done += len(part)
                self._cond.notify_all()
        return done

    def get(self, max_rows: int, wait_s: float, hurry: Callable[[], bool]) -> list[Chunk]:
        """Up to max_rows messages, waiting at most wait_s after the first (0.1 s for one)."""
        out: list[Chunk] = []
        rows = 0
        with self._cond:
            if not self._n:
                self._cond.wait(0.1)
                if not self._n:
                    return out
            deadline = time.monotonic() + wait_s
            while True:
                while self._chunks and rows < max_rows:
                    c = self._chunks[0]
                    take = max_rows - rows
                    if len(c.pubs) <= take:
                        self._chunks.popleft()
                        out.append(c)
                        rows += len(c.pubs)
                    else:
                        out.append(Chunk(c.received, c.gen, c.pubs[:take]))
                        self._chunks[0] = Chunk(c.received, c.gen, c.pubs[take:])
                        rows += take
                left = deadline - time.monotonic()
                if rows >= max_rows or left <= 0 or hurry():
                    break
                self._cond.wait(left)
            self._n -= rows
        return out

    def done(self, n: int) -> None:
        """n messages from get() are handled (stored, or given up)."""
        with self._cond:
            self._held -= n
            self._cond.notify_all()  # room for the network thread


@dataclass(slots=True)
class Batch:
    """What one batch of deliveries becomes."""

    counts: list[CountRow] = field(default_factory=list)
    quarantined: list[Quarantined] = field(default_factory=list)  # central.store.quarantine
    rejects: list[Reject] = field(default_factory=list)
    availability: list[Availability] = field(default_factory=list)
    statuses: list[Status] = field(default_factory=list)
    flagged: int = 0
    ignored: int = 0
    acks: dict[int, list[int]] = field(default_factory=dict)  # connection → packet ids
    counts_params: Sequence[Sequence[Any]] | None = None  # counts as the driver takes them
    # (agent, epoch) → the highest first_unconfirmed its messages carried (central.ingest.confirm)
    floors: dict[tuple[str, str], int] = field(default_factory=dict)
    size: int = 0  # deliveries in the batch
    started: float = 0.0  # time.perf_counter() when it was taken from the inbox


class RateLimitedLog:
    """Logs the first reject of a reason, then at most one line per LOG_EVERY_S per reason."""

    def __init__(self, what: str = "rejected") -> None:
        self.what = what
        self._last: dict[str, float] = {}
        self._held: Counter[str] = Counter()

    def __call__(self, reason: str, topic: str, detail: str) -> None:
        now = time.monotonic()
        if now - self._last.get(reason, -LOG_EVERY_S) < LOG_EVERY_S:
            self._held[reason] += 1
            return
        self._last[reason] = now
        more = self._held.pop(reason, 0)
        log.warning("%s message on %r: %s: %s%s", self.what, topic[:200], reason, detail[:300],
                    f" ({more} more {reason} since the last line)" if more else "")  # fmt: skip


_quarantine_log = RateLimitedLog("quarantined")


KelurahanLookup = Callable[[str, str], str | None]


def classify(
    chunks: list[Chunk], *, prefix: str, max_payload_bytes: int,
    camera_kelurahan: KelurahanLookup | None, reject_log: RateLimitedLog,
    revoked: Container[str] = frozenset(), plausibility: Plausibility | None = None,
) -> Batch:  # fmt: skip
    """Validate every delivery of a batch and sort it into what to write and what to ack."""
    batch = Batch(size=sum(len(c.pubs) for c in chunks), started=time.perf_counter())
    outcomes = [(received, gen, pubs, [_check(p, prefix, max_payload_bytes, revoked) for p in pubs])
                for received, gen, pubs in chunks]  # fmt: skip
    if plausibility is not None:
        _prepare(plausibility, [o.counts for *_x, outs in outcomes for o in outs if o.counts])
    for received, gen, pubs, outs in outcomes:
        at = datetime.fromtimestamp(received, UTC)
        mids = [mid for _t, _p, _s, mid, qos, _pr in pubs if qos]
        if mids:
            batch.acks.setdefault(gen, []).extend(mids)
        for (topic, payload, _size, _mid, _qos, _props), out in zip(pubs, outs, strict=True):
            if out.counts is not None and plausibility is not None:
                out = _judge(plausibility, out, at, batch, camera_kelurahan)
            if out.counts is not None:
                msg = out.counts
                if msg.epoch and msg.first_unconfirmed is not None:
                    key = (msg.agent_id, msg.epoch)
                    batch.floors[key] = max(batch.floors.get(key, 0), msg.first_unconfirmed)
                if out.reason is not None:  # quarantined (_judge)
                    continue
                flagged = _kelurahan_differs(out, camera_kelurahan)
                batch.flagged += flagged
                batch.counts.append(counts_row(out.counts, received_at=at,
                                               kelurahan_mismatch=flagged))  # fmt: skip
            elif out.reason is not None:
                reject_log(out.reason, topic, out.detail)
                batch.rejects.append(Reject(at, topic, out.reason, out.detail, excerpt(payload)))
            elif out.status is not None:
                batch.statuses.append(Status(out.status.agent_id, payload.decode(),
                                             out.status.time))  # fmt: skip
            elif out.availability is not None:
                batch.availability.append(Availability(out.agent_id, out.availability, at,
                                                       out.since))  # fmt: skip
            else:
                batch.ignored += 1
    return batch


def _check(pub: Publish, prefix: str, max_payload_bytes: int, revoked: Container[str]) -> Outcome:
    topic, payload, size, _mid, _qos, props = pub
    try:
        return check(topic, payload, prefix=prefix, max_payload_bytes=max_payload_bytes,
                     size=size, revoked=revoked, props=props)  # fmt: skip
    except Exception as exc:  # a bug must not stall the pipeline on one message
        log.exception("checking a message on %r failed", topic)
        return Outcome("internal_error", f"{type(exc).__name__}: {exc}")


def _prepare(plausibility: Plausibility, msgs: list[CountsMessage]) -> None:
    try:
        plausibility.prepare(msgs)
    except Exception:  # judged with what it has: never a stalled pipeline
        log.exception("preparing the plausibility checks failed")


def _judge(plausibility: Plausibility, out: Outcome, at: datetime, batch: Batch,
           lookup: KelurahanLookup | None) -> Outcome:  # fmt: skip
    """out as stored (unchanged), quarantined (added to the batch; reason set) or rejected."""
    msg = out.counts
    assert msg is not None
    try:
        v = plausibility.judge(msg, at)
    except Exception as exc:
        log.exception("judging a window of %s failed", msg.agent_id)
        return Outcome("internal_error", f"{type(exc).__name__}: {exc}")
    if v.reject is not None:
        return Outcome(v.reject, v.detail)
    if v.quarantine is not None:
        row = counts_row(msg, received_at=at, kelurahan_mismatch=_kelurahan_differs(out, lookup))
        batch.quarantined.append(Quarantined(row, v.quarantine, v.detail))
        _quarantine_log(v.quarantine, f"{msg.agent_id}/{msg.camera_id} seq {msg.seq}", v.detail)
        return out._replace(reason=v.quarantine, detail=v.detail)
    return out


def _kelurahan_differs(out: Outcome, lookup: KelurahanLookup | None) -> bool:
    msg = out.counts
    if lookup is None or msg is None:
        return False
    try:
        expected = lookup(msg.agent_id, msg.camera_id)
    except Exception:
        log.exception("camera registry lookup failed for %s/%s", msg.agent_id, msg.camera_id)
        return False
    return expected is not None and expected != msg.kelurahan_code
