"""The collector's own MQTT v5 client: packet codec, then round trips with a real Mosquitto."""

from __future__ import annotations

import logging
import shutil
import struct
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.publish as mqtt_publish
import pytest
from paho.mqtt.client import MQTTv5
from pydantic import SecretStr

from central.ingest import packets as w
from central.ingest.client import IngestClient, Subscription
from siaga.settings import BrokerSection
from tests.agent.test_publisher import make_ca_and_server
from tests.mqtt_broker import MosquittoBroker, wait_until

# ---- the codec, without a broker ----


def publish_packet(
    topic: str, payload: bytes, *, qos: int, mid: int = 0, props: bytes = b""
) -> bytes:
    """A PUBLISH as a broker writes it (written here independently of the parser)."""
    t = topic.encode()
    body = struct.pack("!H", len(t)) + t + (struct.pack("!H", mid) if qos else b"")
    body += w.varint(len(props)) + props + payload
    return bytes([0x30 | (qos << 1)]) + w.varint(len(body)) + body


@pytest.mark.parametrize(
    ("n", "encoded"),
    [(0, b"\x00"), (127, b"\x7f"), (128, b"\x80\x01"), (16_383, b"\xff\x7f"),
     (16_384, b"\x80\x80\x01"), (268_435_455, b"\xff\xff\xff\x7f")],
)  # fmt: skip
def test_varint_matches_the_spec_examples(n: int, encoded: bytes) -> None:
    assert w.varint(n) == encoded


def test_varint_refuses_what_mqtt_cannot_carry() -> None:
    with pytest.raises(ValueError, match="does not fit"):
        w.varint(268_435_456)


@pytest.mark.parametrize(
    "n", [0, 1, 127, 128, 16_383, 16_384, 2_097_151, 2_097_152, w.MAX_REMAINING]
)
def test_varint_round_trip(n: int) -> None:
    b = w.varint(n)
    assert len(b) == 1 + (n > 127) + (n > 16_383) + (n > 2_097_151)
    assert w.read_varint(b + b"tail", 0, len(b) + 4) == (n, len(b))
    assert w.read_varint(b[:-1], 0, len(b) - 1) is None  # cut short: wait for more


def test_varint_limits() -> None:
    with pytest.raises(ValueError):
        w.varint(w.MAX_REMAINING + 1)
    with pytest.raises(w.ProtocolError):
        w.read_varint(b"\xff\xff\xff\xff\x01", 0, 5)


STREAM = [
    ("siaga/v1/box-1/cam1/counts", b'{"seq": 1}', 1, 7, b""),
    ("siaga/v1/box-1/status", b"", 0, 0, b""),  # a retained message being cleared
    ("siaga/v1/b\xc3\xa9/cam1/counts".encode().decode(), b"x" * 300, 1, 65_535, b""),
    ("siaga/v1/box-2/cam1/counts", b"y" * 20_000, 1, 1, b"\x01\x01\x0b\x05"),  # with properties
    ("siaga/v1/box-3/availability", b"online", 1, 2, b""),
]


def stream_bytes() -> bytes:
    out = b"".join(publish_packet(t, p, qos=q, mid=m, props=pr) for t, p, q, m, pr in STREAM)
    return out + b"\xd0\x00" + bytes([0x90, 4, 0, 1, 0, 1])  # PINGRESP, SUBACK


def test_split_packets_decodes_publishes_and_others() -> None:
    pubs, others, used, need = w.split_packets(stream_bytes(), 1 << 20, 10_000, 256)
    assert used == len(stream_bytes()) and need == 0
    expected = [(t, p[:256] if len(p) > 10_000 else p, len(p), m, q, pr)
                for t, p, q, m, pr in STREAM]  # fmt: skip
    assert pubs == expected
    assert [(o.kind, o.body) for o in others] == [
        (w.PINGRESP, b""),
        (w.SUBACK, b"\x00\x01\x00\x01"),
    ]
    assert w.parse_suback(others[1].body) == (1, [1])


def test_split_packets_resumes_at_every_cut() -> None:
    data = stream_bytes()
    whole = w.split_packets(data, 1 << 20, 10_000, 256)
    for cut in range(1, len(data)):
        pubs, others, used, need = w.split_packets(data[:cut], 1 << 20, 10_000, 256)
        assert need == 0 or need > cut - used  # the next packet is indeed incomplete
        rest = w.split_packets(data[used:], 1 << 20, 10_000, 256)
        assert pubs + rest[0] == whole[0] and others + rest[1] == whole[1], cut


def test_packet_over_the_limit_is_a_protocol_error() -> None:
    with pytest.raises(w.ProtocolError):
        w.split_packets(publish_packet("t", b"z" * 5000, qos=1, mid=1), 4096, 10_000, 256)
    with pytest.raises(w.ProtocolError):
        w.split_packets(publish_packet("t", b"z", qos=2, mid=1), 4096, 10_000, 256)


