"""Acceptance under load: 100k messages with duplicates and a collector restart, a crash, two
collectors on one shared subscription, and 10k malformed payloads with flat memory.

The simulator runs in its own process (spawned): publisher and collector then do not share one
interpreter lock, and a collector can be killed for real. Every wait is bounded.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from multiprocessing.synchronize import Event as EventType
from pathlib import Path
from typing import Any

import pytest

from central.config import CentralConfig, CentralSection, MqttSection, StorageSection
from central.ingest.collector import Collector
from central.sim.agents import SimConfig, SimResult, simulate
from central.store.engine import make_engine
from central.store.writes import Store
from tests.central.ingest.test_ingest import Factory, central_config, settled
from tests.mqtt_broker import MosquittoBroker, wait_until

pytestmark = pytest.mark.slow

SPAWN = multiprocessing.get_context("spawn")
LOAD_WAIT_S = 180.0


@pytest.fixture
def pool() -> Iterator[ProcessPoolExecutor]:
    with ProcessPoolExecutor(max_workers=1, mp_context=SPAWN) as p:
        yield p


def start_sim(pool: ProcessPoolExecutor, broker: MosquittoBroker, **kw: Any) -> Future[SimResult]:
    return pool.submit(simulate, SimConfig(host=broker.host, port=broker.port, **kw))


def gap_tuples(store: Store) -> list[tuple[str, int, int]]:
    return [(g.agent_id, g.first_missing, g.last_missing) for g in store.gaps()]


def rss_mb() -> float:
    """Resident memory of this process, from /proc/self/status."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def test_100k_from_1000_agents_with_duplicates_and_a_restart(
    central_mosquitto: MosquittoBroker, db_url: str, collector_factory: Factory,
    pool: ProcessPoolExecutor,
) -> None:  # fmt: skip
    store = Store.open(db_url)
    cfg = central_config(central_mosquitto, db_url, batch_max_wait_ms=100)
    first = collector_factory(cfg, store)
    assert first.wait_ready(10)
    fut = start_sim(pool, central_mosquitto, agents=1000, windows=100, duplicates=0.05,
                    skip=0.002, seed=11)  # fmt: skip
    assert wait_until(lambda: first.metrics()["stored"] >= 20_000, LOAD_WAIT_S), first.metrics()
    first.stop(timeout_s=3)
    time.sleep(1.0)  # publishing goes on: the broker queues it for the session
    assert not fut.done(), "the restart must happen while messages are still published"
    second = collector_factory(cfg, store)
    res = fut.result(timeout=LOAD_WAIT_S)
    assert res.unique == 100_000 and res.duplicates > 4000 and res.skipped > 0
    # The first collector's unacknowledged messages come again: wait for the goal itself.
    assert wait_until(lambda: store.count_rows() >= res.unique, LOAD_WAIT_S), second.metrics()
    assert store.stored_keys() == res.keys
    assert gap_tuples(store) == res.gaps()
    a, b = first.metrics(), second.metrics()
    assert a["stored"] + b["stored"] == res.unique
    assert b["received"] > 0 and a["rejected_total"] == b["rejected_total"] == 0
    store.close()


def _collector_main(port: int, url: str, ready: EventType) -> None:
    """A collector in a child process, killed with SIGKILL by the test (a crash)."""
    # Long batches: at the kill, many messages are received but not yet committed.
    cfg = CentralConfig(central=CentralSection(instance="central-crash"),
                        mqtt=MqttSection(port=port, reconnect_min_s=0.1,
                                         share_group="central"),
                        storage=StorageSection(url=url, batch_max_rows=5000,
                                               batch_max_wait_ms=400))  # fmt: skip
    c = Collector(cfg, Store.open(url))
    c.start()
    if c.wait_ready(20):
        ready.set()
    time.sleep(600)


