"""The collector against a real Mosquitto, on SQLite and PostgreSQL.

Valid counts are stored exactly once and acknowledged; every kind of malformed payload is
rejected with its reason, counted and recorded; topic/payload disagreements are rejected; agent
availability and status are tracked; restarts and database outages lose nothing.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import paho.mqtt.publish as mqtt_publish
import pytest
from paho.mqtt.client import MQTTv5
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from central.config import CentralConfig, CentralSection, MqttSection, StorageSection
from central.ingest.collector import Collector
from central.ingest.validate import check, route
from central.sim.agents import MALFORMED, MODEL, SimConfig, SimResult, Simulation
from central.store import schema
from central.store.engine import make_engine
from central.store.writes import Store
from siaga.wire import (
    CountsMessage,
    StatusMessage,
    availability_topic,
    counts_topic,
    status_topic,
)
from tests.mqtt_broker import MosquittoBroker, wait_until

PREFIX = "siaga/v1"
WAIT_S = 30.0
Factory = Callable[..., Collector]


def central_config(
    broker: MosquittoBroker, url: str, *, instance: str = "central-1",
    max_payload_bytes: int = 64 * 1024, share_group: str | None = "central", **storage: Any,
) -> CentralConfig:  # fmt: skip
    """A collector config for a test broker and database: short waits, quick reconnects.

    On a shared subscription by default: collectors of different instances split the load."""
    return CentralConfig(
        central=CentralSection(instance=instance),
        mqtt=MqttSection(host=broker.host, port=broker.port, reconnect_min_s=0.1,
                         reconnect_max_s=0.5, max_payload_bytes=max_payload_bytes,
                         share_group=share_group),
        storage=StorageSection(url=url, **{"batch_max_wait_ms": 50, **storage}),
    )  # fmt: skip


def settled(c: Collector, expected: int) -> Callable[[], bool]:
    """True once the collector has handled (stored, deduplicated or rejected) expected messages."""

    def done() -> bool:
        m = c.metrics()
        handled = (m["stored"] + m["duplicates"] + m["rejected_total"] + m["ignored"]
                   + m["status_updates"] + m["availability_updates"])  # fmt: skip
        return handled >= expected and m["queue_depth"] == 0

    return done


# Windows from two days ago on (minute-aligned): recent enough to be plausible
# (central.ingest.plausibility
# quarantines windows older than the retention horizon), far enough back for thousands of seqs.
_BASE = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(days=2)


def counts_message(agent: str, seq: int, camera: str = "cam1", **over: Any) -> CountsMessage:
    """A valid counts message."""
    start = _BASE + timedelta(minutes=seq)
    fields: dict[str, Any] = {
        "agent_id": agent, "seq": seq, "camera_id": camera, "site": "pasar johar",
        "kelurahan_code": "33.74.01.1001", "window_start": start,
        "window_end": start + timedelta(minutes=1), "people_seen": 9, "masked": 6,
        "unmasked": 2, "occupancy_mean": 1.5, "occupancy_max": 3, "frames_processed": 300,
        "frames_inferred": 100, "model": MODEL,
    }  # fmt: skip
    return CountsMessage(**{**fields, **over})


def publish(broker: MosquittoBroker, msgs: list[tuple[str, bytes, bool]]) -> None:
    """Publish (topic, payload, retain) with QoS 1, in order; returns once all are acknowledged."""
    mqtt_publish.multiple([{"topic": t, "payload": p, "qos": 1, "retain": r} for t, p, r in msgs],
                          hostname=broker.host, port=broker.port, protocol=MQTTv5)  # fmt: skip


# ---- validation, without a broker ----


@pytest.mark.parametrize(("kind", "reason"), [(k, r) for k, (r, _m) in MALFORMED.items()])
def test_every_malformed_kind_gets_its_reason(kind: str, reason: str) -> None:
    msg = counts_message("box-1", 5)
    d = json.loads(msg.to_payload())
    _r, make = MALFORMED[kind]
    topic, payload = make(d, counts_topic("box-1", "cam1"), "box-1", SimConfig(oversize_bytes=4097))
    out = check(topic, payload, prefix=PREFIX, max_payload_bytes=4096)
    assert (out.reason, out.counts) == (reason, None), out.detail
    assert out.detail


@pytest.mark.parametrize(
    ("topic", "expected"),
    [
        ("siaga/v1/box-1/cam1/counts", ("counts", "box-1", "cam1")),
        ("siaga/v1/box-1/status", ("status", "box-1", "")),
        ("siaga/v1/box-1/availability", ("availability", "box-1", "")),
        ("siaga/v2/box-1/cam1/counts", None),
        ("siaga/v1/box-1/cam1/extra/counts", None),
        ("siaga/v1/summary/city", None),
        ("siaga/v1/alerts", None),
    ],
)
def test_route(topic: str, expected: tuple[str, str, str] | None) -> None:
    assert route(topic, PREFIX) == expected


def test_valid_payload_passes() -> None:
    msg = counts_message("box-1", 5)
    out = check(counts_topic("box-1", "cam1"), msg.to_payload(), prefix=PREFIX,
                max_payload_bytes=4096)  # fmt: skip
    assert out.reason is None and out.counts == msg


# ---- against Mosquitto ----


def run_sim(broker: MosquittoBroker, **kw: Any) -> SimResult:
    return Simulation(SimConfig(host=broker.host, port=broker.port, **kw)).run()


def test_valid_counts_stored_once_with_exact_gaps(
    central_mosquitto: MosquittoBroker, store: Store, db_url: str, collector_factory: Factory
) -> None:
    c = collector_factory(central_config(central_mosquitto, db_url), store)
    assert c.wait_ready(10)
    res = run_sim(central_mosquitto, agents=20, windows=10, duplicates=0.1, skip=0.05, seed=3)
    assert wait_until(settled(c, res.sent), WAIT_S), c.metrics()
    assert res.duplicates > 0 and res.skipped > 0
    assert store.stored_keys() == res.keys
    assert [(g.agent_id, g.first_missing, g.last_missing) for g in store.gaps()] == res.gaps()
    m = c.metrics()
    assert (m["stored"], m["duplicates"], m["rejected_total"]) == (res.unique, res.duplicates, 0)
    assert m["acked"] == m["received"] == res.sent
    assert m["connected"] and m["batches"] >= 1 and m["lag_ms_p99"] is not None


def test_malformed_payloads_rejected_counted_and_recorded(
    central_mosquitto: MosquittoBroker, store: Store, db_url: str, collector_factory: Factory
) -> None:
    cfg = central_config(central_mosquitto, db_url, max_payload_bytes=4096)
    c = collector_factory(cfg, store)
    assert c.wait_ready(10)
    sim_cfg = SimConfig(oversize_bytes=4097)
    msgs, reasons = [], []
    for i, (kind, (reason, make)) in enumerate(MALFORMED.items()):
        valid = counts_message("box-1", i)
        msgs.append((counts_topic("box-1", "cam1"), valid.to_payload(), False))
        d = json.loads(valid.to_payload())
        topic, payload = make(d, counts_topic("box-1", "cam1"), "box-1", sim_cfg)
        msgs.append((topic, payload, False))
        reasons.append(reason)
        assert kind
    publish(central_mosquitto, msgs)
    assert wait_until(settled(c, len(msgs)), WAIT_S), c.metrics()
    m = c.metrics()
    assert m["rejected"] == dict(Counter(reasons))
    assert m["stored"] == len(MALFORMED) and m["connected"]
    assert store.reject_totals() == dict(Counter(reasons))
    recorded = store.recent_rejects(limit=len(reasons))
    assert [r.reason for r in reversed(recorded)] == reasons  # one row each, in arrival order
    assert all(r.detail for r in recorded)
    assert store.stored_keys() == {("box-1", i) for i in range(len(MALFORMED))}


def test_availability_and_status_tracked(
    central_mosquitto: MosquittoBroker, store: Store, db_url: str, collector_factory: Factory
) -> None:
    now = datetime.now(UTC)
    status = StatusMessage(agent_id="box-1", time=now, version="0.1.0", uptime_s=12.0,
                           model=MODEL, cameras={}, outbox_depth=0, dropped=0)  # fmt: skip
    # Retained before the collector exists: it must learn them when it subscribes.
    publish(central_mosquitto, [(availability_topic("box-1"), b"online", True),
                                (status_topic("box-1"), status.to_payload(), True)])  # fmt: skip
    c = collector_factory(central_config(central_mosquitto, db_url), store)
    assert c.wait_ready(10)
    assert wait_until(lambda: [a.availability for a in store.agents()] == ["online"], WAIT_S)
    (a,) = store.agents()
    assert a.status_at == now
    assert json.loads(a.status_json or "")["uptime_s"] == 12.0
    liar = status.model_copy(update={"agent_id": "box-2"})
    publish(central_mosquitto, [(availability_topic("box-1"), b"offline", True),
                                (availability_topic("box-3"), b"online", False),
                                (status_topic("box-1"), liar.to_payload(), False)])  # fmt: skip
    assert wait_until(lambda: [(x.agent_id, x.availability) for x in store.agents()]
                      == [("box-1", "offline"), ("box-3", "online")], WAIT_S)  # fmt: skip
    assert wait_until(lambda: c.metrics()["rejected"] == {"topic_mismatch": 1}, WAIT_S)
    assert store.agents()[0].status_at == a.status_at  # the liar changed nothing


def test_kelurahan_mismatch_is_flagged_not_rejected(
    central_mosquitto: MosquittoBroker, tmp_path: Any, collector_factory: Factory
) -> None:
    url = f"sqlite:///{tmp_path}/k.sqlite3"
    store = Store.open(url)
    registry = {("box-1", "cam1"): "33.74.01.1001", ("box-1", "cam2"): "33.74.02.1002"}
    c = collector_factory(central_config(central_mosquitto, url), store,
                          camera_kelurahan=lambda a, cam: registry.get((a, cam)))  # fmt: skip
    assert c.wait_ready(10)
    msgs = [counts_message("box-1", 1, "cam1"), counts_message("box-1", 2, "cam2"),
            counts_message("box-1", 3, "cam9")]  # fmt: skip
    publish(central_mosquitto, [(counts_topic(m.agent_id, m.camera_id), m.to_payload(), False)
                                for m in msgs])  # fmt: skip
    assert wait_until(settled(c, 3), WAIT_S)
    with store.engine.connect() as conn:
        t = schema.counts.c
        flags = dict(conn.execute(select(t.seq, t.kelurahan_mismatch)).all())
    assert flags == {1: False, 2: True, 3: False}  # cam9 is not registered: nothing to compare
    assert c.metrics()["flagged"] == {"kelurahan_mismatch": 1}
    assert c.metrics()["rejected_total"] == 0


def test_restart_and_broker_restart_lose_nothing(
    central_mosquitto: MosquittoBroker, tmp_path: Any, collector_factory: Factory
) -> None:
    url = f"sqlite:///{tmp_path}/r.sqlite3"
    store = Store.open(url)
    cfg = central_config(central_mosquitto, url)
    first = collector_factory(cfg, store)
    assert first.wait_ready(10)
    first.stop(timeout_s=2)
    # Published while no collector runs: the broker queues it in the persistent session.
    res = run_sim(central_mosquitto, agents=10, windows=30, seed=5)
    second = collector_factory(cfg, store)
    assert wait_until(lambda: store.count_rows() == res.unique, WAIT_S), second.metrics()
    central_mosquitto.restart(down_s=0.3)
    assert second.wait_ready(15)
    res2 = run_sim(central_mosquitto, agents=10, windows=5, seed=6, first_seq=1000)
    assert wait_until(lambda: store.count_rows() == res.unique + res2.unique, WAIT_S)
    assert store.stored_keys() == res.keys | res2.keys
    assert second.metrics()["connects"] >= 2


def test_outage_agents_deliver_late_and_completely(
    central_mosquitto: MosquittoBroker, tmp_path: Any, collector_factory: Factory
) -> None:
    url = f"sqlite:///{tmp_path}/o.sqlite3"
    store = Store.open(url)
    c = collector_factory(central_config(central_mosquitto, url), store)
    assert c.wait_ready(10)
    res = run_sim(central_mosquitto, agents=10, windows=5, interval_s=0.05, outage_agents=3,
                  outage_s=1.0, seed=8)  # fmt: skip
    assert wait_until(lambda: store.count_rows() == res.unique, WAIT_S), c.metrics()
    assert store.stored_keys() == res.keys and len(res.outage_agents) == 3
    with store.engine.connect() as conn:
        t = schema.counts.c
        first = dict(conn.execute(select(t.agent_id, t.received_at).where(t.seq == 1)).all())
    started = datetime.fromtimestamp(res.started_at, UTC)
    late = {a for a, at in first.items() if at >= started + timedelta(seconds=1.0)}
    assert late == set(res.outage_agents)  # held during the outage, then sent in order


class FlakyStore(Store):
    """A store whose first writes fail as a database that is down would."""

    def __init__(self, *args: Any, failures: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.failures = failures

    def write_batch(self, **kwargs: Any) -> int:
        if self.failures > 0:
            self.failures -= 1
            raise OperationalError("INSERT", {}, Exception("database is down"))
        return super().write_batch(**kwargs)


def test_database_outage_is_retried_without_acknowledging(
    central_mosquitto: MosquittoBroker, tmp_path: Any, collector_factory: Factory
) -> None:
    url = f"sqlite:///{tmp_path}/f.sqlite3"
    Store.open(url).close()
    store = FlakyStore(make_engine(url), failures=3)
    c = collector_factory(central_config(central_mosquitto, url), store)
    assert c.wait_ready(10)
    res = run_sim(central_mosquitto, agents=5, windows=4, seed=7)
    assert wait_until(lambda: c.metrics()["db_errors"] == 3, WAIT_S)
    assert wait_until(settled(c, res.sent), WAIT_S), c.metrics()
    assert store.stored_keys() == res.keys
    assert c.metrics()["acked"] == res.sent


class SlowStore(Store):
    """A store that takes its time over every batch."""

    def write_batch(self, **kwargs: Any) -> int:
        time.sleep(0.02)
        return super().write_batch(**kwargs)


def test_full_queue_pushes_back_without_loss(
    central_mosquitto: MosquittoBroker, tmp_path: Any, collector_factory: Factory
) -> None:
    url = f"sqlite:///{tmp_path}/q.sqlite3"
    Store.open(url).close()
    store = SlowStore(make_engine(url))
    cfg = central_config(central_mosquitto, url, queue_max=100, batch_max_rows=20)
    c = collector_factory(cfg, store)
    assert c.wait_ready(10)
    res = run_sim(central_mosquitto, agents=20, windows=100, seed=9)
    deepest = 0

    def done() -> bool:
        nonlocal deepest
        deepest = max(deepest, c.metrics()["queue_depth"])
        return store.count_rows() == res.unique

    assert wait_until(done, WAIT_S), c.metrics()
    assert store.stored_keys() == res.keys
    assert deepest <= 100 and c.metrics()["queue_max"] == 100


def test_stop_is_bounded_when_the_broker_is_gone(
    central_mosquitto: MosquittoBroker, tmp_path: Any
) -> None:
    url = f"sqlite:///{tmp_path}/s.sqlite3"
    c = Collector(central_config(central_mosquitto, url), Store.open(url))
    c.start()
    assert c.wait_ready(10)
    central_mosquitto.kill()
    t0 = time.monotonic()
    c.stop(timeout_s=1.0)
    assert time.monotonic() - t0 < 3.0
    assert not c.metrics()["connected"]


def test_stop_is_bounded_with_the_database_down_and_the_queue_full(
    central_mosquitto: MosquittoBroker, tmp_path: Any
) -> None:
    url = f"sqlite:///{tmp_path}/d.sqlite3"
    Store.open(url).close()
    cfg = central_config(central_mosquitto, url, queue_max=100, batch_max_rows=10)
    c = Collector(cfg, FlakyStore(make_engine(url), failures=10**9))
    c.start()
    assert c.wait_ready(10)
    run_sim(central_mosquitto, agents=10, windows=30, seed=10)
    assert wait_until(lambda: c.metrics()["queue_depth"] >= 90, WAIT_S), c.metrics()
    t0 = time.monotonic()
    c.stop(timeout_s=1.0)
    assert time.monotonic() - t0 < 4.0
    assert c.metrics()["acked"] == 0  # nothing was stored, so nothing was acknowledged


CRASHING_COLLECTOR = """
import sys, time
from central.config import CentralConfig, CentralSection, MqttSection, StorageSection
from central.ingest.collector import Collector
from central.store.writes import Store
port, url = int(sys.argv[1]), sys.argv[2]
cfg = CentralConfig(central=CentralSection(instance="central-1"),
                    mqtt=MqttSection(host="127.0.0.1", port=port),
                    storage=StorageSection(url=url, batch_max_rows=50, batch_max_wait_ms=20))
