"""The collector's own MQTT v5 connection: many PUBLISH packets per read, PUBACKs in bulk.

paho spends tens of microseconds of Python per message (a callback, an MQTTMessage object, one
PUBACK write each); at tens of thousands of messages a second that alone was the collector's
ceiling. This client does only what ingest needs: CONNECT with a persistent session (clean
start off, session expiry, Receive Maximum, Maximum Packet Size), user name and password, TLS
with verification, SUBSCRIBE, keep-alive pings, reconnect with doubling backoff. It reads up to
READ_BYTES at once, hands every PUBLISH of that read to `on_messages` in one call, and writes the
PUBACKs that writer threads queue with `ack` as one write per batch.

One thread owns the socket (reads, writes, pings); other threads only queue acks and wake it
through a socket pair, so TLS (whose objects must not be used from two threads at once) is safe.
Packet ids are per connection: `ack` takes the connection generation the messages came on and
drops acks of an older one (the broker redelivers those messages on the new connection).
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from central.ingest import packets as w
from siaga.mqtt import describe_error
from siaga.settings import BrokerSection

log = logging.getLogger(__name__)

READ_BYTES = 1 << 18
CONNECT_TIMEOUT_S = 10.0
SEND_TIMEOUT_S = 10.0
CLOSE_WAIT_S = 1.0
STABLE_AFTER_S = 10.0  # a subscribed connection that lasted this long resets the backoff


@dataclass(frozen=True, slots=True)
class Subscription:
    """One topic filter to subscribe to after every connect."""

    topic: str
    qos: int = 1
    retain_handling: int = w.RETAIN_SEND


# on_messages(publishes, received at (time.time()), connection generation); may block.
OnMessages = Callable[[list[w.Publish], float, int], None]


def tls_context(cfg: BrokerSection) -> ssl.SSLContext:
    """Certificate and host name verification on; the CA file, else the system's CAs."""
    ctx = ssl.create_default_context(cafile=str(cfg.ca_file) if cfg.ca_file else None)
    if cfg.cert_file is not None:
        ctx.load_cert_chain(str(cfg.cert_file), str(cfg.key_file) if cfg.key_file else None)
    return ctx


