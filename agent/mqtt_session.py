"""One MQTT connection of the publisher: its paho client, its state and the events it posts."""

from __future__ import annotations

import contextlib
import queue
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from agent.config import MqttSection
from siaga.mqtt import configure_client
from siaga.wire import AVAILABILITY_SINCE, OFFLINE

CONNECT_TIMEOUT_S = 5.0  # TCP connect and TLS handshake

EventKind = Literal["connack", "puback", "suback", "confirm", "disconnect", "wake", "status",
                    "stop"]


@dataclass(frozen=True, slots=True)
class Event:
    kind: EventKind
    gen: int = 0  # which connection a paho callback came from (0: not from paho)
    mid: int = 0
    code: ReasonCode | None = None
    receive_max: int = 0
    max_packet: int = 0  # the broker's Maximum Packet Size (CONNACK), 0: not given
    payload: bytes = b""  # "confirm": central's AckMessage


@dataclass(slots=True)
class Session:
    """One connection: its paho client and what is in flight on it."""

    gen: int
    client: mqtt.Client
    since: str = ""  # when this connection started (wire AVAILABILITY_SINCE), ISO 8601 UTC
    up: bool = False  # CONNACK success received and not yet disconnected
    ended: bool = False  # stop serving: refused, lost or timed out
    closed: bool = False  # paho reported the disconnect
    up_since: float = 0.0
    up_for_s: float = 0.0
    window: int = 1
    max_packet: int = 0  # 0: no limit announced
    last_sent: int | None = None
    inflight: dict[int, int] = field(default_factory=dict)  # mid -> seq
    control: dict[int, str] = field(default_factory=dict)  # mid -> topic (online, status, offline)
    confirming: bool = False  # rows wait for central's confirmation on this connection
    probe: str = ""  # nonce of the read-permission probe sent on the ack topic
    probe_until: float = float("inf")  # no echo of it by then: confirmations cannot be read


def new_client(
    cfg: MqttSection,
    *,
    client_id: str,
    username: str,
    gen: int,
    will_topic: str,
    events: queue.SimpleQueue[Event],
    since: str = "",
) -> mqtt.Client:
    """A fresh paho v5 client that never reconnects, queues or re-sends on its own.

    Its callbacks run on paho's thread while it holds its locks: they only post events
    (tagged with `gen`, the connection they came from) for the delivery thread.
    """
    c = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2, client_id=client_id,
        protocol=mqtt.MQTTv5, reconnect_on_failure=False,
    )  # fmt: skip
    configure_client(c, cfg, username=username)
    c.will_set(will_topic, OFFLINE, qos=1, retain=True,
               properties=availability_properties(since, PacketTypes.WILLMESSAGE))  # fmt: skip
    c.max_inflight_messages_set(0)  # our own window limits what is in flight; paho never queues
    c.connect_timeout = CONNECT_TIMEOUT_S
    put = events.put

    def on_connect(_c: Any, _u: Any, _f: Any, code: ReasonCode, props: Any) -> None:
        receive_max = int(getattr(props, "ReceiveMaximum", 0) or 0)
        max_packet = int(getattr(props, "MaximumPacketSize", 0) or 0)
        put(Event("connack", gen, code=code, receive_max=receive_max, max_packet=max_packet))

    def on_publish(_c: Any, _u: Any, mid: int, code: ReasonCode, _p: Any) -> None:
        put(Event("puback", gen, mid=mid, code=code))

    def on_disconnect(_c: Any, _u: Any, _f: Any, code: ReasonCode, _p: Any) -> None:
        put(Event("disconnect", gen, code=code))

    def on_subscribe(_c: Any, _u: Any, mid: int, codes: list[ReasonCode], _p: Any) -> None:
        put(Event("suback", gen, mid=mid, code=codes[0] if codes else None))

    def on_message(_c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        put(Event("confirm", gen, payload=bytes(msg.payload)))

    c.on_connect, c.on_publish, c.on_disconnect = on_connect, on_publish, on_disconnect
    c.on_subscribe, c.on_message = on_subscribe, on_message
    return c


def availability_properties(since: str, packet: int = PacketTypes.PUBLISH) -> Properties | None:
    """The user property that orders this connection's availability reports at central."""
    if not since:
        return None
    props = Properties(packet)
    props.UserProperty = [(AVAILABILITY_SINCE, since)]
    return props


def connection_since() -> str:
    """Now, as the AVAILABILITY_SINCE of a new connection (ms: reconnects come seconds apart)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def shutdown_socket(client: mqtt.Client) -> None:
    """Break a stuck connection: paho's thread sees the error and ends by itself."""
    sock = client.socket()
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
