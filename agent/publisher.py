"""Delivery of the outbox over MQTT v5 (paho-mqtt 2): QoS 1, TLS, credentials, last will, status.

How ordering and no loss are kept:
- Every connection is a fresh paho client with clean_start and reconnect_on_failure=False, and it
  is thrown away when the connection ends. Paho therefore never holds a message across
  connections: it never re-sends on its own, never queues while we are offline, never reorders.
- One delivery thread owns the client. It hands paho rows in seq order, at most max_inflight (and
  at most the broker's Receive Maximum) un-acknowledged, and only after a successful CONNACK.
- Paho's callbacks only post events to a queue; the delivery thread maps each PUBACK to its seq
  and deletes the row only when the reason code is a success.
- After any disconnect the next connection starts again from the lowest seq left in the outbox,
  in order. At most one window of messages is sent twice; central de-duplicates on (agent, seq).

End-to-end confirmation (`[mqtt] confirm = "central"`, the default; agent/confirm.py): rows stay
in the outbox after their PUBACK until central confirms it committed them, and every new
connection sends what is left from the start of the outbox. Where the broker refuses the
subscription (an ACL without `pattern read siaga/v1/%u/ack`) the connection falls back to
PUBACKs, loudly.
"""

from __future__ import annotations

import logging
import math
import queue
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from agent.config import MqttSection
from agent.confirm import Confirmations, refused_confirmations
from agent.mqtt_session import (
    Event,
    Session,
    availability_properties,
    connection_since,
    new_client,
    shutdown_socket,
)
from agent.outbox import Outbox, OutboxError
from siaga.backoff import backoff_s
from siaga.mqtt import check_tls_files, describe_error, describe_refusal
from siaga.wire import (
    OFFLINE,
    ONLINE,
    StatusMessage,
    ack_topic,
    availability_topic,
    status_topic,
)

log = logging.getLogger(__name__)

CONNACK_TIMEOUT_S = 10.0
STABLE_AFTER_S = 10.0  # a connection that lasted this long resets the backoff
IDLE_WAKE_S = 2.0  # safety net: look at the outbox even if a notify() was missed
DISCONNECT_WAIT_S = 1.0
CONTROL_SLOTS = 2  # availability + status, outside the outbox
_NORMAL = 0
_WITH_WILL = 4  # MQTT v5 "Disconnect with will message": the broker still says offline
# PUBACK reason codes that sending again cannot change: topic name invalid, packet too large
# (over the broker's message_size_limit), payload format invalid.
NEVER_ACCEPTED = frozenset({0x90, 0x95, 0x99})
# A PUBLISH's bytes beyond topic and payload at most: fixed header 5, topic length 2, packet id 2,
# properties length 4.
PUBLISH_OVERHEAD = 13


@dataclass(frozen=True, slots=True)
class PublisherStats:
    """Health figures of the publisher."""

    connected: bool
    connects: int
    reconnects: int
    failures: int
    sent: int
    resent: int
    acked: int
    rejected: int
    last_error: str | None
    confirmed: int = 0  # rows central confirmed (end-to-end)
    resends: int = 0  # times unconfirmed rows were sent again