class IngestClient:
    """A subscribe-only MQTT v5 client with one network thread; see the module docstring."""

    def __init__(
        self, cfg: BrokerSection, client_id: str, subscriptions: list[Subscription], *,
        on_messages: OnMessages, session_expiry_s: int, receive_max: int, max_packet_bytes: int,
        cut_payload_over: int, cut_to: int, reconnect_min_s: float, reconnect_max_s: float,
    ) -> None:  # fmt: skip
        self.cfg, self.client_id, self.subscriptions = cfg, client_id, subscriptions
        self.on_messages = on_messages
        self.session_expiry_s, self.receive_max = session_expiry_s, receive_max
        self.max_packet_bytes = max_packet_bytes
        self.cut_over, self.cut_to = cut_payload_over, cut_to
        self.backoff = (reconnect_min_s, max(reconnect_min_s, reconnect_max_s))
        self._ssl = tls_context(cfg) if cfg.tls_enabled else None
        self._lock = threading.Lock()  # the fields below
        self._acks: list[int] = []
        self._gen = 0
        self._live = False  # the broker accepted the current connection (acks may go out)
        self._ready = False  # ... and granted every subscription
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._stop = threading.Event()  # leave: flush acks, DISCONNECT, close
        self._pause = threading.Event()  # stop reading PUBLISHes (acks and pings go on)
        self._drop = threading.Event()  # drop this connection and reconnect
        self._thread: threading.Thread | None = None
        self.connects = 0
        self.broker_cert_expiry: float | None = None  # the broker's certificate's notAfter (Unix)
        self._subscribed_at: float | None = None  # monotonic time of this connection's SUBACK
        self._last_error: str | None = None  # logged once until a connection succeeds
        self.session_present = False

    # ---- called from any thread ----

    def start(self) -> None:
        """Connect in the background, reconnecting until stop()."""
        self._thread = threading.Thread(target=self._run, name="collector-mqtt", daemon=True)
        self._thread.start()

    @property
    def live(self) -> bool:
        """Connected: the broker accepted the current connection."""
        return self._live

    @property
    def ready(self) -> bool:
        """Connected, and the broker granted every subscription."""
        return self._ready

    @property
    def acks_pending(self) -> int:
        """PUBACKs queued and not yet written to the socket."""
        return len(self._acks)

    @property
    def generation(self) -> int:
        """Which connection is current (grows by one per CONNACK)."""
        return self._gen

    def ack(self, packet_ids: list[int], gen: int) -> int:
        """Queue PUBACKs for messages of connection gen; how many were queued (0: stale gen)."""
        with self._lock:
            if gen != self._gen or not self._live or not packet_ids:
                return 0
            self._acks.extend(packet_ids)
        self._wake()
        return len(packet_ids)

    def pause_reading(self) -> None:
        """Take no more messages in (stop() is coming): what is unread stays with the broker."""
        self._pause.set()
        self._wake()

    def reconnect(self) -> None:
        """Drop the connection (unacknowledged messages come again on the next one)."""
        self._drop.set()
        self._wake()

    def stop(self, timeout_s: float) -> bool:
        """Send the queued acks and a DISCONNECT (the session stays); True once the thread ended."""
        self._stop.set()
        self._wake()
        if self._thread is not None:
            self._thread.join(max(0.0, timeout_s))
            if self._thread.is_alive():
                return False
        for s in (self._wake_r, self._wake_w):
            s.close()
        return True

    def _wake(self) -> None:
        with contextlib.suppress(OSError):  # full (a wake is pending anyway) or closed
            self._wake_w.send(b"\0")

    # ---- the network thread ----

    def _run(self) -> None:
        delay = self.backoff[0]
        while not self._stop.is_set():
            sock: socket.socket | None = None
            self._subscribed_at = None
            try:
                sock = self._open()
                self._serve(sock)
            except (OSError, w.ProtocolError, ValueError, IndexError) as exc:
                if not self._stop.is_set():
                    why = describe_error(exc)
                    # The same error again (a broker down for long): once, not a log flood.
                    level = logging.DEBUG if why == self._last_error else logging.WARNING
                    self._last_error = why
                    log.log(level, "collector %s: MQTT %s:%d: %s; reconnecting in %.1f s",
                            self.client_id, self.cfg.host, self.cfg.port, why, delay)  # fmt: skip
            except Exception:  # a bug here must not end ingest: log it, connect again
                log.exception("collector %s: MQTT connection failed", self.client_id)
            finally:
                with self._lock:
                    self._live = self._ready = False
                    self._acks.clear()  # packet ids of a dead connection mean nothing now
                if sock is not None:
                    with contextlib.suppress(OSError):
                        sock.close()
            up = self._subscribed_at
            if up is not None and time.monotonic() - up >= STABLE_AFTER_S:
                # Subscribed and served for a while: start the backoff over. A connection that
                # is refused its subscription or taken over at once keeps backing off.
                delay = self.backoff[0]
            if self._stop.wait(delay):
                break
            delay = min(self.backoff[1], delay * 2)

    def _open(self) -> socket.socket:
        cfg = self.cfg
        raw = socket.create_connection((cfg.host, cfg.port), timeout=CONNECT_TIMEOUT_S)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock: socket.socket = raw
        try:
            if self._ssl is not None:
                sock = self._ssl.wrap_socket(raw, server_hostname=cfg.host)
                self.broker_cert_expiry = _not_after(sock)  # for /metrics: expiring soon?
            password = cfg.password.get_secret_value() if cfg.password is not None else None
            sock.sendall(w.connect_packet(
                self.client_id, keepalive_s=cfg.keepalive_s, session_expiry_s=self.session_expiry_s,
                receive_max=self.receive_max, max_packet_bytes=self.max_packet_bytes,
                username=cfg.username, password=password,
            ))  # fmt: skip
            return sock
        except BaseException:
            sock.close()
            raise

    def _serve(self, sock: socket.socket) -> None:
        """CONNACK, SUBSCRIBE/SUBACK, then deliveries until the connection ends or stop()."""
        keepalive = self.cfg.keepalive_s
        sub_id = 1
        pending: list[bytes] = []  # a packet not yet complete: its pieces so far
        have, need = 0, 0
        last_in = last_out = time.monotonic()
        live = False  # CONNACK received
        sock.settimeout(SEND_TIMEOUT_S)
        while True:
            if self._stop.is_set():
                if live:
                    self._flush_acks(sock)
                    sock.sendall(w.DISCONNECT_PACKET)
                    _close_gracefully(sock)
                return
            if self._drop.is_set():
                self._drop.clear()
                raise OSError("dropped on request")
            now = time.monotonic()
            if live and self._flush_acks(sock):
                last_out = now
            if now - last_in > 1.5 * keepalive + CONNECT_TIMEOUT_S * (not live):
                raise OSError("the broker went silent")
            if live and now - last_out >= keepalive / 2:
                sock.sendall(w.PINGREQ_PACKET)
                last_out = now
            reading = not self._pause.is_set() or not live
            tls_buffered = isinstance(sock, ssl.SSLSocket) and sock.pending() > 0
            if not tls_buffered:
                watch = [self._wake_r, sock] if reading else [self._wake_r]
                ready, _, _ = select.select(watch, [], [], min(1.0, keepalive / 4))
                if self._wake_r in ready:
                    with contextlib.suppress(OSError):
                        self._wake_r.recv(4096)
                if sock not in ready:
                    continue
            data = sock.recv(READ_BYTES)
            if not data:
                raise OSError("the broker closed the connection")
            last_in = time.monotonic()
            have += len(data)
            pending.append(data)
            if have < need:
                continue  # a large packet still arriving: join once, when complete
            buf = pending[0] if len(pending) == 1 else b"".join(pending)
            pubs, others, used, need = w.split_packets(buf, self.max_packet_bytes, self.cut_over,
                                                        self.cut_to)  # fmt: skip
            rest = buf[used:]
            pending, have = ([rest], len(rest)) if rest else ([], 0)
            for p in others:
                if p.kind == w.CONNACK:
                    ack = w.parse_connack(p.body)
                    self._connack(sock, ack, sub_id)
                    live, keepalive = True, ack.keepalive_s or keepalive  # the broker's wins
                elif p.kind == w.SUBACK:
                    self._suback(*w.parse_suback(p.body), sub_id)
                elif p.kind == w.DISCONNECT:
                    raise OSError(f"the broker disconnected: "
                                  f"{w.reason_name(w.disconnect_reason(p.body))}")  # fmt: skip
                elif p.kind not in (w.PINGRESP, w.PUBACK):
                    raise w.ProtocolError(f"unexpected packet type {p.kind}")
            if pubs:
                self.on_messages(pubs, time.time(), self._gen)

    def _connack(self, sock: socket.socket, ack: w.Connack, sub_id: int) -> None:
        if ack.reason >= 0x80:
            detail = f": {ack.reason_string}" if ack.reason_string else ""
            level = logging.DEBUG if self._last_error == "connection refused" else logging.ERROR
            log.log(level, "collector %s: broker %s:%d refused the connection (user %r): %s%s",
                      self.client_id, self.cfg.host, self.cfg.port, self.cfg.username,
                      w.reason_name(ack.reason), detail)  # fmt: skip
            raise OSError("connection refused")
        with self._lock:
            self._gen += 1
            self._live = True
            self.connects += 1
            self.session_present = ack.session_present
        subs = [(s.topic, s.qos, s.retain_handling) for s in self.subscriptions]
        sock.sendall(w.subscribe_packet(sub_id, subs))
        log.info("collector %s connected to %s:%d (session %s)", self.client_id, self.cfg.host,
                 self.cfg.port, "resumed" if ack.session_present else "new")  # fmt: skip

    def _suback(self, packet_id: int, codes: list[int], sub_id: int) -> None:
        if packet_id != sub_id:
            raise w.ProtocolError(f"SUBACK for packet {packet_id}, expected {sub_id}")
        pairs = zip(self.subscriptions, codes, strict=False)
        refused = [f"{s.topic}: {w.reason_name(c)}" for s, c in pairs if c >= 0x80]
        if refused or len(codes) != len(self.subscriptions):
            why = f"subscription refused: {', '.join(refused) or f'{len(codes)} answers'}"
            level = logging.DEBUG if why == self._last_error else logging.ERROR
            log.log(level, "collector %s: %s", self.client_id, why)
            self._last_error = why
            raise OSError("subscription refused")  # retried on the next connection, backing off
        self._subscribed_at = time.monotonic()
        self._last_error = None  # a failure after this is news again
        with self._lock:
            self._ready = True

    def _flush_acks(self, sock: socket.socket) -> bool:
        with self._lock:
            ids, self._acks = self._acks, []
        if ids:
            sock.sendall(w.pubacks(ids))
        return bool(ids)


def _close_gracefully(sock: socket.socket) -> None:
    """Half-close and read until the broker closes: closing with unread data would send a TCP
    reset, and the broker could drop our last PUBACKs unread."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(CLOSE_WAIT_S)
        deadline = time.monotonic() + CLOSE_WAIT_S
        while time.monotonic() < deadline and sock.recv(READ_BYTES):
            pass


def _not_after(sock: socket.socket) -> float | None:
    """When the peer's (verified) certificate expires, as Unix time; None if it says nothing."""
    cert = sock.getpeercert() if isinstance(sock, ssl.SSLSocket) else None
    after = cert.get("notAfter") if cert else None
    return float(ssl.cert_time_to_seconds(after)) if isinstance(after, str) else None
