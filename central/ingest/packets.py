"""The few MQTT v5 packets Siaga's own clients send and read (pure, no I/O): the collector's
ingest connection and the fleet simulator (central/sim/mqtt.py) share this one codec.

Sent: CONNECT (persistent session, Receive Maximum, Maximum Packet Size, credentials),
SUBSCRIBE, PUBLISH QoS 1 (the simulator), PUBACK, PINGREQ, DISCONNECT. Read: CONNACK, SUBACK,
PUBLISH (QoS 0/1), PINGRESP, DISCONNECT. `split_packets` cuts a received byte stream into
packets, decoding PUBLISH packets on the way with as little Python per message as it can: many
of them arrive in one read.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import NamedTuple

CONNECT, CONNACK, PUBLISH, PUBACK = 1, 2, 3, 4
SUBSCRIBE, SUBACK, PINGREQ, PINGRESP, DISCONNECT = 8, 9, 12, 13, 14
MAX_REMAINING = 268_435_455  # the largest remaining length a varint can say
QOS1_FLAG, DUP_FLAG = 0x02, 0x08  # PUBLISH fixed-header flags

PINGREQ_PACKET = b"\xc0\x00"
DISCONNECT_PACKET = b"\xe0\x00"  # normal disconnection: the session (and its queue) stays

# Retain Handling (subscription option bits 4-5): send retained messages always / only when the
# subscription is new.
RETAIN_SEND, RETAIN_SEND_IF_NEW = 0, 1

# CONNACK / SUBACK / DISCONNECT reason codes worth naming in a log line.
REASON_NAMES = {
    0x80: "unspecified error", 0x81: "malformed packet", 0x82: "protocol error",
    0x83: "implementation specific error", 0x84: "unsupported protocol version",
    0x85: "client identifier not valid", 0x86: "bad user name or password",
    0x87: "not authorized", 0x88: "server unavailable", 0x89: "server busy", 0x8A: "banned",
    0x8B: "server shutting down", 0x8D: "keep alive timeout", 0x8E: "session taken over",
    0x8F: "topic filter invalid", 0x93: "receive maximum exceeded", 0x95: "packet too large",
    0x97: "quota exceeded", 0x9E: "shared subscriptions not supported",
}  # fmt: skip

# Property identifiers → value kind (MQTT v5 §2.2.2.2), to skip the ones we do not use.
_BYTE, _TWO, _FOUR, _VARINT, _STR, _PAIR = range(6)
_PROPERTY_KINDS = {
    0x01: _BYTE, 0x02: _FOUR, 0x03: _STR, 0x08: _STR, 0x09: _STR, 0x0B: _VARINT, 0x11: _FOUR,
    0x12: _STR, 0x13: _TWO, 0x15: _STR, 0x16: _STR, 0x17: _BYTE, 0x18: _FOUR, 0x19: _BYTE,
    0x1A: _STR, 0x1C: _STR, 0x1F: _STR, 0x21: _TWO, 0x22: _TWO, 0x23: _TWO, 0x24: _BYTE,
    0x25: _BYTE, 0x26: _PAIR, 0x27: _FOUR, 0x28: _BYTE, 0x29: _BYTE, 0x2A: _BYTE,
}  # fmt: skip
PROP_SESSION_EXPIRY, PROP_RECEIVE_MAX, PROP_MAX_PACKET = 0x11, 0x21, 0x27
PROP_SERVER_KEEP_ALIVE, PROP_REASON_STRING = 0x13, 0x1F


class ProtocolError(Exception):
    """The broker sent something this client cannot accept: the connection is dropped."""


def reason_name(code: int) -> str:
    """A reason code as `0x86 (bad user name or password)`."""
    return f"0x{code:02X} ({REASON_NAMES.get(code, 'error' if code >= 0x80 else 'success')})"


def varint(n: int) -> bytes:
    """MQTT's variable byte integer."""
    if not 0 <= n <= MAX_REMAINING:
        raise ValueError(f"{n} does not fit a variable byte integer")
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def read_varint(buf: bytes, pos: int, end: int) -> tuple[int, int] | None:
    """(value, position after it), or None when buf ends first; ProtocolError if too long."""
    value, shift = 0, 0
    while pos < end:
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, pos
        shift += 7
        if shift > 21:
            raise ProtocolError("variable byte integer longer than 4 bytes")
    return None