Collector(cfg, Store.open(url)).start()
time.sleep(60)
"""


def test_kill_9_mid_stream_loses_nothing(
    central_mosquitto: MosquittoBroker, tmp_path: Any, collector_factory: Factory
) -> None:
    # Acknowledged only after commit: whatever the killed process had not committed, the broker
    # still holds for the session, and the next collector with that name stores it.
    url = f"sqlite:///{tmp_path}/k9.sqlite3"
    store = Store.open(url)
    cfg = central_config(central_mosquitto, url)
    first = collector_factory(cfg, store)
    assert first.wait_ready(10)
    first.stop(timeout_s=2)  # the session exists: the broker queues for it
    res = run_sim(central_mosquitto, agents=50, windows=200, duplicates=0.02, seed=11)
    child = subprocess.Popen([sys.executable, "-c", CRASHING_COLLECTOR,
                              str(central_mosquitto.port), url])  # fmt: skip
    try:
        assert wait_until(lambda: store.count_rows() >= 500, WAIT_S)
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    finally:
        child.kill()
    at_kill = store.count_rows()
    assert at_kill < res.unique  # killed mid-stream, with messages in flight
    second = collector_factory(cfg, store)
    assert wait_until(lambda: store.count_rows() == res.unique, WAIT_S), second.metrics()
    assert store.stored_keys() == res.keys
    assert wait_until(settled(second, 1), WAIT_S) and second.metrics()["stored"] > 0


def test_every_simulated_reject_reason_is_a_documented_reason():
    from central.ingest.validate import REASONS
    from central.sim.agents import MALFORMED

    assert {reason for reason, _ in MALFORMED.values()} <= set(REASONS)
