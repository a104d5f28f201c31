"""The agent's end-to-end confirmation on a real Mosquitto (central played by hand): rows stay
after the broker's PUBACK until a confirmation of their epoch covers them; unconfirmed rows are
sent again after confirm_timeout_s; a broker ACL that refuses the ack topic falls back to PUBACKs
and says so."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from agent.config import MqttSection
from agent.outbox import Outbox
from agent.publisher import Publisher
from siaga.wire import AckMessage, ack_topic
from tests.mqtt_broker import MosquittoBroker, Subscriber, mosquitto_passwd_binary, wait_until

AGENT = "box1"
TOPIC = f"siaga/v1/{AGENT}/cam1/counts"


def confirm(broker: MosquittoBroker, epoch: str, seq: int, agent: str = AGENT,
            username: str | None = None, password: str | None = None) -> None:  # fmt: skip
    """Publish central's retained confirmation, as central.ingest.confirm does."""
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="central-sim", protocol=mqtt.MQTTv5)
    if username:
        c.username_pw_set(username, password)  # the agent itself may write there
    c.connect(broker.host, broker.port)
    c.loop_start()
    try:
        msg = AckMessage(agent_id=agent, epoch=epoch, seq=seq, time=datetime.now(UTC))
        c.publish(ack_topic(agent), msg.to_payload(), qos=1, retain=True).wait_for_publish(5)
    finally:
        c.disconnect()
        c.loop_stop()


@pytest.fixture
def box(tmp_path: Path) -> Iterator[list[tuple[Publisher, Outbox]]]:
    made: list[tuple[Publisher, Outbox]] = []
    yield made
    for pub, ob in made:
        pub.stop(timeout_s=1.0)
        ob.close()


def start(made: list, broker: MosquittoBroker, path: Path,
          **kw: object) -> tuple[Publisher, Outbox]:  # fmt: skip
    cfg = MqttSection(host=broker.host, port=broker.port, tls=False, reconnect_min_s=0.05,
                      reconnect_max_s=0.3, **kw)  # type: ignore[arg-type]  # fmt: skip
    ob = Outbox(path)
    pub = Publisher(cfg, agent_id=AGENT, outbox=ob)
    made.append((pub, ob))
    pub.start()
    return pub, ob


def enqueue(pub: Publisher, ob: Outbox, n: int) -> None:
    for _ in range(n):
        ob.enqueue(TOPIC, lambda s: str(s).encode())
    pub.notify()


def test_rows_stay_until_central_confirms_their_epoch(mosquitto, box, tmp_path):
    pub, ob = start(box, mosquitto, tmp_path / "o.sqlite3")
    with Subscriber(mosquitto, [TOPIC]) as sub:
        enqueue(pub, ob, 10)
        assert sub.wait_for(lambda m: len(m) >= 10, 10)
        assert wait_until(lambda: pub.stats().acked == 10, 5)
    assert ob.depth() == 10  # the broker has them; central has said nothing
    confirm(mosquitto, "SomeOtherEpoch01", 10)  # an old outbox's confirmation: not ours
    confirm(mosquitto, ob.epoch, 6)
    assert wait_until(lambda: ob.depth() == 4, 5), ob.depth()
    assert ob.first_seq() == 7 and ob.confirmed_seq() == 6
    confirm(mosquitto, ob.epoch, 10)
    assert wait_until(lambda: ob.depth() == 0, 5)
    assert pub.stats().confirmed == 10


def test_unconfirmed_rows_are_sent_again_after_the_timeout(mosquitto, box, tmp_path):
    pub, ob = start(box, mosquitto, tmp_path / "o.sqlite3", confirm_timeout_s=5)
    with Subscriber(mosquitto, [TOPIC]) as sub:
        enqueue(pub, ob, 3)
        assert sub.wait_for(lambda m: len(m) >= 3, 10)
        # Nobody confirms: after 5 s the three go again, in order, on the same connection.
        assert sub.wait_for(lambda m: len(m) >= 6, 12), len(sub.snapshot())
        assert [int(m.payload) for m in sub.snapshot()[:6]] == [1, 2, 3, 1, 2, 3]
    assert pub.stats().resends == 1 and pub.stats().connects == 1
    confirm(mosquitto, ob.epoch, 3)
    assert wait_until(lambda: ob.depth() == 0, 5)


