"""The collector: MQTT v5 shared subscription → validation → batched, idempotent writes.

How no message is lost, even when a collector crashes or restarts:
- A persistent session: clean_start=False with a session expiry, and the client id is the
  collector's instance name. While it is down the broker keeps its subscriptions and queues the
  messages for it; a new process with the same instance name picks them up.
- manual_ack: paho does not acknowledge a QoS 1 message on receipt. A PUBACK goes out only
  after the message's batch has been committed (or the message was rejected and recorded). A
  message received but not committed when the process dies is redelivered by the broker.
- The redelivery makes duplicates, not loss: counts are keyed on (agent_id, seq), ON CONFLICT DO
  NOTHING. An ack is only sent on the connection the message came in on (packet ids are
  per connection; acking a stale id could acknowledge a newer message not yet stored).
- With several writer threads (PostgreSQL), PUBACKs may leave out of receipt order; brokers
  match them by packet id (Mosquitto and EMQX accept any order).
- Receive Maximum (CONNECT, ≤ the queue size) asks the broker to keep only a few batches
  unacknowledged in flight to us. Mosquitto 2.0.11 does not keep to it once PUBACKs flow
  (measured: each PUBACK released about Receive Maximum more), so the bounded queue is the hard
  limit: when full, the network thread waits and TCP pushes back on the broker.

Paho's callbacks only enqueue; validation and writes happen in worker threads. Agent status and
availability use non-shared subscriptions: every collector sees them and upserts them, guarded by
time so that the newest report wins whatever order collectors write in.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import socket
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from central.config import CentralConfig
from central.store import EXCERPT_BYTES, Availability, Reject, Status, Store, counts_row, excerpt
from central.validate import Outcome, check
from siaga.mqtt import check_tls_files, configure_client
from siaga.wire import counts_subscription

log = logging.getLogger(__name__)

SESSION_EXPIRY_S = 86_400  # how long the broker queues for a collector that is down
RECEIVE_MAX = 65_535  # MQTT's ceiling for unacknowledged messages in flight to us
MAX_PACKET_FLOOR_BYTES = 1 << 20
DB_RETRY_MIN_S, DB_RETRY_MAX_S = 0.2, 10.0
LOG_EVERY_S = 10.0  # one log line per reject reason per this many seconds
LAG_SAMPLES = 10_000


class _Item(NamedTuple):
    """One delivery as the network thread saw it (a tuple: cheap to make on that thread)."""

    topic: str
    payload: bytes
    size: int  # the original size (payload is cut when oversized)
    received: float  # time.time()
    mid: int
    qos: int
    gen: int  # which connection it came on


@dataclass(slots=True)
class _Batch:
    """What one batch of deliveries becomes."""

    counts: list[dict[str, Any]] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    availability: list[Availability] = field(default_factory=list)
    statuses: list[Status] = field(default_factory=list)
    flagged: int = 0
    ignored: int = 0


class _RateLimitedLog:
    """Logs the first reject of a reason, then at most one line per LOG_EVERY_S per reason."""

    def __init__(self) -> None:
        self._last: dict[str, float] = {}
        self._held: Counter[str] = Counter()

    def __call__(self, reason: str, topic: str, detail: str) -> None:
        now = time.monotonic()
        if now - self._last.get(reason, -LOG_EVERY_S) < LOG_EVERY_S:
            self._held[reason] += 1
            return
        self._last[reason] = now
        more = self._held.pop(reason, 0)
        log.warning("rejected message on %r: %s: %s%s", topic[:200], reason, detail[:300],
                    f" ({more} more {reason} since the last line)" if more else "")  # fmt: skip


class Collector:
    """Subscribes to every agent's counts (shared), status and availability; stores them."""

    def __init__(
        self,
        cfg: CentralConfig,
        store: Store,
        *,
        camera_kelurahan: Callable[[str, str], str | None] | None = None,
        session_expiry_s: int = SESSION_EXPIRY_S,
    ) -> None:
        check_tls_files(cfg.mqtt)
        self.cfg, self.store, self.camera_kelurahan = cfg, store, camera_kelurahan
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
        self._queue: queue.Queue[_Item] = queue.Queue(maxsize=cfg.storage.queue_max)
        self._lock = threading.Lock()  # guards the connection state and the figures below
        self._client: mqtt.Client | None = None
        self._threads: list[threading.Thread] = []
        self._draining = threading.Event()  # stop(): the queue is being emptied
        self._closed = threading.Event()  # stop(): writers end once the queue is empty
        self._halt = threading.Event()  # stop(): out of time, writers end now
        self._disconnected = threading.Event()  # paho reported the connection closed
        self._gen = 0
        self._connected = self._subscribed = False
        self._pending_subs: set[int] = set()
        self._busy = 0  # batches being processed right now
        self._received = 0  # written by the network thread only
        self._counts: Counter[str] = Counter()
        self._rejected: Counter[str] = Counter()
        self._last_batch_ms = 0.0
        self._lag_ms: deque[float] = deque(maxlen=LAG_SAMPLES)
        self._reject_log = _RateLimitedLog()

    # ---- public side ----

    def start(self) -> None:
        """Connect (in the background, reconnecting with backoff) and start the writers."""
        if self._client is not None:
            raise RuntimeError("collector already started")
        self._client = self._new_client()
        m = self.cfg.mqtt
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.session_expiry_s
        props.ReceiveMaximum = self.receive_max
        props.MaximumPacketSize = min(268_435_455, max(MAX_PACKET_FLOOR_BYTES,
                                                       4 * m.max_payload_bytes))  # fmt: skip
        self._client.connect_async(m.host, m.port, keepalive=m.keepalive_s, clean_start=False,
                                   properties=props)  # fmt: skip
        for i in range(self.writers):
            t = threading.Thread(target=self._writer, name=f"collector-writer-{i}", daemon=True)
            t.start()
            self._threads.append(t)
        self._client.loop_start()
        log.info("collector %s: MQTT %s:%d (TLS %s), %d writer(s), database %s", self.instance,
                 m.host, m.port, "on" if m.tls_enabled else "off", self.writers,
                 self.store.dialect)  # fmt: skip

    @property
    def connected(self) -> bool:
        """True while connected and every subscription is acknowledged."""
        with self._lock:
            return self._connected and self._subscribed

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
        drain_until = time.monotonic() + max(0.0, timeout_s) / 2
        while time.monotonic() < drain_until and not self._idle():
            time.sleep(0.02)
        client = self._client
        if client is not None:
            with self._lock:
                self._connected = False  # no ack may follow the DISCONNECT
            client.disconnect()
            # The acks queued so far go out before the DISCONNECT, but only if paho's thread
            # lives until it has written it: loop_stop() right away would drop them, and the
            # broker would deliver those messages again.
            self._disconnected.wait(max(0.1, min(1.0, deadline - time.monotonic())))
            client.loop_stop()
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

    def metrics(self) -> dict[str, Any]:
        """Counters and gauges of this collector (JSON-ready)."""
        with self._lock:
            lags = sorted(self._lag_ms)
            c = self._counts
            return {
                "instance": self.instance, "connected": self._connected,
                "subscribed": self._subscribed, "connects": c["connects"],
                "received": self._received, "stored": c["stored"],
                "duplicates": c["duplicates"], "rejected": dict(self._rejected),
                "rejected_total": sum(self._rejected.values()),
                "flagged": {"kelurahan_mismatch": c["kelurahan_mismatch"]},
                "availability_updates": c["availability"], "status_updates": c["status"],
                "ignored": c["ignored"], "acked": c["acked"], "queue_depth": self._queue.qsize(),
                "queue_max": self._queue.maxsize, "receive_max": self.receive_max,
                "batches": c["batches"],
                "last_batch_ms": round(self._last_batch_ms, 3), "db_errors": c["db_errors"],
                "lag_ms_p50": _percentile(lags, 0.50), "lag_ms_p99": _percentile(lags, 0.99),
            }  # fmt: skip

    def _idle(self) -> bool:
        with self._lock:
            return self._queue.empty() and self._busy == 0

    # ---- the network thread (paho): only enqueue ----

    def _new_client(self) -> mqtt.Client:
        m = self.cfg.mqtt
        c = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2,
                        client_id=self.instance, protocol=mqtt.MQTTv5, manual_ack=True)  # fmt: skip
        configure_client(c, m, username=m.username)
        # paho annotates ints but computes with floats; it doubles the delay up to the maximum.
        c.reconnect_delay_set(min_delay=m.reconnect_min_s, max_delay=m.reconnect_max_s)  # type: ignore[arg-type]
        c.on_connect, c.on_disconnect = self._on_connect, self._on_disconnect
        c.on_subscribe, c.on_message = self._on_subscribe, self._on_message
        return c

    def _on_connect(self, c: mqtt.Client, _u: Any, flags: Any, code: ReasonCode, _p: Any) -> None:
        m = self.cfg.mqtt
        if code.is_failure:
            log.error("collector %s: broker %s:%d refused the connection (user %r): %s",
                      self.instance, m.host, m.port, m.username, code)  # fmt: skip
            return
        prefix = m.topic_prefix
        # Retained status/availability only when the subscription is new (not on every resume).
        once = SubscribeOptions(qos=1, retainHandling=SubscribeOptions.RETAIN_SEND_IF_NEW_SUB)
        topics = [(counts_subscription(prefix, m.share_group), SubscribeOptions(qos=1)),
                  (f"{prefix}/+/status", once), (f"{prefix}/+/availability", once)]  # fmt: skip
        self._disconnected.clear()
        with self._lock:
            self._gen += 1
            self._connected, self._subscribed = True, False
            self._counts["connects"] += 1
            _rc, mid = c.subscribe(topics)
            self._pending_subs = {mid or 0}
        log.info("collector %s connected to %s:%d (session %s)", self.instance, m.host, m.port,
                 "resumed" if flags.session_present else "new")  # fmt: skip

    def _on_subscribe(self, _c: Any, _u: Any, mid: int, codes: list[ReasonCode], _p: Any) -> None:
        failed = [str(rc) for rc in codes if rc.is_failure]
        if failed:
            log.error("collector %s: subscription refused: %s", self.instance, ", ".join(failed))
            return
        with self._lock:
            self._pending_subs.discard(mid)
            self._subscribed = not self._pending_subs

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, code: ReasonCode, _p: Any) -> None:
        with self._lock:
            was, self._connected, self._subscribed = self._connected, False, False
        self._disconnected.set()
        if was and not self._draining.is_set():
            log.warning("collector %s: connection lost (%s); reconnecting", self.instance, code)

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        payload, size = bytes(msg.payload), len(msg.payload)
        if size > self.max_payload_bytes:
            payload = payload[:EXCERPT_BYTES]  # keep only what a reject row shows
        self._received += 1
        item = _Item(msg.topic, payload, size, time.time(), msg.mid, msg.qos, self._gen)
        while True:  # a full queue: wait (back-pressure), unless we are stopping
            try:
                self._queue.put(item, timeout=0.2)
                return
            except queue.Full:
                if self._draining.is_set():
                    return  # not acknowledged: the broker delivers it again

    # ---- the writer threads ----

    def _writer(self) -> None:
        while not self._halt.is_set():
            items = self._next_batch()
            if not items:
                if self._closed.is_set():
                    return
                continue
            try:
                self._handle(items)
            except Exception:
                # Not stored, not acknowledged: drop the connection so that the broker sends
                # them again (unacknowledged messages also hold its Receive Maximum window).
                log.exception("collector %s: batch of %d failed; reconnecting", self.instance,
                              len(items))  # fmt: skip
                self._reconnect()
            finally:
                with self._lock:
                    self._busy -= 1

    def _next_batch(self) -> list[_Item]:
        """Up to batch_max_rows items, waiting at most batch_max_wait_ms after the first."""
        st = self.cfg.storage
        try:
            first = self._queue.get(timeout=0.1)
        except queue.Empty:
            return []
        with self._lock:
            self._busy += 1
        items = [first]
        deadline = time.monotonic() + st.batch_max_wait_ms / 1000
        get = self._queue.get_nowait
        while len(items) < st.batch_max_rows:
            try:
                items.append(get())
                continue
            except queue.Empty:
                pass
            left = deadline - time.monotonic()
            if left <= 0 or self._draining.is_set():
                break
            try:
                items.append(self._queue.get(timeout=left))
            except queue.Empty:
                break
        return items

    def _handle(self, items: list[_Item]) -> None:
        t0 = time.perf_counter()
        batch = self._classify(items)
        new = self._write(batch)
        if new is None:
            return  # halted while the database was unavailable: not acknowledged
        self._ack(items)
        now = time.time()
        with self._lock:
            c = self._counts
            c["stored"] += new
            c["duplicates"] += len(batch.counts) - new
            c["availability"] += len(batch.availability)
            c["status"] += len(batch.statuses)
            c["kelurahan_mismatch"] += batch.flagged
            c["ignored"] += batch.ignored
            c["batches"] += 1
            self._rejected.update(r.reason for r in batch.rejects)
            self._last_batch_ms = (time.perf_counter() - t0) * 1000
            self._lag_ms.extend((now - r["window_end"].timestamp()) * 1000 for r in batch.counts)

    def _classify(self, items: list[_Item]) -> _Batch:
        batch = _Batch()
        for it in items:
            at = datetime.fromtimestamp(it.received, UTC)
            try:
                out = check(it.topic, it.payload, prefix=self.prefix,
                            max_payload_bytes=self.max_payload_bytes, size=it.size)  # fmt: skip
            except Exception as exc:  # a bug must not stall the pipeline on one message
                log.exception("collector %s: checking a message on %r failed", self.instance,
                              it.topic)  # fmt: skip
                out = Outcome("internal_error", f"{type(exc).__name__}: {exc}")
            if out.reason is not None:
                self._reject_log(out.reason, it.topic, out.detail)
                batch.rejects.append(Reject(at, it.topic, out.reason, out.detail,
                                            excerpt(it.payload)))  # fmt: skip
            elif out.counts is not None:
                flagged = self._kelurahan_differs(out)
                batch.flagged += flagged
                batch.counts.append(counts_row(out.counts, received_at=at,
                                               kelurahan_mismatch=flagged))  # fmt: skip
            elif out.status is not None:
                batch.statuses.append(Status(out.status.agent_id, it.payload.decode(),
                                             out.status.time))  # fmt: skip
            elif out.availability is not None:
                batch.availability.append(Availability(out.agent_id, out.availability, at))
            else:
                batch.ignored += 1
        return batch

    def _kelurahan_differs(self, out: Outcome) -> bool:
        msg = out.counts
        if self.camera_kelurahan is None or msg is None:
            return False
        try:
            expected = self.camera_kelurahan(msg.agent_id, msg.camera_id)
        except Exception:
            log.exception("camera registry lookup failed for %s/%s", msg.agent_id, msg.camera_id)
            return False
        return expected is not None and expected != msg.kelurahan_code

    def _write(self, batch: _Batch) -> int | None:
        """Commit the batch, retrying while the database is unavailable; None if halted."""
        delay = DB_RETRY_MIN_S
        while True:
            try:
                return self.store.write_batch(counts=batch.counts, rejects=batch.rejects,
                                              availability=batch.availability,
                                              statuses=batch.statuses)  # fmt: skip
            except Exception as exc:
                with self._lock:
                    self._counts["db_errors"] += 1
                log.warning("collector %s: database write failed (%s); retrying in %.1f s",
                            self.instance, str(exc).splitlines()[0][:300], delay)  # fmt: skip
                if self._halt.wait(delay):
                    return None
                delay = min(DB_RETRY_MAX_S, delay * 2)

    def _ack(self, items: list[_Item]) -> None:
        client = self._client
        if client is None:
            return
        n = 0
        with self._lock:
            if not self._connected:
                return
            gen = self._gen
            for it in items:
                if it.qos > 0 and it.gen == gen:
                    client.ack(it.mid, it.qos)
                    n += 1
            self._counts["acked"] += n

    def _reconnect(self) -> None:
        client = self._client
        sock = client.socket() if client is not None else None
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # paho sees the error and reconnects


def _percentile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    return round(sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))], 3)