def test_connect_and_connack() -> None:
    pkt = w.connect_packet("central-1", keepalive_s=30, session_expiry_s=86_400,
                           receive_max=1000, max_packet_bytes=1 << 20, username="u",
                           password="p")  # fmt: skip
    assert pkt[0] == 0x10 and w.read_varint(pkt, 1, len(pkt)) == (len(pkt) - 2, 2)
    body = pkt[2:]
    assert body[:7] == b"\x00\x04MQTT\x05" and body[7] == 0xC0  # user+password, clean start off
    props, pos = w.properties(body, 10)
    assert props == {w.PROP_SESSION_EXPIRY: 86_400, w.PROP_RECEIVE_MAX: 1000,
                     w.PROP_MAX_PACKET: 1 << 20}  # fmt: skip
    assert body[pos:] == b"\x00\x09central-1\x00\x01u\x00\x01p"
    ack = w.parse_connack(b"\x01\x00\x08\x13\x00\x3c\x1f\x00\x02ok")
    assert ack == w.Connack(session_present=True, reason=0, keepalive_s=60, reason_string="ok")
    assert w.pubacks([1, 65_535]) == b"\x40\x02\x00\x01\x40\x02\xff\xff"


# ---- against Mosquitto ----


class Receiver:
    """An IngestClient whose deliveries are recorded; acks are left to the test."""

    def __init__(
        self, cfg: BrokerSection, client_id: str, topic: str = "t/#",
        reconnect: tuple[float, float] = (0.05, 0.2),
    ) -> None:  # fmt: skip
        self.got: list[tuple[str, bytes, int, int]] = []
        self.lock = threading.Lock()
        self.client = IngestClient(
            cfg, client_id, [Subscription(topic)], on_messages=self._on,
            session_expiry_s=600, receive_max=5000, max_packet_bytes=1 << 20,
            cut_payload_over=65_536, cut_to=256, reconnect_min_s=reconnect[0],
            reconnect_max_s=reconnect[1],
        )  # fmt: skip

    def _on(self, pubs: list[w.Publish], _received: float, gen: int) -> None:
        with self.lock:
            self.got.extend((t, p, mid, gen) for t, p, _s, mid, _q, _pr in pubs)

    def take(self) -> list[tuple[str, bytes, int, int]]:
        with self.lock:
            out, self.got = self.got, []
        return out


@pytest.fixture
def receivers() -> Iterator[Callable[..., Receiver]]:
    made: list[Receiver] = []

    def make(*args: Any, **kwargs: Any) -> Receiver:
        r = Receiver(*args, **kwargs)
        r.client.start()
        made.append(r)
        return r

    yield make
    for r in made:
        r.client.stop(2.0)


def broker_cfg(broker: MosquittoBroker, **kw: Any) -> BrokerSection:
    return BrokerSection(host=broker.host, port=broker.port, keepalive_s=5, **kw)


def publish_n(broker: MosquittoBroker, n: int, start: int = 0) -> None:
    mqtt_publish.multiple([{"topic": f"t/{i % 7}", "payload": str(i).encode(), "qos": 1}
                           for i in range(start, start + n)],
                          hostname=broker.host, port=broker.port, protocol=MQTTv5)  # fmt: skip


def test_only_acknowledged_messages_are_not_delivered_again(
    central_mosquitto: MosquittoBroker, receivers: Callable[..., Receiver]
) -> None:
    r = receivers(broker_cfg(central_mosquitto), "ingest-a")
    assert wait_until(lambda: r.client.ready, 10)
    publish_n(central_mosquitto, 3000)
    assert wait_until(lambda: len(r.got) >= 3000, 20), len(r.got)
    got = r.take()
    assert sorted(int(p) for _t, p, _m, _g in got) == list(range(3000))
    assert all(t == f"t/{int(p) % 7}" for t, p, _m, _g in got)
    gen = r.client.generation
    acked = [m for _t, p, m, _g in got if int(p) % 2 == 0]
    assert r.client.ack(acked, gen) == len(acked)
    assert r.client.ack([1], gen - 1) == 0  # an older connection's ids mean nothing now
    assert wait_until(lambda: r.client.acks_pending == 0, 5)  # written before the drop
    r.client.reconnect()
    assert wait_until(lambda: r.client.generation == gen + 1 and r.client.ready, 10)
    assert wait_until(lambda: len(r.got) >= 1500, 20), len(r.got)
    again = r.take()
    assert sorted(int(p) for _t, p, _m, _g in again) == list(range(1, 3000, 2))
    assert r.client.ack([m for _t, _p, m, _g in again], gen + 1) == 1500
    assert r.client.stop(2.0)
    # A new process with the same client id resumes the session: nothing is left in it.
    r2 = receivers(broker_cfg(central_mosquitto), "ingest-a")
    assert wait_until(lambda: r2.client.ready, 10) and r2.client.session_present
    publish_n(central_mosquitto, 1, start=5000)
    assert wait_until(lambda: [p for _t, p, _m, _g in r2.got] == [b"5000"], 10), r2.got


