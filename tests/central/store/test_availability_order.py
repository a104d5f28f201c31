"""An agent's online/offline reports are ordered by the connection they belong to, not by when
central happens to receive them (a lagging second collector, a redelivery), on a real broker."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from central.store.writes import Store
from siaga.wire import AVAILABILITY_SINCE, OFFLINE, ONLINE, availability_topic
from tests.central.ingest.test_ingest import central_config
from tests.mqtt_broker import MosquittoBroker, wait_until

T0 = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


def publish(broker: MosquittoBroker, reports: list[tuple[str, str, datetime | None]]) -> None:
    """(agent, online/offline, connection start or None) in this order, each acknowledged."""
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="replayer", protocol=mqtt.MQTTv5)
    c.connect(broker.host, broker.port)
    c.loop_start()
    try:
        for agent, value, since in reports:
            props = None
            if since is not None:
                props = Properties(PacketTypes.PUBLISH)
                props.UserProperty = [(AVAILABILITY_SINCE, since.isoformat())]
            info = c.publish(availability_topic(agent), value, qos=1, properties=props)
            info.wait_for_publish(timeout=5)
    finally:
        c.disconnect()
        c.loop_stop()


def state(store: Store) -> dict[str, str | None]:
    return {a.agent_id: a.availability for a in store.agents()}


def test_reports_of_an_older_connection_never_win(
    central_mosquitto: MosquittoBroker, store: Store, db_url: str,
    collector_factory: Callable[..., Any],
) -> None:  # fmt: skip
    c = collector_factory(central_config(central_mosquitto, db_url), store)
    assert c.wait_ready(10)
    s1, s2, s3 = T0, T0 + timedelta(minutes=5), T0 + timedelta(minutes=9)
    publish(central_mosquitto, [
        ("late", ONLINE, s2),
        ("late", OFFLINE, s1),  # the will of an older connection, received late: ignored
        ("will", ONLINE, s1),
        ("will", OFFLINE, s1),  # its own connection's will: wins the tie
        ("will", ONLINE, s1),  # a redelivered online of that same, ended connection: ignored
        ("back", OFFLINE, s1),
        ("back", ONLINE, s3),  # a new connection: online again
        ("plain", OFFLINE, None),  # no connection start (an older agent): receive order
        ("plain", ONLINE, None),
        # Upgraded: the old version's will (no start), then the new one's online, whose
        # connection began before central received that will (central was lagging).
        ("upgraded", OFFLINE, None),
        ("upgraded", ONLINE, T0),
        ("downgraded", ONLINE, T0),  # and back: a report received after that connection began
        ("downgraded", OFFLINE, None),
    ])  # fmt: skip
    expected = {"late": ONLINE, "will": OFFLINE, "back": ONLINE, "plain": ONLINE,
                "upgraded": ONLINE, "downgraded": OFFLINE}  # fmt: skip
    assert wait_until(lambda: state(store) == expected, 10), state(store)
    # A stale online of the first connection after the new one's: still the newest wins.
    publish(central_mosquitto, [("back", OFFLINE, s2), ("late", OFFLINE, s2)])
    assert wait_until(lambda: state(store)["late"] == OFFLINE, 10), state(store)
    assert state(store)["back"] == ONLINE
