"""A small asyncio MQTT 5 publisher: one TCP (or TLS) connection per simulated agent.

Packets come from the collector's own codec (central/ingest/packets.py), so the project speaks MQTT
through one implementation. No paho here: ten thousand paho clients mean ten thousand threads.

Light enough for ten thousand connections in one process: no thread, one reader task per
connection. CONNECT with username/password and a CONNACK check, PUBLISH QoS 1 with packet ids
and a bounded in-flight window, PUBACK tracking, PINGREQ keepalive, clean DISCONNECT, an abrupt
`abort()` (a dropped link) and `reconnect()`, which sends every unacknowledged message again, in
order, with the DUP flag (the collector is idempotent on (agent_id, seq)).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass

from central.ingest.packets import (
    CONNACK,
    DISCONNECT_PACKET,
    PINGREQ_PACKET,
    PUBACK,
    ProtocolError,
    connect_packet,
    parse_connack,
    publish_packet,
    reason_name,
)

# A CONNACK reason worth retrying after a pause: the broker is starting or overloaded.
RETRY_REASONS = frozenset({0x88, 0x89})  # server unavailable, server busy
# The broker's limit on our packets; a counts message is ~600 bytes.
MAX_PACKET_BYTES = 1 << 20


class MqttError(ConnectionError):
    """The connection failed or was lost."""


class ConnectRefused(MqttError):
    """The broker answered CONNECT with a non-zero return code (not worth retrying blindly)."""

    def __init__(self, client_id: str, code: int) -> None:
        super().__init__(f"broker refused {client_id!r}: {reason_name(code)}")
        self.code = code


class TlsVerifyError(MqttError):
    """The broker's certificate does not verify (not worth retrying)."""


