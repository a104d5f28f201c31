"""The collector: MQTT v5 shared subscription → validation → batched, idempotent writes.

How no message is lost, even when a collector crashes or restarts:
- A persistent session: clean start off with a session expiry, and the client id is the
  collector's instance name. While it is down the broker keeps its subscriptions and queues the
  messages for it; a new process with the same instance name picks them up.
- A QoS 1 message is acknowledged only after its batch has been committed (or the message was
  rejected and recorded). A message received but not committed when the process dies is
  redelivered by the broker.
- The redelivery makes duplicates, not loss: counts are keyed on (agent_id, seq), ON CONFLICT DO
  NOTHING. An ack is only sent on the connection the message came in on (packet ids are
  per connection; acking a stale id could acknowledge a newer message not yet stored).
- With several writer threads (PostgreSQL), PUBACKs may leave out of receipt order; brokers
  match them by packet id (Mosquitto and EMQX accept any order).
- Receive Maximum (CONNECT, ≤ the queue size) asks the broker to keep only a few batches
  unacknowledged in flight to us; the bounded inbox is the hard limit: when full, the network
  thread waits and TCP pushes back on the broker.

The ingest connection is central.ingest.client (many messages per socket read, PUBACKs written in
bulk), not paho: paho's per-message Python cost was the collector's ceiling. Its network thread
only enqueues; a checker thread validates the next batch while a writer thread commits the
previous one (benchmarks/ingest.py measures the whole). Agent status and availability use
non-shared subscriptions: every collector sees them and upserts them, guarded by time so that
the newest report wins whatever order collectors write in.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from typing import Any

from central.config import CentralConfig
from central.ingest.batch import Batch, Chunk, Inbox, RateLimitedLog, classify
from central.ingest.client import IngestClient, Subscription
from central.ingest.confirm import Confirmer
from central.ingest.histograms import IngestHistograms
from central.ingest.packets import RETAIN_SEND_IF_NEW, Publish
from central.ingest.plausibility import Plausibility
from central.ingest.revoked import RevokedAgents
from central.ingest.salvage import is_transient, write_piecewise
from central.store.rows import EXCERPT_BYTES, Reject
from central.store.writes import Store
from siaga.mqtt import check_tls_files
from siaga.wire import counts_subscription

log = logging.getLogger(__name__)

SESSION_EXPIRY_S = 86_400  # how long the broker queues for a collector that is down
RECEIVE_MAX = 65_535  # MQTT's ceiling for unacknowledged messages in flight to us
MAX_PACKET_FLOOR_BYTES = 1 << 20
DB_RETRY_MIN_S, DB_RETRY_MAX_S = 0.2, 10.0
REFUSED_TRIES = 3  # then the batch is written item by item (central/ingest/salvage.py)
LAG_SAMPLES = 10_000


class Collector:
    """Subscribes to every agent's counts (shared), status and availability; stores them."""

    def __init__(
        self,
        cfg: CentralConfig,
        store: Store,
        *,
        camera_kelurahan: Callable[[str, str], str | None] | None = None,
        session_expiry_s: int = SESSION_EXPIRY_S,
        confirmer: Confirmer | None = None,
    ) -> None:
        check_tls_files(cfg.mqtt)
        self.cfg, self.store, self.camera_kelurahan = cfg, store, camera_kelurahan
        self.confirmer = confirmer  # tells agents what is committed (central.ingest.confirm)
        self.plausibility = Plausibility.from_config(cfg, store.engine)  # [plausibility]
        self.session_expiry_s = session_expiry_s
        m = cfg.mqtt
        self.instance = cfg.central.instance
        self.prefix, self.max_payload_bytes = m.topic_prefix, m.max_payload_bytes
        st = cfg.storage
        # In flight to us at most: a few batches ahead keeps the writers busy (more did not
        # add throughput), and bounds the memory held to receive_max payloads.
        self.writers = 1 if store.dialect == "sqlite" else st.writers  # SQLite: one at a time
        self.receive_max = min(RECEIVE_MAX, st.queue_max,
                               max(100, 10 * st.batch_max_rows * self.writers))  # fmt: skip
        self._inbox = Inbox(st.queue_max)
        # Checked batches on their way to the writers: validation of the next batch overlaps
        # the database's work on this one (SQLite and psycopg release the GIL meanwhile).
        self._checked: queue.Queue[Batch] = queue.Queue(maxsize=self.writers)
        self._lock = threading.Lock()  # guards the figures below
        self._client: IngestClient | None = None
        self._threads: list[threading.Thread] = []
        self._draining = threading.Event()  # stop(): the queue is being emptied
        self._closed = threading.Event()  # stop(): writers end once the queue is empty
        self._halt = threading.Event()  # stop(): out of time, writers end now
        self._received = 0  # written by the network thread only
        self._counts: Counter[str] = Counter()
        self._rejected: Counter[str] = Counter()
        self._quarantined: Counter[str] = Counter()
        self._last_batch_ms = 0.0
        self._lag_ms: deque[float] = deque(maxlen=LAG_SAMPLES)
        self.histograms = IngestHistograms()  # for Prometheus (central/api/metrics.py)
        self._reject_log = RateLimitedLog()
        self._revoked = RevokedAgents(cfg.fleet.revoked_file)  # `siaga fleet revoke`, live

    # ---- public side ----

    def start(self) -> None:
        """Connect (in the background, reconnecting with backoff) and start the writers."""
        if self._client is not None:
            raise RuntimeError("collector already started")
        m = self.cfg.mqtt
        # Retained status/availability only when the subscription is new (not on every resume).
        subs = [Subscription(counts_subscription(m.topic_prefix, m.share_group)),
                Subscription(f"{m.topic_prefix}/+/status", retain_handling=RETAIN_SEND_IF_NEW),
                Subscription(f"{m.topic_prefix}/+/availability",
                             retain_handling=RETAIN_SEND_IF_NEW)]  # fmt: skip
        self._client = IngestClient(
            m, self.instance, subs, on_messages=self._on_messages,
            session_expiry_s=self.session_expiry_s, receive_max=self.receive_max,
            max_packet_bytes=min(268_435_455, max(MAX_PACKET_FLOOR_BYTES,
                                                  4 * m.max_payload_bytes)),
            cut_payload_over=m.max_payload_bytes, cut_to=EXCERPT_BYTES,
            reconnect_min_s=m.reconnect_min_s, reconnect_max_s=m.reconnect_max_s,
        )  # fmt: skip
        names = ["collector-check"] + [f"collector-writer-{i}" for i in range(self.writers)]
        targets = [self._checker] + [self._writer] * self.writers
        self._threads = [threading.Thread(target=f, name=n, daemon=True)
                         for f, n in zip(targets, names, strict=True)]  # fmt: skip
        for t in self._threads:
            t.start()
        self._client.start()
        log.info("collector %s: MQTT %s:%d (TLS %s), %d writer(s), database %s", self.instance,
                 m.host, m.port, "on" if m.tls_enabled else "off", self.writers,
                 self.store.dialect)  # fmt: skip

    @property
    def connected(self) -> bool:
        """True while connected and every subscription is acknowledged."""
        return self._client is not None and self._client.ready

    @property
    def broker_cert_expiry(self) -> float | None:
        """The broker's certificate's notAfter (Unix time) at the last TLS connection."""
        return self._client.broker_cert_expiry if self._client is not None else None

    @property
    def stored(self) -> int:
        """New count rows stored so far (cheaper than metrics() for polling)."""
        return self._counts["stored"]

    def wait_ready(self, timeout_s: float) -> bool:
        """Wait (bounded) until connected and subscribed."""
        deadline = time.monotonic() + timeout_s
        while not self.connected:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)
        return True

    def stop(self, timeout_s: float = 5.0) -> None:
        """Store and acknowledge what is queued, disconnect (the session stays), end the writers.

        Whatever is not stored by then is not acknowledged either: the broker delivers it again
        to the next collector with this instance name.
        """
        deadline = time.monotonic() + max(0.0, timeout_s)
        self._draining.set()
        client = self._client
        if client is not None:
            client.pause_reading()  # what the broker has not sent yet stays in the session
        drain_until = time.monotonic() + max(0.0, timeout_s) / 2
        while time.monotonic() < drain_until and not self._inbox.idle():
            time.sleep(0.02)
        if client is not None:
            # The acks queued so far go out, then DISCONNECT; later acks are dropped.
            client.stop(max(0.1, min(1.0, deadline - time.monotonic())))
        self._closed.set()
        for t in self._threads:
            t.join(timeout=max(0.0, deadline - time.monotonic()))
        self._halt.set()
        for t in self._threads:
            t.join(timeout=1.0)
        self._threads = [t for t in self._threads if t.is_alive()]
        if self._threads:
            log.warning("collector %s: %d writer(s) still busy at stop", self.instance,
                        len(self._threads))  # fmt: skip

    def revoked_agents(self) -> frozenset[str]:
        """The agent ids revoked now (`[fleet] revoked_file`, re-read when it changes)."""
        return self._revoked.current()

    def metrics(self) -> dict[str, Any]:
        """Counters and gauges of this collector (JSON-ready)."""
        client = self._client
        with self._lock:
            lags = sorted(lag * 1000 for lag in self._lag_ms)  # held in seconds
            c = self._counts
            return {
                "instance": self.instance,
                "connected": client is not None and client.live,
                "subscribed": client is not None and client.ready,
                "connects": client.connects if client is not None else 0,
                "received": self._received, "stored": c["stored"],
                "duplicates": c["duplicates"], "rejected": dict(self._rejected),
                "rejected_total": sum(self._rejected.values()),
                "quarantined": dict(self._quarantined),
                "flagged": {"kelurahan_mismatch": c["kelurahan_mismatch"]},
                "availability_updates": c["availability"], "status_updates": c["status"],
                "ignored": c["ignored"], "acked": c["acked"], "queue_depth": len(self._inbox),
                "queue_max": self._inbox.maxsize, "receive_max": self.receive_max,
                "batches": c["batches"],
                "last_batch_ms": round(self._last_batch_ms, 3), "db_errors": c["db_errors"],
                "lag_ms_p50": _percentile(lags, 0.50), "lag_ms_p99": _percentile(lags, 0.99),
            }  # fmt: skip

    # ---- the network thread: only enqueue ----

    def _on_messages(self, pubs: list[Publish], received: float, gen: int) -> None:
        self._received += len(pubs)
        # A full inbox: wait (back-pressure), unless we are stopping; what is not queued is
        # not acknowledged, so the broker delivers it again.
        self._inbox.put(Chunk(received, gen, pubs), self._draining.is_set)

    # ---- the checker thread, then the writer threads ----

    def _checker(self) -> None:
        st = self.cfg.storage
        wait_s = st.batch_max_wait_ms / 1000
        while not self._halt.is_set():
            chunks = self._inbox.get(st.batch_max_rows, wait_s, self._draining.is_set)
            if not chunks:
                if self._closed.is_set():
                    return
                continue
            try:
                batch = classify(chunks, prefix=self.prefix,
                                 max_payload_bytes=self.max_payload_bytes,
                                 camera_kelurahan=self.camera_kelurahan,
                                 reject_log=self._reject_log,
                                 revoked=self._revoked.current(),
                                 plausibility=self.plausibility)  # fmt: skip
                if batch.counts:  # here, not on the writer thread: that one is the bottleneck
                    batch.counts_params = self.store.prepare_counts(batch.counts)
            except Exception:
                self._failed(sum(len(c.pubs) for c in chunks))
                continue
            while True:
                try:
                    self._checked.put(batch, timeout=0.1)
                    break
                except queue.Full:
                    if self._halt.is_set():
                        self._inbox.done(batch.size)  # not stored, not acknowledged
                        return

    def _writer(self) -> None:
        checker = self._threads[0]
        while not self._halt.is_set():
            try:
                batch = self._checked.get(timeout=0.1)
            except queue.Empty:
                if self._closed.is_set() and not checker.is_alive() and self._checked.empty():
                    return
                continue
            try:
                self._handle(batch)
            except Exception:
                self._failed(batch.size)
            else:
                self._inbox.done(batch.size)

    def _failed(self, n: int) -> None:
        # Not stored, not acknowledged: drop the connection so that the broker sends them
        # again (unacknowledged messages also hold its Receive Maximum window).
        log.exception("collector %s: batch of %d failed; reconnecting", self.instance, n)
        self._inbox.done(n)
        if self._client is not None:
            self._client.reconnect()

    def _handle(self, batch: Batch) -> None:
        conflicts: list[Reject] = []
        new = self._write(batch, conflicts)
        if new is None:
            return  # halted while the database was unavailable: not acknowledged
        acked = self._ack(batch)
        for r in conflicts:
            self._reject_log(r.reason, r.topic, r.detail)
        batch.rejects.extend(conflicts)  # counted by reason below (already stored)
        if self.confirmer is not None and (batch.counts or batch.quarantined):
            try:  # a quarantined window is delivered too: it must not hold the agent's mark
                self.confirmer.after_commit([*batch.counts, *(q.row for q in batch.quarantined)],
                                            batch.floors)  # fmt: skip
            except Exception:  # the agents re-send and are confirmed after a later batch
                log.exception("collector %s: confirming a batch to its agents failed",
                              self.instance)  # fmt: skip
        now = time.time()
        lags_s = [now - r.window_end.timestamp() for r in batch.counts]
        took_s = time.perf_counter() - batch.started
        self.histograms.observe_batch(lags_s, batch.size, took_s)
        with self._lock:
            c = self._counts
            c["stored"] += new
            c["duplicates"] += len(batch.counts) - new
            c["availability"] += len(batch.availability)
            c["status"] += len(batch.statuses)
            c["kelurahan_mismatch"] += batch.flagged
            c["ignored"] += batch.ignored
            c["batches"] += 1
            c["acked"] += acked
            if batch.rejects:
                self._rejected.update(r.reason for r in batch.rejects)
            self._quarantined.update(q.reason for q in batch.quarantined)
            self._last_batch_ms = took_s * 1000
            self._lag_ms.extend(lags_s)

    def _write(self, batch: Batch, conflicts: list[Reject]) -> int | None:
        """Commit the batch, retrying while the database is unavailable; None if halted.

        A batch refused REFUSED_TRIES times for a reason other than the database being away is
        written item by item, and what still fails is recorded as an `internal_error` reject
        (central/ingest/salvage.py): one bad message never stalls ingest."""
        delay, refused = DB_RETRY_MIN_S, 0
        while True:
            try:
                if refused >= REFUSED_TRIES:
                    new, added = write_piecewise(self.store, batch, prefix=self.prefix)
                    batch.rejects.extend(added)  # counted with the batch's own rejects
                    return new
                return self.store.write_batch(counts=batch.counts, rejects=batch.rejects,
                                              availability=batch.availability,
                                              statuses=batch.statuses,
                                              quarantined=batch.quarantined,
                                              counts_params=batch.counts_params,
                                              conflicts=conflicts, prefix=self.prefix)  # fmt: skip
            except Exception as exc:
                refused += 0 if is_transient(exc) else 1
                with self._lock:
                    self._counts["db_errors"] += 1
                log.warning("collector %s: database write failed (%s); retrying in %.1f s",
                            self.instance, str(exc).splitlines()[0][:300], delay)  # fmt: skip
                if self._halt.wait(delay):
                    return None
                delay = min(DB_RETRY_MAX_S, delay * 2)

    def _ack(self, batch: Batch) -> int:
        client = self._client
        if client is None:
            return 0
        return sum(client.ack(mids, gen) for gen, mids in batch.acks.items())


def _percentile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    return round(sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))], 3)