class Publisher:
    """Sends the outbox to the broker in seq order; owns the MQTT connection."""

    def __init__(self, cfg: MqttSection, *, agent_id: str, outbox: Outbox) -> None:
        check_tls_files(cfg)
        self.cfg = cfg
        self.agent_id = agent_id
        self.outbox = outbox
        self.username = cfg.username or agent_id
        self.availability_topic = availability_topic(agent_id, cfg.topic_prefix)
        self.status_topic = status_topic(agent_id, cfg.topic_prefix)
        self.ack_topic = ack_topic(agent_id, cfg.topic_prefix)
        self.confirm_by_central = cfg.confirm == "central"
        self.confirmations = Confirmations(agent_id, outbox, topic=self.ack_topic,
                                           timeout_s=cfg.confirm_timeout_s)  # fmt: skip
        self._events: queue.SimpleQueue[Event] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._lock = threading.Lock()  # guards the figures below and the latest status
        self._thread: threading.Thread | None = None
        self._rng = random.Random()
        self._gen = 0
        self._status: bytes | None = None
        self._wake_pending = False
        self._end = self._flush_until = self._offline_until = math.inf
        self._connected = False
        self._connects = self._failures = self._sent = self._resent = 0
        self._acked = self._rejected = 0
        self._max_sent_seq = 0
        self._last_error: str | None = None
        self._outbox_error = ""  # the last outbox failure logged (logged once per change)

    # ---- the public side, called from other threads ----

    @property
    def connected(self) -> bool:
        """True while a connection is up and acknowledged by the broker."""
        with self._lock:
            return self._connected

    def stats(self) -> PublisherStats:
        """A snapshot of the health figures."""
        with self._lock:
            return PublisherStats(
                connected=self._connected, connects=self._connects,
                reconnects=max(0, self._connects - 1), failures=self._failures, sent=self._sent,
                resent=self._resent, acked=self._acked, rejected=self._rejected,
                last_error=self._last_error, confirmed=self.confirmations.confirmed,
                resends=self.confirmations.resends,
            )  # fmt: skip

    def start(self) -> None:
        """Start the delivery thread (it connects, and reconnects, by itself)."""
        if self._thread is not None:
            raise RuntimeError("publisher already started")
        self._thread = threading.Thread(target=self._run, name="mqtt-delivery", daemon=True)
        self._thread.start()

    def notify(self) -> None:
        """Tell the delivery thread that the outbox has something new."""
        with self._lock:
            if self._wake_pending:
                return
            self._wake_pending = True
        self._events.put(Event("wake"))

    def publish_status(self, msg: StatusMessage) -> None:
        """Publish retained health now, or on the next connect (only the latest is kept)."""
        with self._lock:
            self._status = msg.to_payload()
        self._events.put(Event("status"))

    def stop(self, timeout_s: float = 5.0) -> None:
        """Flush what fits in timeout_s, say offline, disconnect; returns within timeout_s + 1 s."""
        now = time.monotonic()
        budget = max(0.0, timeout_s)
        self._end = now + budget
        self._flush_until = self._end - min(1.0, 0.4 * budget)
        self._offline_until = self._end - min(0.5, 0.2 * budget)
        self._stop.set()
        self._events.put(Event("stop"))
        if self._thread is not None:
            self._thread.join(timeout=budget + 0.8)
            if self._thread.is_alive():
                # Only possible while a TCP/TLS connect is blocking; the daemon thread ends after.
                log.warning("MQTT delivery thread still busy after %.1f s; leaving it", budget)
        with self._lock:
            self._connected = False

    # ---- the delivery thread ----

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                up_for_s = self._session()
            except Exception:
                if self._stop.is_set():
                    break
                log.exception("MQTT delivery failed unexpectedly; reconnecting")
                up_for_s = 0.0
            failures = 0 if up_for_s >= STABLE_AFTER_S else failures + 1
            if not self._stop.is_set():
                delay = backoff_s(max(failures - 1, 0), min_s=self.cfg.reconnect_min_s,
                                  max_s=self.cfg.reconnect_max_s, rng=self._rng)  # fmt: skip
                log.debug("reconnecting to MQTT in %.2f s", delay)
                self._stop.wait(delay)

    def _session(self) -> float:
        """Connect, deliver until the connection ends; returns how long it was up."""
        s = self._connect()
        if s is None:
            return 0.0
        try:
            self._serve(s)
        finally:
            self._close(s)
        return s.up_for_s

    def _connect(self) -> Session | None:
        self._gen += 1
        since = connection_since()  # orders this connection's online/offline at central
        client = self._new_client(self._gen, since)
        try:
            client.connect(self.cfg.host, self.cfg.port, keepalive=self.cfg.keepalive_s,
                           clean_start=True)  # fmt: skip
        except (OSError, ValueError) as exc:  # ssl errors are OSErrors
            self._fail(f"cannot connect to {self._where()}: {describe_error(exc)}", logging.WARNING)
            return None
        client.loop_start()
        return Session(self._gen, client, since)

    def _new_client(self, gen: int, since: str) -> mqtt.Client:
        return new_client(
            self.cfg, client_id=self.agent_id, username=self.username, gen=gen,
            will_topic=self.availability_topic, events=self._events, since=since,
        )  # fmt: skip

    def _serve(self, s: Session) -> None:
        connack_until = time.monotonic() + CONNACK_TIMEOUT_S
        while not s.ended:
            if s.up:
                if s.confirming:
                    self._confirm_tick(s)
                self._fill(s)
            if self._stop.is_set() and self._flushed(s):
                return
            now = time.monotonic()
            if not s.up and now >= connack_until:
                self._fail(f"no CONNACK from {self._where()} in {CONNACK_TIMEOUT_S:.0f} s",
                           logging.WARNING)  # fmt: skip
                return
            limit = (connack_until if not s.up else
                     self._flush_until if self._stop.is_set() else now + IDLE_WAKE_S)  # fmt: skip
            self._pump(s, max(0.0, limit - now))

    def _flushed(self, s: Session) -> bool:
        """During stop: nothing more to deliver, or no more time to deliver it."""
        if not s.up or time.monotonic() >= self._flush_until:
            return True
        return not s.inflight and not self.outbox.pending(1, after_seq=s.last_sent)

    def _pump(self, s: Session, timeout_s: float) -> None:
        """Wait up to timeout_s for events, then handle every event already queued."""
        try:
            batch = [self._events.get(timeout=timeout_s)]
        except queue.Empty:
            return
        while True:
            try:
                batch.append(self._events.get_nowait())
            except queue.Empty:
                break
        acks: list[int] = []
        try:
            for ev in batch:
                self._handle(s, ev, acks)
            if acks:
                # One transaction (one fsync) for every PUBACK that arrived together.
                self.outbox.ack_many(acks)
                with self._lock:
                    self._acked += len(acks)
        except OutboxError as exc:
            # Disk full or locked: the rows stay and go again later (central drops duplicates);
            # the connection stays up. The holding queue reports the outbox's state in status.
            if str(exc) != self._outbox_error:
                log.warning("cannot record acknowledgements in the outbox: %s", exc)
            self._outbox_error = str(exc)

    def _handle(self, s: Session, ev: Event, acks: list[int]) -> None:
        if ev.kind == "wake":
            with self._lock:
                self._wake_pending = False  # before _fill runs: a later notify posts a new wake
        elif ev.kind == "status":
            if s.up:
                self._publish_status_now(s)
        elif ev.gen != s.gen:
            return  # "stop", or a leftover from an earlier connection
        elif ev.kind == "connack":
            self._on_connack(s, ev)
        elif ev.kind == "puback":
            self._on_puback(s, ev, acks)
        elif ev.kind == "suback":
            self._on_suback(s, ev)
        elif ev.kind == "confirm":
            self.confirmations.on_message(s, ev.payload)
        elif ev.kind == "disconnect":
            self._on_disconnect(s, ev)

    def _on_connack(self, s: Session, ev: Event) -> None:
        if ev.code is not None and ev.code.is_failure:
            s.ended = True
            self._fail(f"broker {self._where()} refused the connection as user "
                       f"{self.username!r}: {describe_refusal(ev.code, self.username)}",
                       logging.ERROR)  # fmt: skip
            return
        s.up, s.up_since = True, time.monotonic()
        # The broker's Receive Maximum covers our availability and status messages too.
        s.window = max(1, min(self.cfg.max_inflight, (ev.receive_max or 65535) - CONTROL_SLOTS))
        s.max_packet = ev.max_packet
        with self._lock:
            self._connected = True
            self._connects += 1
            self._last_error = None
        log.info("connected to MQTT broker %s as %s (TLS %s, window %d)", self._where(),
                 self.username, "on" if self.cfg.tls_enabled else "off", s.window)  # fmt: skip
        self._publish_control(s, self.availability_topic, ONLINE.encode())
        self._publish_status_now(s)
        if self.confirm_by_central:
            self.confirmations.start(s)

    def _on_puback(self, s: Session, ev: Event, acks: list[int]) -> None:
        seq = s.inflight.pop(ev.mid, None)
        if seq is None:
            s.control.pop(ev.mid, None)
        elif ev.code is not None and ev.code.value in NEVER_ACCEPTED:
            self._discard(seq, f"the broker refuses it for good: {ev.code}")
        elif ev.code is not None and ev.code.is_failure:
            # Keep the row: it is retried on the next connection, or dropped by the cap.
            with self._lock:
                self._rejected += 1
            log.warning("broker rejected seq %d: %s; it stays in the outbox", seq, ev.code)
        elif not s.confirming:
            acks.append(seq)  # the broker's PUBACK is the last word
        else:
            with self._lock:
                self._acked += 1  # taken by the broker; the row waits for central

    def _on_suback(self, s: Session, ev: Event) -> None:
        why = self.confirmations.on_suback(s, ev.code)
        if why is not None:
            self._no_confirmations(s, why)

    def _confirm_tick(self, s: Session) -> None:
        """The probe's deadline, and re-sending what central has not confirmed."""
        why = self.confirmations.probe_failed(s)
        if why is not None:
            self._no_confirmations(s, why)
        elif not s.inflight and s.last_sent is not None and not self._stop.is_set():
            first = self.confirmations.resend_from(s.last_sent)
            if first is not None:
                s.last_sent = first - 1

    def _no_confirmations(self, s: Session, why: str) -> None:
        self.confirmations.give_up(s)
        self._fail(refused_confirmations(self._where(), self.username, self.ack_topic, why),
                   logging.ERROR)  # fmt: skip
        s.last_sent = None  # what was PUBACKed and kept goes again, to be PUBACKed, deleted

    def _on_disconnect(self, s: Session, ev: Event) -> None:
        was_up = s.up
        self._mark_down(s)
        s.closed = s.ended = True
        if was_up and not self._stop.is_set():
            self._fail(f"connection to {self._where()} lost: {ev.code}", logging.WARNING)

    def _mark_down(self, s: Session) -> None:
        if s.up:
            s.up_for_s = time.monotonic() - s.up_since
        s.up = False
        with self._lock:
            self._connected = False

    def _fill(self, s: Session) -> None:
        """Hand paho the next rows in seq order while the window has room."""
        room = s.window - len(s.inflight) - len(s.control)
        if room <= 0 or (self._stop.is_set() and time.monotonic() >= self._flush_until):
            return
        for row in self.outbox.pending(room, after_seq=s.last_sent):
            size = len(row.payload) + len(row.topic.encode()) + PUBLISH_OVERHEAD
            if s.max_packet and size > s.max_packet:
                # The broker would drop the connection over it, on every connection, for ever.
                self._discard(row.seq, f"{size} bytes, over the broker's maximum packet size "
                                       f"of {s.max_packet}")  # fmt: skip
                s.last_sent = row.seq
                continue
            try:
                info = s.client.publish(row.topic, row.payload, qos=1)
            except ValueError as exc:
                self._discard(row.seq, f"paho refuses it on {row.topic!r}: {exc}")
                continue
            if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                self._lost(s, info.rc)
                return
            s.inflight[info.mid] = row.seq
            s.last_sent = row.seq
            with self._lock:
                self._sent += 1
                if row.seq <= self._max_sent_seq:
                    self._resent += 1
                self._max_sent_seq = max(self._max_sent_seq, row.seq)

    def _discard(self, seq: int, why: str) -> None:
        # It could never be delivered, and keeping it would stall every later row (and, with
        # central's confirmation, the confirmation of every later row) for ever. It is counted
        # in the status's `dropped`, and central sees the gap.
        log.error("seq %d can never be delivered (%s); dropping it", seq, why)
        self.outbox.discard(seq)
        with self._lock:
            self._rejected += 1

    def _publish_control(self, s: Session, topic: str, payload: bytes) -> int | None:
        """A retained QoS 1 message outside the outbox (availability, status)."""
        props = availability_properties(s.since) if topic == self.availability_topic else None
        info = s.client.publish(topic, payload, qos=1, retain=True, properties=props)
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            self._lost(s, info.rc)
            return None
        s.control[info.mid] = topic
        return info.mid

    def _publish_status_now(self, s: Session) -> None:
        with self._lock:
            payload = self._status
        if payload is not None:
            self._publish_control(s, self.status_topic, payload)

    def _lost(self, s: Session, rc: MQTTErrorCode) -> None:
        # The rows stay in the outbox; the next connection sends them again, in order.
        s.ended = True
        self._fail(f"publish to {self._where()} failed: {mqtt.error_string(rc)}", logging.WARNING)

    def _close(self, s: Session) -> None:
        """Say offline when stopping, disconnect, and let paho's thread end."""
        offline_acked = False
        if s.up and not s.closed and self._stop.is_set():
            mid = self._publish_control(s, self.availability_topic, OFFLINE.encode())
            if mid is not None:
                self._wait_for(s, lambda: mid not in s.control, self._offline_until)
                offline_acked = mid not in s.control and not s.closed
        self._mark_down(s)
        if not s.closed:
            # Unless offline was acknowledged, have the broker publish the will, so that
            # availability never stays "online" after we are gone.
            code = _NORMAL if offline_acked else _WITH_WILL
            s.client.disconnect(reasoncode=ReasonCode(PacketTypes.DISCONNECT, identifier=code))
            now = time.monotonic()
            until = now + DISCONNECT_WAIT_S
            if self._stop.is_set():
                # Give paho a moment to write DISCONNECT even when the budget is spent.
                until = max(now + 0.1, min(until, self._end))
            self._wait_for(s, lambda: s.closed, until)
        if s.closed:
            s.client.loop_stop()  # paho's thread has ended or is ending: the join is short
        else:
            shutdown_socket(s.client)  # paho's thread sees the error and ends by itself

    def _wait_for(self, s: Session, done: Callable[[], bool], until: float) -> None:
        while not done() and not s.closed:
            left = until - time.monotonic()
            if left <= 0:
                return
            self._pump(s, min(left, 0.2))

    def _fail(self, reason: str, level: int) -> None:
        """Record why we are not connected; log it when the reason changes."""
        with self._lock:
            changed = reason != self._last_error
            self._last_error = reason
            self._failures += 1
        log.log(level if changed else logging.DEBUG, "%s", reason)

    def _where(self) -> str:
        return f"{self.cfg.host}:{self.cfg.port}"