def test_reconnects_after_a_broker_restart(
    central_mosquitto: MosquittoBroker, receivers: Callable[..., Receiver]
) -> None:
    r = receivers(broker_cfg(central_mosquitto), "ingest-b")
    assert wait_until(lambda: r.client.ready, 10)
    central_mosquitto.restart(down_s=0.3)
    assert wait_until(lambda: r.client.ready and r.client.connects == 2, 15)
    publish_n(central_mosquitto, 10)
    assert wait_until(lambda: len(r.got) == 10, 10)


def test_a_session_taken_over_backs_off(
    central_mosquitto: MosquittoBroker, receivers: Callable[..., Receiver]
) -> None:
    # Two collectors left on one client id (instance) take the session from each other: each
    # connection is accepted and subscribed, then closed by the broker at once. Only a
    # subscribed connection that lasted STABLE_AFTER_S resets the backoff, so they slow down
    # (0.2, 0.4, 0.8, 1.6 s: about 5 connections each in 4 s, not 20).
    a = receivers(broker_cfg(central_mosquitto), "ingest-twin", reconnect=(0.2, 5.0))
    b = receivers(broker_cfg(central_mosquitto), "ingest-twin", reconnect=(0.2, 5.0))
    assert wait_until(lambda: a.client.connects + b.client.connects >= 3, 10)
    time.sleep(4.0)
    total = a.client.connects + b.client.connects
    assert total <= 16, total


def test_password_and_tls(
    mosquitto_factory: Callable[..., MosquittoBroker], receivers: Callable[..., Receiver],
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    if shutil.which("openssl") is None:
        pytest.skip("openssl CLI not installed")
    ca, crt, key = make_ca_and_server(tmp_path, "city")
    probe = mosquitto_factory()  # only for a work folder for the password file
    pw = probe.password_file({"central": "right-secret"})
    broker = mosquitto_factory(allow_anonymous=False, extra_config=[
        f"password_file {pw}", f"cafile {ca}", f"certfile {crt}", f"keyfile {key}"])  # fmt: skip
    with caplog.at_level(logging.DEBUG, logger="central.ingest.client"):
        bad = receivers(broker_cfg(broker, tls=True, ca_file=ca, username="central",
                                   password=SecretStr("wrong-secret")), "ingest-bad")  # fmt: skip
        refused = ("bad user name or password", "not authorized")
        assert wait_until(lambda: any(r in caplog.text for r in refused), 10), caplog.text
        assert wait_until(lambda: caplog.text.count("refused the connection") >= 3, 10)
        assert not bad.client.ready
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(errors) == 1 and "ingest-bad" in errors[0].getMessage()  # once, no flood
        good = receivers(broker_cfg(broker, tls=True, ca_file=ca, username="central",
                                    password=SecretStr("right-secret")), "ingest-good")  # fmt: skip
        assert wait_until(lambda: good.client.ready, 10), caplog.text
    mqtt_publish.single("t/x", b"over tls", qos=1, hostname=broker.host, port=broker.port,
                        auth={"username": "central", "password": "right-secret"},
                        tls={"ca_certs": str(ca)}, protocol=MQTTv5)  # fmt: skip
    assert wait_until(lambda: [p for _t, p, _m, _g in good.got] == [b"over tls"], 10)
    assert "wrong-secret" not in caplog.text and "right-secret" not in caplog.text


def test_pings_keep_an_idle_connection(
    central_mosquitto: MosquittoBroker, receivers: Callable[..., Receiver]
) -> None:
    # keepalive_s=5: without a PINGREQ the broker would drop us after 7.5 s of silence.
    r = receivers(broker_cfg(central_mosquitto), "ingest-idle")
    assert wait_until(lambda: r.client.ready, 10)
    assert not wait_until(lambda: not r.client.ready or r.client.connects > 1, 9.0)
    publish_n(central_mosquitto, 3)
    assert wait_until(lambda: len(r.got) == 3, 10) and r.client.connects == 1


def test_user_property_among_other_properties() -> None:
    def pair(k: str, v: str) -> bytes:
        return b"\x26" + w.utf8(k) + w.utf8(v)

    props = (
        b"\x01\x01"
        + b"\x02\x00\x00\x00\x3c"
        + pair("x", "1")
        + pair("since", "2026-11-27T01:02:03.004+00:00")
        + b"\x0b\x05"
    )
    packet = publish_packet("siaga/v1/box-3/availability", b"offline", qos=1, mid=9, props=props)
    (pub,), _others, _used, _need = w.split_packets(packet, 1 << 20, 10_000, 256)
    assert pub[1] == b"offline" and pub[5] == props
    assert w.user_property(pub[5], "since") == "2026-11-27T01:02:03.004+00:00"
    assert w.user_property(pub[5], "x") == "1"
    assert w.user_property(pub[5], "other") is None and w.user_property(b"", "since") is None
    assert w.user_property(b"\x26\x00\x05ab", "since") is None  # truncated: ignored, no crash