def test_collector_killed_mid_stream_loses_nothing(
    central_mosquitto: MosquittoBroker, tmp_path: Path, collector_factory: Factory,
    pool: ProcessPoolExecutor,
) -> None:  # fmt: skip
    url = f"sqlite:///{tmp_path}/crash.sqlite3"
    store = Store.open(url)
    ready = SPAWN.Event()
    child = SPAWN.Process(target=_collector_main, args=(central_mosquitto.port, url, ready))
    child.start()
    try:
        assert ready.wait(60), "the child collector did not get ready"
        fut = start_sim(pool, central_mosquitto, agents=200, windows=100, duplicates=0.02, seed=12)
        assert wait_until(lambda: store.count_rows() >= 3000, LOAD_WAIT_S)
    finally:
        child.kill()  # SIGKILL: no stop, no flush, no DISCONNECT
        child.join(10)
    at_kill = store.count_rows()
    time.sleep(0.5)
    cfg = central_config(central_mosquitto, url, instance="central-crash")
    after = collector_factory(cfg, store)
    res = fut.result(timeout=LOAD_WAIT_S)
    assert at_kill < res.unique
    assert wait_until(lambda: store.count_rows() == res.unique, LOAD_WAIT_S), after.metrics()
    assert store.stored_keys() == res.keys


def test_two_collectors_share_one_subscription(
    central_mosquitto: MosquittoBroker, pg_url: str, collector_factory: Factory,
    pool: ProcessPoolExecutor,
) -> None:  # fmt: skip
    # Two processes' worth of collectors on one database; b with two writer threads.
    store_a, store_b = Store.open(pg_url), Store(make_engine(pg_url))
    a = collector_factory(central_config(central_mosquitto, pg_url, instance="central-a"), store_a)
    b = collector_factory(central_config(central_mosquitto, pg_url, instance="central-b",
                                         writers=2), store_b)  # fmt: skip
    assert a.wait_ready(10) and b.wait_ready(10)
    res = start_sim(pool, central_mosquitto, agents=500, windows=60, duplicates=0.05,
                    seed=13).result(timeout=LOAD_WAIT_S)  # fmt: skip

    def both_done() -> bool:
        ma, mb = a.metrics(), b.metrics()
        return ma["received"] + mb["received"] >= res.sent and settled(a, ma["received"])() \
            and settled(b, mb["received"])()  # fmt: skip

    assert wait_until(both_done, LOAD_WAIT_S), (a.metrics(), b.metrics())
    ma, mb = a.metrics(), b.metrics()
    assert ma["received"] + mb["received"] == res.sent  # each message went to one collector
    assert ma["stored"] + mb["stored"] == res.unique  # and was stored once
    assert min(ma["received"], mb["received"]) > res.sent // 5, (ma["received"], mb["received"])
    assert store_a.stored_keys() == res.keys
    store_b.close()
    store_a.close()


def test_10k_malformed_interleaved_memory_flat(
    central_mosquitto: MosquittoBroker, tmp_path: Path, collector_factory: Factory,
    pool: ProcessPoolExecutor,
) -> None:  # fmt: skip
    url = f"sqlite:///{tmp_path}/bad.sqlite3"
    store = Store.open(url, rejects_keep=2000)
    cfg = central_config(central_mosquitto, url, max_payload_bytes=2048)
    c = collector_factory(cfg, store)
    assert c.wait_ready(10)
    kw: dict[str, Any] = {"oversize_bytes": 2049, "agents": 100}
    warm = start_sim(pool, central_mosquitto, windows=20, malformed=1000, seed=14,
                     **kw).result(timeout=LOAD_WAIT_S)  # fmt: skip
    assert wait_until(settled(c, warm.sent), LOAD_WAIT_S)
    before = rss_mb()
    res = start_sim(pool, central_mosquitto, windows=200, malformed=10_000, seed=15,
                    first_seq=1000, **kw).result(timeout=LOAD_WAIT_S)  # fmt: skip
    assert wait_until(settled(c, warm.sent + res.sent), LOAD_WAIT_S), c.metrics()
    grown = rss_mb() - before
    m = c.metrics()
    assert m["connected"], "the collector must still be connected"
    assert store.stored_keys() == warm.keys | res.keys
    expected = warm.malformed + res.malformed
    assert sum(res.malformed.values()) == 10_000 and len(expected) >= 5
    assert m["rejected"] == dict(expected)
    assert store.reject_totals() == dict(expected)
    assert len(store.recent_rejects(limit=10_000)) <= 2000  # the table stays bounded
    assert grown < 40, f"RSS grew {grown:.1f} MB over 30k messages"