async def read_packet(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """(first byte, body) of the next packet; IncompleteReadError at the end of the stream."""
    first = (await reader.readexactly(1))[0]
    n, shift = 0, 0
    while True:
        b = (await reader.readexactly(1))[0]
        n |= (b & 0x7F) << shift
        if not b & 0x80:
            break
        shift += 7
        if shift > 21:
            raise MqttError("malformed remaining length")
    return first, await reader.readexactly(n) if n else b""


@dataclass(slots=True)
class _Pending:
    topic: str
    payload: bytes
    sent_at: float


class AsyncMqttClient:
    """One QoS 1 publisher connection. `on_ack(latency_s)` is called for each PUBACK."""

    def __init__(
        self, host: str, port: int, client_id: str, *, username: str | None = None,
        password: str | None = None, keepalive_s: int = 60, max_inflight: int = 20,
        ssl_context: ssl.SSLContext | None = None, timeout_s: float = 30.0,
        on_ack: Callable[[float], None] | None = None,
    ) -> None:  # fmt: skip
        self.host, self.port, self.client_id = host, port, client_id
        self.username, self._password = username, password
        self.keepalive_s, self.timeout_s, self.ssl_context = keepalive_s, timeout_s, ssl_context
        self.on_ack = on_ack
        self.max_inflight = max_inflight
        self._slots = asyncio.Semaphore(max_inflight)
        self._pending: dict[int, _Pending] = {}  # insertion order = publish order
        self._next_pid = 0
        self._writer: asyncio.StreamWriter | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._lost = asyncio.Event()
        self._lost.set()
        self._drained = asyncio.Event()
        self._drained.set()
        self._last_write = 0.0
        self.connects = 0
        self.acked = 0

    def __repr__(self) -> str:  # never shows the password
        return f"AsyncMqttClient({self.client_id!r}, {self.host}:{self.port})"

    @property
    def connected(self) -> bool:
        """True between a CONNACK and the loss of the connection."""
        return not self._lost.is_set()

    @property
    def unacked(self) -> int:
        """Messages published and not yet acknowledged."""
        return len(self._pending)

    async def connect(self) -> None:
        """Open the connection and check the CONNACK; raises MqttError / ConnectRefused."""
        self._close_transport()
        try:
            opening = asyncio.open_connection(self.host, self.port, ssl=self.ssl_context)
            reader, writer = await asyncio.wait_for(opening, self.timeout_s)
        except ssl.SSLCertVerificationError as exc:  # a wrong CA, an expired certificate...
            raise TlsVerifyError(f"{self.client_id}: TLS with {self.host}:{self.port} failed: "
                            f"{exc}") from exc  # fmt: skip
        except (OSError, TimeoutError) as exc:
            raise MqttError(f"{self.client_id}: cannot reach {self.host}:{self.port}: "
                            f"{exc or type(exc).__name__}") from exc  # fmt: skip
        self._writer = writer
        try:
            writer.write(connect_packet(
                self.client_id, keepalive_s=self.keepalive_s, session_expiry_s=0,
                receive_max=self.max_inflight, max_packet_bytes=MAX_PACKET_BYTES,
                username=self.username, password=self._password, clean_start=True,
            ))  # fmt: skip
            kind, body = await asyncio.wait_for(read_packet(reader), self.timeout_s)
        except (OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
            self._close_transport()
            raise MqttError(f"{self.client_id}: no CONNACK from {self.host}:{self.port}: "
                            f"{exc or type(exc).__name__}") from exc  # fmt: skip
        try:
            if kind >> 4 != CONNACK:
                raise ProtocolError(f"expected CONNACK, got packet 0x{kind:02x}")
            reason = parse_connack(body).reason
        except ProtocolError as exc:
            self._close_transport()
            raise MqttError(f"{self.client_id}: {exc}") from exc
        if reason:
            self._close_transport()
            raise ConnectRefused(self.client_id, reason)
        self.connects += 1
        self._lost.clear()
        self._last_write = time.monotonic()
        self._tasks = [asyncio.create_task(self._read_loop(reader)),
                       asyncio.create_task(self._keepalive())]  # fmt: skip

    async def reconnect(self) -> None:
        """Connect again and send every unacknowledged message again, in order, with DUP."""
        await self.connect()
        assert self._writer is not None
        for pid, p in list(self._pending.items()):
            self._writer.write(publish_packet(p.topic, p.payload, pid, dup=True))  # same codec
        await self._drain()

    async def publish(self, topic: str, payload: bytes) -> None:
        """Send a QoS 1 message, waiting while the in-flight window is full (not for its PUBACK).

        Raises MqttError, the message not taken, when the connection is down or lost while
        waiting. Once taken, a message lost with the connection is sent again by reconnect().
        """
        if not self.connected:
            raise MqttError(f"{self.client_id}: not connected")
        if self._slots.locked():
            acquire = asyncio.create_task(self._slots.acquire())
            lost = asyncio.create_task(self._lost.wait())
            await asyncio.wait({acquire, lost}, return_when=asyncio.FIRST_COMPLETED)
            lost.cancel()
            if not acquire.done() or acquire.cancelled():
                acquire.cancel()
                raise MqttError(f"{self.client_id}: connection lost")
        else:
            await self._slots.acquire()
        self._next_pid = self._next_pid % 0xFFFF + 1
        while self._next_pid in self._pending:  # only with more than 65535 in flight
            self._next_pid = self._next_pid % 0xFFFF + 1
        pid = self._next_pid
        self._pending[pid] = _Pending(topic, payload, time.monotonic())
        self._drained.clear()
        if self._writer is not None and self.connected:
            self._writer.write(publish_packet(topic, payload, pid))
            with contextlib.suppress(MqttError):
                await self._drain()

    async def _drain(self) -> None:
        assert self._writer is not None
        self._last_write = time.monotonic()
        try:
            await self._writer.drain()
        except OSError as exc:
            self._lose()
            raise MqttError(f"{self.client_id}: connection lost: {exc}") from exc

    async def wait_acked(self, timeout_s: float | None = None) -> bool:
        """Wait until every published message is acknowledged; False on timeout or loss."""
        lost = asyncio.create_task(self._lost.wait())
        done = asyncio.create_task(self._drained.wait())
        try:
            await asyncio.wait({lost, done}, timeout=timeout_s,
                               return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
        finally:
            lost.cancel()
            done.cancel()
        return not self._pending

    async def wait_lost(self) -> None:
        """Return when the connection is lost (or closed)."""
        await self._lost.wait()

    async def _read_loop(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                kind, body = await read_packet(reader)
                if kind >> 4 == PUBACK and len(body) >= 2:
                    self._acked(struct.unpack("!H", body[:2])[0])
        except (OSError, asyncio.IncompleteReadError, MqttError):
            pass
        finally:
            self._lose()

    def _acked(self, pid: int) -> None:
        p = self._pending.pop(pid, None)
        if p is None:
            return  # a PUBACK for a resent duplicate
        self.acked += 1
        self._slots.release()
        if self.on_ack is not None:
            self.on_ack(time.monotonic() - p.sent_at)
        if not self._pending:
            self._drained.set()

    async def _keepalive(self) -> None:
        period = max(1.0, self.keepalive_s * 0.5)
        while self.connected and self._writer is not None:
            await asyncio.sleep(max(0.05, self._last_write + period - time.monotonic()))
            if self.connected and time.monotonic() - self._last_write >= period:
                self._writer.write(PINGREQ_PACKET)
                self._last_write = time.monotonic()

    def _lose(self) -> None:
        self._lost.set()

    def _close_transport(self, graceful: bool = False) -> None:
        self._lost.set()
        for t in self._tasks:
            if t is not asyncio.current_task():
                t.cancel()
        self._tasks = []
        w, self._writer = self._writer, None
        if w is None:
            return
        with contextlib.suppress(Exception):
            if graceful:
                w.write(DISCONNECT_PACKET)
            else:
                w.transport.abort()  # RST: what a dropped link looks like to the broker
                return
            w.close()

    def abort(self) -> None:
        """Drop the connection abruptly (a network outage); unacknowledged messages are kept."""
        self._close_transport()

    async def disconnect(self) -> None:
        """Send DISCONNECT and close."""
        w = self._writer
        self._close_transport(graceful=True)
        if w is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(w.wait_closed(), 2.0)
