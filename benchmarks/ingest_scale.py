"""Several collector processes on one shared subscription: how central ingest scales past one GIL.

One collector process is bound by Python's GIL (validation, row building, the driver's binding).
The MQTT v5 shared subscription is how central scales out: several collectors, each its own
instance name (persistent session), split the counts between them. `register` opens their
sessions before anything is published, so the broker queues each member's share; `drain` then
starts them as separate processes at once and times until all rows are stored.
"""

from __future__ import annotations

import multiprocessing as mp
import time
from typing import Any

from central.config import CentralConfig, CentralSection, MqttSection, StorageSection
from central.ingest.collector import Collector
from central.store.writes import Store
from tests.mqtt_broker import MosquittoBroker, wait_until

START_TIMEOUT_S = 120.0


def scale_config(host: str, port: int, url: str, group: str, index: int) -> CentralConfig:
    """Member `index` of share group `group` (default batching)."""
    return CentralConfig(central=CentralSection(instance=f"bench-{group}-{index}"),
                         mqtt=MqttSection(host=host, port=port, share_group=group),
                         storage=StorageSection(url=url))  # fmt: skip


def register(broker: MosquittoBroker, url: str, group: str, processes: int) -> None:
    """Open every member's persistent session, so that the broker queues its share."""
    store = Store.open(url)
    try:
        for i in range(processes):
            c = Collector(scale_config(broker.host, broker.port, url, group, i), store)
            c.start()
            c.wait_ready(10)
            c.stop(2)
    finally:
        store.close()


def _member(host: str, port: int, url: str, group: str, index: int, barrier: Any, done: Any,
            stored: Any, cpu: Any) -> None:  # fmt: skip
    store = Store.open(url)
    col = Collector(scale_config(host, port, url, group, index), store)
    barrier.wait(START_TIMEOUT_S)  # every member imported and opened its database
    cpu0 = time.process_time()
    col.start()
    while not done.wait(0.005):
        stored[index] = col.stored
    stored[index] = col.stored
    cpu[index] = time.process_time() - cpu0
    col.stop(2)
    store.close()


def drain(broker: MosquittoBroker, url: str, group: str, processes: int, n: int,
          timeout_s: float) -> dict[str, Any]:  # fmt: skip
    """Start the members as processes together; time until n rows are stored between them."""
    ctx = mp.get_context("spawn")
    barrier, done = ctx.Barrier(processes + 1), ctx.Event()
    stored, cpu = ctx.Array("q", processes), ctx.Array("d", processes)
    procs = [ctx.Process(target=_member, args=(broker.host, broker.port, url, group, i, barrier,
                                               done, stored, cpu), daemon=True)
             for i in range(processes)]  # fmt: skip
    for p in procs:
        p.start()
    try:
        barrier.wait(START_TIMEOUT_S)
        t0 = time.perf_counter()
        ok = wait_until(lambda: sum(stored[:]) >= n, timeout_s, interval_s=0.01)
        dt = time.perf_counter() - t0
    finally:
        done.set()
        for p in procs:
            p.join(10)
            if p.is_alive():
                p.kill()
    total = sum(stored[:])
    return {"processes": processes, "stored": total, "complete": ok, "seconds": round(dt, 3),
            "stored_msg_s": round(total / dt, 1), "split": stored[:],
            "cpu_us_per_msg": round(sum(cpu[:]) / max(1, total) * 1e6, 1),
            "cpu_cores": round(sum(cpu[:]) / dt, 2)}  # fmt: skip