def utf8(s: str | bytes) -> bytes:
    """A length-prefixed UTF-8 string (or binary data) field."""
    b = s.encode() if isinstance(s, str) else s
    if len(b) > 0xFFFF:
        raise ValueError("string longer than 65535 bytes")
    return struct.pack("!H", len(b)) + b


def _packet(first: int, body: bytes) -> bytes:
    return bytes([first]) + varint(len(body)) + body


def connect_packet(
    client_id: str, *, keepalive_s: int, session_expiry_s: int, receive_max: int,
    max_packet_bytes: int, username: str | None = None, password: str | None = None,
    clean_start: bool = False,
) -> bytes:  # fmt: skip
    """CONNECT (MQTT 5) for a persistent session."""
    flags = (0x02 if clean_start else 0) | (0x80 if username is not None else 0)
    flags |= 0x40 if password is not None else 0
    props = (struct.pack("!BI", PROP_SESSION_EXPIRY, session_expiry_s)
             + struct.pack("!BH", PROP_RECEIVE_MAX, receive_max)
             + struct.pack("!BI", PROP_MAX_PACKET, max_packet_bytes))  # fmt: skip
    body = utf8("MQTT") + bytes([5, flags]) + struct.pack("!H", keepalive_s)
    body += varint(len(props)) + props + utf8(client_id)
    if username is not None:
        body += utf8(username)
    if password is not None:
        body += utf8(password)
    return _packet(CONNECT << 4, body)


def publish_packet(topic: str, payload: bytes, packet_id: int, *, dup: bool = False) -> bytes:
    """PUBLISH with QoS 1 and no properties."""
    body = utf8(topic) + struct.pack("!H", packet_id) + b"\x00" + payload
    return _packet((PUBLISH << 4) | QOS1_FLAG | (DUP_FLAG if dup else 0), body)


def subscribe_packet(packet_id: int, topics: list[tuple[str, int, int]]) -> bytes:
    """SUBSCRIBE to (topic filter, max QoS, retain handling) each."""
    body = struct.pack("!H", packet_id) + b"\x00"  # no properties
    for topic, qos, retain_handling in topics:
        body += utf8(topic) + bytes([qos | (retain_handling << 4)])
    return _packet((SUBSCRIBE << 4) | 0x02, body)


_PUBACK = struct.Struct("!BBH")


def pubacks(packet_ids: list[int]) -> bytes:
    """PUBACK (success, no properties: 4 bytes) for each packet id, as one write."""
    pack = _PUBACK.pack
    return b"".join([pack(0x40, 2, i) for i in packet_ids])


@dataclass(frozen=True, slots=True)
class Connack:
    """What the broker said to our CONNECT."""

    session_present: bool
    reason: int
    keepalive_s: int | None  # Server Keep Alive, when the broker overrides ours
    reason_string: str = ""


class Packet(NamedTuple):
    """A packet other than PUBLISH: its type, flags and body."""

    kind: int
    flags: int
    body: bytes


def properties(
    body: bytes, pos: int, pairs: list[tuple[bytes, bytes]] | None = None
) -> tuple[dict[int, int | str], int]:
    """The properties at pos (numbers and strings; binaries skipped, user property pairs put
    in `pairs` when given), position after."""
    got = read_varint(body, pos, len(body))
    if got is None:
        raise ProtocolError("truncated properties")
    length, pos = got
    end = pos + length
    if end > len(body):
        raise ProtocolError("properties run past the packet")
    out: dict[int, int | str] = {}
    while pos < end:
        ident = body[pos]
        kind = _PROPERTY_KINDS.get(ident)
        pos += 1
        if kind is None:
            raise ProtocolError(f"unknown property 0x{ident:02X}")
        if kind == _BYTE:
            out[ident], pos = body[pos], pos + 1
        elif kind == _TWO:
            out[ident], pos = int.from_bytes(body[pos : pos + 2]), pos + 2
        elif kind == _FOUR:
            out[ident], pos = int.from_bytes(body[pos : pos + 4]), pos + 4
        elif kind == _VARINT:
            v = read_varint(body, pos, end)
            if v is None:
                raise ProtocolError("truncated property")
            out[ident], pos = v
        else:
            parts = []
            for _ in range(2 if kind == _PAIR else 1):
                n = int.from_bytes(body[pos : pos + 2])
                parts.append(body[pos + 2 : pos + 2 + n])
                pos += 2 + n
            if kind == _STR:
                out[ident] = parts[0].decode("utf-8", "replace")
            elif kind == _PAIR and pairs is not None:
                pairs.append((parts[0], parts[1]))
    if pos != end:
        raise ProtocolError("properties run past their length")
    return out, end


