"""The browsers' credentials against the generated broker configuration (issue 21): the
dashboard user reads summaries, alerts and availability over the WebSocket listener (TLS) and
nothing else, publishes nothing, and cannot log in on the agents' listeners; the public user
reads the area summaries only.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import Iterator
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from pydantic import SecretStr

from siaga.wire import (
    ack_topic,
    alerts_topic,
    availability_topic,
    counts_topic,
    status_topic,
    summary_topic,
)
from tests.central.fleet.broker_world import WAIT_S, World, attempt, raw_client
from tests.central.ingest.test_ingest import counts_message
from tests.mqtt_broker import wait_until

_ids = itertools.count()
SUMMARY = summary_topic("kelurahan", "33.74.16.1004")
CAMERA_SUMMARY = summary_topic("camera", "box-a/cam1")
BRIDGE_STATE = "siaga/v1/bridge/bridge-x/state"


class WebClient:
    """A browser's connection: MQTT v3.1.1 over wss:// (what mqtt.js speaks), recording."""

    def __init__(self, world: World, user: str) -> None:
        self.got: list[tuple[str, bytes]] = []
        self.granted: list[int] = []
        self._lock = threading.Lock()
        self._subacked = threading.Event()
        c = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, transport="websockets",
                        client_id=f"web-{next(_ids)}", protocol=mqtt.MQTTv311)  # fmt: skip
        c.tls_set(ca_certs=str(world.fleet.ca_cert))
        c.username_pw_set(user, world.password(user))
        c.on_message = self._on_message
        c.on_subscribe = self._on_subscribe
        self.client = c

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.got.append((msg.topic, bytes(msg.payload)))

    def _on_subscribe(self, _c: Any, _u: Any, _mid: int, codes: Any, _p: Any) -> None:
        self.granted = [int(getattr(rc, "value", rc)) for rc in codes]
        self._subacked.set()

    def topics(self) -> set[str]:
        with self._lock:
            return {t for t, _ in self.got}

    def subscribe(self, *filters: str) -> None:
        self._subacked.clear()
        self.client.subscribe([(f, 1) for f in filters])
        assert self._subacked.wait(5), "no SUBACK over the WebSocket listener"


@contextlib.contextmanager
def web_client(world: World, user: str) -> Iterator[WebClient]:
    w = WebClient(world, user)
    w.client.connect("127.0.0.1", world.ws_port, keepalive=10)
    w.client.loop_start()
    try:
        assert wait_until(w.client.is_connected, 5), f"{user} could not connect over wss://"
        yield w
    finally:
        w.client.disconnect()
        w.client.loop_stop()


def _publish(client: mqtt.Client, msgs: list[tuple[str, bytes]], *, retain: bool = False) -> None:
    for topic, payload in msgs:
        client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)


def test_dashboard_reads_summaries_alerts_availability_only(world: World) -> None:
    """Subscribed to everything, the dashboard gets exactly its topics (retained and live)."""
    ops = world.section(world.pw_port, password=SecretStr(world.password("ops")))
    box = world.section(world.pw_port, password=SecretStr(world.password("box-a")))
    with raw_client(world, ops, "ops") as admin, raw_client(world, box, "box-a") as agent:
        _publish(admin, [(SUMMARY, b'{"retained": 1}'), (BRIDGE_STATE, b"1")], retain=True)
        _publish(agent, [(availability_topic("box-a"), b"online"),
                         (status_topic("box-a"), b'{"status": 1}')], retain=True)  # fmt: skip
        with web_client(world, "dash") as dash:
            dash.subscribe("siaga/v1/#", "#", counts_topic("box-a", "cam1"),
                           status_topic("box-a"), ack_topic("box-a"))  # fmt: skip
            # Live: an agent counts and reports status; central confirms; an alert; a summary
            # last, so that everything before it had its chance to arrive.
            counts = counts_message("box-a", 1).to_payload()
            _publish(agent, [(counts_topic("box-a", "cam1"), counts),
                             (status_topic("box-a"), b'{"status": 2}')])  # fmt: skip
            _publish(admin, [(ack_topic("box-a"), b'{"acked": 1}'), (alerts_topic(), b"{}"),
                             (SUMMARY, b'{"live": 1}')])  # fmt: skip
            assert wait_until(lambda: b'{"live": 1}' in [p for _, p in dash.got], WAIT_S)
            assert dash.topics() == {SUMMARY, alerts_topic(), availability_topic("box-a"),
                                     BRIDGE_STATE}, dash.got  # fmt: skip
            assert (SUMMARY, b'{"retained": 1}') in dash.got  # the retained state on subscribe