def test_a_retained_confirmation_is_read_on_reconnect(mosquitto, box, tmp_path):
    path = tmp_path / "o.sqlite3"
    pub, ob = start(box, mosquitto, path)
    enqueue(pub, ob, 5)
    assert wait_until(lambda: pub.stats().acked == 5, 10)
    pub.stop(timeout_s=1.0)
    ob.close()
    box.clear()
    confirm(mosquitto, Outbox(path).epoch, 5)  # central confirmed while the agent was away
    pub, ob = start(box, mosquitto, path)
    assert wait_until(lambda: ob.depth() == 0, 10), ob.depth()


@pytest.mark.parametrize("readable", [True, False])
def test_the_ack_topic_must_be_readable_else_pubacks_decide(
    readable, mosquitto_factory, box, tmp_path
):
    tool = mosquitto_passwd_binary()
    if tool is None:
        pytest.skip("mosquitto_passwd not found (apt-get install mosquitto)")
    passwd, acl = tmp_path / "passwd", tmp_path / "acl"
    subprocess.run([tool, "-b", "-c", passwd, AGENT, "secret"], check=True, timeout=10)
    passwd.chmod(0o600)
    # The fleet's ACL, and the one from before confirmations (Mosquitto still grants the
    # subscription, then delivers nothing: only the probe tells).
    acl.write_text("pattern write siaga/v1/%u/#\n"
                   + ("pattern read siaga/v1/%u/ack\n" if readable else ""))  # fmt: skip
    broker = mosquitto_factory(allow_anonymous=False,
                               extra_config=[f"password_file {passwd}", f"acl_file {acl}"])
    pub, ob = start(box, broker, tmp_path / "o.sqlite3", username=AGENT, password="secret")
    enqueue(pub, ob, 5)
    assert wait_until(lambda: pub.stats().acked == 5, 5)
    if readable:
        time.sleep(12)  # past the probe's time: still waiting for central
        assert ob.depth() == 5 and pub.stats().last_error is None
        confirm(broker, ob.epoch, 5, username=AGENT, password="secret")
        assert wait_until(lambda: ob.depth() == 0, 5)
    else:
        assert wait_until(lambda: ob.depth() == 0, 20), (ob.depth(), pub.stats())
        assert "pattern read" in (pub.stats().last_error or ""), pub.stats().last_error


def test_a_window_the_broker_refuses_for_good_is_dropped_and_counted(mosquitto_factory, box,
                                                                     tmp_path):  # fmt: skip
    # Over the maximum packet size the broker announces: sent, it would make the broker drop the
    # connection, on every connection; kept, it would hold back the confirmation of every later
    # window for ever.
    broker = mosquitto_factory(extra_config=["max_packet_size 1000"])
    pub, ob = start(box, broker, tmp_path / "o.sqlite3")
    with Subscriber(broker, [TOPIC]) as sub:
        ob.enqueue(TOPIC, lambda s: str(s).encode())
        ob.enqueue(TOPIC, lambda s: b"x" * 2000)
        ob.enqueue(TOPIC, lambda s: str(s).encode())
        pub.notify()
        assert sub.wait_for(lambda m: len(m) >= 2, 10)
        assert wait_until(lambda: ob.dropped() == 1, 5), (ob.dropped(), pub.stats())
        assert [m.payload for m in sub.snapshot()] == [b"1", b"3"]
    assert [r.seq for r in ob.pending(10)] == [1, 3]  # waiting for central, 2 gone for good
    confirm(broker, ob.epoch, 1)
    assert wait_until(lambda: ob.depth() == 1, 5)