def user_property(props: bytes, name: str) -> str | None:
    """The first user property called name in raw PUBLISH properties (see Publish), or None
    (also for malformed properties: the caller then goes without)."""
    if not props:
        return None
    pairs: list[tuple[bytes, bytes]] = []
    try:
        properties(varint(len(props)) + props, 0, pairs)
    except ProtocolError:
        return None
    want = name.encode()
    return next((v.decode("utf-8", "replace") for k, v in pairs if k == want), None)


def parse_connack(body: bytes) -> Connack:
    """CONNACK's session-present flag, reason code and the properties we act on."""
    if len(body) < 2:
        raise ProtocolError("CONNACK too short")
    props, _ = properties(body, 2) if len(body) > 2 else ({}, 2)
    keep = props.get(PROP_SERVER_KEEP_ALIVE)
    reason = props.get(PROP_REASON_STRING, "")
    return Connack(bool(body[0] & 1), body[1], keep if isinstance(keep, int) else None,
                   str(reason))  # fmt: skip


def parse_suback(body: bytes) -> tuple[int, list[int]]:
    """SUBACK's packet id and one reason code per topic filter (≥ 0x80: refused)."""
    if len(body) < 3:
        raise ProtocolError("SUBACK too short")
    _props, pos = properties(body, 2)
    return int.from_bytes(body[:2]), list(body[pos:])


def disconnect_reason(body: bytes) -> int:
    """The reason code of a DISCONNECT from the broker (0: normal)."""
    return body[0] if body else 0


# One PUBLISH as the collector queues it: (topic, payload, original size, packet id, QoS, the
# raw properties: b"" in the usual case, else the bytes after the properties length).
Publish = tuple[str, bytes, int, int, int, bytes]


def split_packets(
    buf: bytes, max_packet_bytes: int, cut_payload_over: int, cut_to: int
) -> tuple[list[Publish], list[Packet], int, int]:  # fmt: skip
    """Cut buf into whole packets: (publishes, other packets, bytes used, bytes the next needs).

    The last value is the length of the next, incomplete packet when known (0: unknown yet,
    at least a few more bytes). A payload over cut_payload_over bytes is cut to cut_to bytes
    (the collector rejects it and keeps only an excerpt). Topic aliases are never enabled, so
    every PUBLISH carries its topic.
    """
    pubs: list[Publish] = []
    others: list[Packet] = []
    append = pubs.append
    n, pos = len(buf), 0
    topics: dict[bytes, str] = {}
    while n - pos >= 2:
        first = buf[pos]
        # Remaining length: one byte in the common case (< 128), else up to four.
        i = pos + 1
        length = buf[i]
        i += 1
        if length >= 0x80:
            got = read_varint(buf, pos + 1, n)
            if got is None:
                return pubs, others, pos, 0
            length, i = got
        end = i + length
        if end - pos > max_packet_bytes:
            raise ProtocolError(f"a {end - pos} byte packet is over our {max_packet_bytes} limit")
        if end > n:
            return pubs, others, pos, end - pos
        if first >> 4 == PUBLISH:
            qos = (first >> 1) & 3
            tl = (buf[i] << 8) | buf[i + 1]
            j = i + 2 + tl
            raw = buf[i + 2 : j]
            topic = topics.get(raw)
            if topic is None:
                topic = topics[raw] = raw.decode("utf-8", "replace")
            mid = 0
            if qos:
                if qos > 1:
                    raise ProtocolError("QoS 2 PUBLISH on a QoS 1 subscription")
                mid = (buf[j] << 8) | buf[j + 1]
                j += 2
            plen = buf[j]
            props = b""
            if plen == 0:  # no properties: the usual case
                j += 1
            else:
                got = read_varint(buf, j, end)
                if got is None:
                    raise ProtocolError("truncated PUBLISH properties")
                props = buf[got[1] : got[1] + got[0]]
                j = got[1] + got[0]
            size = end - j
            if j > end:
                raise ProtocolError("PUBLISH header runs past the packet")
            payload = buf[j : j + cut_to] if size > cut_payload_over else buf[j:end]
            append((topic, payload, size, mid, qos, props))
        else:
            others.append(Packet(first >> 4, first & 0x0F, buf[i:end]))
        pos = end
    return pubs, others, pos, 0