def test_dashboard_publishes_nothing(world: World) -> None:
    ops = world.section(world.pw_port, password=SecretStr(world.password("ops")))
    with raw_client(world, ops, "ops") as admin, web_client(world, "dash") as dash:
        seen: list[tuple[str, bytes]] = []

        def on_message(_c: Any, _u: Any, m: mqtt.MQTTMessage) -> None:
            if not m.retain:  # what earlier tests left retained is not news
                seen.append((m.topic, bytes(m.payload)))

        admin.on_message = on_message
        admin.subscribe([("siaga/v1/#", 1), ("#", 1)])
        _publish(admin, [(alerts_topic(), b"ready")])  # the subscription is in place
        assert wait_until(lambda: (alerts_topic(), b"ready") in seen, WAIT_S)
        forged = [(SUMMARY, b"forged"), (alerts_topic(), b"forged"),
                  (availability_topic("box-a"), b"offline"), (ack_topic("box-a"), b"forged"),
                  (counts_topic("box-a", "cam1"), counts_message("box-a", 9).to_payload()),
                  (counts_topic("dash", "cam1"), counts_message("dash", 9).to_payload()),
                  (BRIDGE_STATE, b"0"), ("elsewhere/x", b"forged")]  # fmt: skip
        _publish(dash.client, forged)
        _publish(admin, [(alerts_topic(), b"marker")])
        assert wait_until(lambda: (alerts_topic(), b"marker") in seen, WAIT_S)
        assert set(seen) == {(alerts_topic(), b"ready"), (alerts_topic(), b"marker")}, seen


@pytest.mark.parametrize("user", ["dash", "pub"])
def test_browser_credentials_are_refused_on_the_agents_listeners(world: World, user: str) -> None:
    pw = world.section(world.pw_port, password=SecretStr(world.password(user)))
    refused = attempt(pw, user)
    assert not refused.connected and "not authori" in refused.why.lower(), refused.why
    # The certificate listener wants a client certificate from the fleet CA: a password alone
    # does not get past the TLS handshake.
    cert = world.section(world.cert_port, password=SecretStr(world.password(user)))
    assert not attempt(cert, user).connected
    # And an agent's password is refused on the WebSocket listener (browsers' users only).
    agent = WebClient(world, "dash")
    agent.client.username_pw_set("box-a", world.password("box-a"))
    agent.client.connect("127.0.0.1", world.ws_port, keepalive=5)
    agent.client.loop_start()
    try:
        assert not wait_until(agent.client.is_connected, 2)
    finally:
        agent.client.loop_stop()


def test_public_reads_area_summaries_only(world: World) -> None:
    ops = world.section(world.pw_port, password=SecretStr(world.password("ops")))
    city = summary_topic("city")
    with raw_client(world, ops, "ops") as admin, web_client(world, "pub") as pub:
        pub.subscribe("#", "siaga/v1/summary/#")
        _publish(admin, [(CAMERA_SUMMARY, b"cam"), (alerts_topic(), b"alert"),
                         (availability_topic("box-a"), b"online"), (SUMMARY, b"kel"),
                         (city, b"city")])  # fmt: skip
        assert wait_until(lambda: city in pub.topics(), WAIT_S)
        assert pub.topics() == {SUMMARY, city}, pub.got
