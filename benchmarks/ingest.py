"""Collector throughput and latency on a loopback Mosquitto, SQLite and PostgreSQL.

Throughput: N counts messages are published once while every consumer is offline with a
persistent session, so the broker queues a copy for each; then each consumer drains its copy in
turn and is timed: `mosquitto_sub` to /dev/null (the raw delivery rate, the baseline), a bare paho
client that acknowledges on receipt (what paho alone manages in Python; the collector uses its
own client, central.ingest.client) and the collector on each database (stored msg/s, acknowledged
after commit, with the CPU time the process used); then, with --processes K, K collector
processes on one shared subscription (benchmarks.ingest_scale). Latency: agents publish live
at a steady rate with windows ending at publish time; the collector reports window end → commit
p50/p99.

    python -m benchmarks.ingest [--messages 50000] [--pg-url URL] [--out out/bench]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from benchmarks import ingest_scale
from central.config import CentralConfig, CentralSection, MqttSection, StorageSection
from central.ingest.collector import Collector
from central.sim.agents import SimConfig, Simulation
from central.store.writes import Store
from tests.conftest import CENTRAL_BROKER_CONFIG
from tests.mqtt_broker import MosquittoBroker, wait_until
from tests.pg import PgServer, PgUnavailable

PREFIX = "siaga/v1"
TOPIC = f"{PREFIX}/+/+/counts"
DRAIN_TIMEOUT_S = 300.0


def rss_mb() -> float:
    """Resident memory of this process (MB)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def sub_args(broker: MosquittoBroker, client_id: str) -> list[str]:
    """mosquitto_sub with a persistent MQTT v5 session on the counts topics."""
    exe = shutil.which("mosquitto_sub")
    if exe is None:
        raise SystemExit("mosquitto_sub not found (apt-get install mosquitto-clients)")
    return [exe, "-h", broker.host, "-p", str(broker.port), "-V", "mqttv5", "-c", "-i",
            client_id, "-x", "3600", "-q", "1", "-t", TOPIC]  # fmt: skip


def register_raw(broker: MosquittoBroker) -> None:
    """Open mosquitto_sub's persistent session, then leave it queueing (-W: quit after 1 s)."""
    subprocess.run([*sub_args(broker, "bench-raw"), "-W", "1"], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=30, check=False)  # fmt: skip


def drain_raw(broker: MosquittoBroker, n: int) -> float:
    """Seconds for mosquitto_sub to receive n queued messages."""
    t0 = time.perf_counter()
    subprocess.run([*sub_args(broker, "bench-raw"), "-C", str(n)], stdout=subprocess.DEVNULL,
                   timeout=DRAIN_TIMEOUT_S, check=True)  # fmt: skip
    return time.perf_counter() - t0


class PahoFloor:
    """A bare paho MQTT v5 client (persistent session) that acknowledges on receipt."""

    def __init__(self, broker: MosquittoBroker) -> None:
        self.broker, self.n, self.ready = broker, 0, threading.Event()

    @contextlib.contextmanager
    def session(self) -> Iterator[PahoFloor]:
        c = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="bench-paho",
                        protocol=mqtt.MQTTv5)  # fmt: skip
        c.on_connect = lambda cl, *_a: cl.subscribe(TOPIC, qos=1)
        c.on_subscribe = lambda *_a: self.ready.set()
        c.on_message = lambda *_a: setattr(self, "n", self.n + 1)
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 3600
        c.connect(self.broker.host, self.broker.port, clean_start=False, properties=props)
        c.loop_start()
        try:
            self.ready.wait(10)
            yield self
        finally:
            c.disconnect()
            c.loop_stop()


def central_config(broker: MosquittoBroker, url: str, name: str) -> CentralConfig:
    """Default batching; one share group per database so each gets every message."""
    return CentralConfig(central=CentralSection(instance=f"bench-{name}"),
                         mqtt=MqttSection(host=broker.host, port=broker.port, share_group=name),
                         storage=StorageSection(url=url))  # fmt: skip


def timed_drain(col: Collector, n: int) -> dict[str, Any]:
    """Start the collector and time until n rows are stored (CPU: this whole process)."""
    rss0 = rss_mb()
    cpu0, t0 = time.process_time(), time.perf_counter()
    col.start()
    # col.stored, not metrics(): that sorts up to 10,000 latency samples on every call.
    ok = wait_until(lambda: col.stored >= n, DRAIN_TIMEOUT_S, interval_s=0.01)
    dt, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    m = col.metrics()
    return {"stored": m["stored"], "complete": ok, "seconds": round(dt, 3),
            "stored_msg_s": round(m["stored"] / dt, 1), "batches": m["batches"],
            "cpu_us_per_msg": round(cpu / max(1, m["stored"]) * 1e6, 1),
            "cpu_cores": round(cpu / dt, 2),
            "rss_mb": round(rss_mb(), 1), "rss_growth_mb": round(rss_mb() - rss0, 1)}  # fmt: skip


def latency(broker: MosquittoBroker, url: str, name: str, rate: int, seconds: int) -> dict:
    """Live publishing at `rate` msg/s: window end (publish time) → commit, p50/p99."""
    store = Store.open(url)
    col = Collector(central_config(broker, url, f"{name}_live"), store)
    col.start()
    col.wait_ready(10)
    agents = max(1, rate // 5)
    sim = SimConfig(host=broker.host, port=broker.port, agents=agents, windows=5 * seconds,
                    interval_s=agents / rate, live=True, seed=2,
                    agent_prefix=f"live-{name}")  # fmt: skip
    res = Simulation(sim).run()
    wait_until(lambda: col.metrics()["stored"] >= res.unique, 60)
    m = col.metrics()
    col.stop(2)
    store.close()
    return {
        "rate_target_msg_s": rate,
        "published": res.sent,
        "publish_rate_msg_s": round(res.rate, 1),
        "stored": m["stored"],
        "p50_ms": m["lag_ms_p50"],
        "p99_ms": m["lag_ms_p99"],
        "batch_max_wait_ms": col.cfg.storage.batch_max_wait_ms,
    }


def databases(
    args: argparse.Namespace, tmp: Path, stack: contextlib.ExitStack
) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """(name, URL) of each database to measure (a temporary PostgreSQL one by default), and an
    empty one per name for the scale-out run (none for a --pg-url database)."""
    dbs = [("sqlite", f"sqlite:///{tmp}/bench.sqlite3")]
    scale = {"sqlite": f"sqlite:///{tmp}/bench-scale.sqlite3"}
    if args.pg_url:
        return [*dbs, ("postgresql", args.pg_url)], scale
    try:
        server = PgServer.ensure()
    except PgUnavailable as exc:
        print(f"PostgreSQL skipped: {exc}", file=sys.stderr)
        return dbs, scale
    stack.callback(server.close)
    dbs.append(("postgresql", stack.enter_context(server.database())))
    scale["postgresql"] = stack.enter_context(server.database())
    return dbs, scale


def run(args: argparse.Namespace) -> dict[str, Any]:
    """The whole benchmark; returns the results."""
    out: dict[str, Any] = {"messages": args.messages, "agents": args.agents,
                           "cpus": os.cpu_count(), "load_avg_start": os.getloadavg(),
                           "python": platform.python_version(), "backends": {}}  # fmt: skip
    with tempfile.TemporaryDirectory() as d, contextlib.ExitStack() as stack:
        tmp = Path(d)
        broker = MosquittoBroker(tmp / "mq", extra_config=CENTRAL_BROKER_CONFIG).start()
        try:
            out["backends"] = bench_all(args, broker, *databases(args, tmp, stack))
            out["raw"] = out["backends"].pop("_raw")
            for name, r in out["backends"].items():
                r["ratio_to_raw"] = round(r["stored_msg_s"] / out["raw"]["mosquitto_sub_msg_s"], 3)
                r["ratio_to_paho"] = round(r["stored_msg_s"] / out["raw"]["paho_msg_s"], 3)
                print(f"{name:>10}: {r['stored_msg_s']:>8.0f} stored msg/s "
                      f"({r['ratio_to_raw']:.0%} of mosquitto_sub, {r['ratio_to_paho']:.0%} of "
                      f"bare paho); {r['cpu_us_per_msg']} us CPU/msg on {r['cpu_cores']} cores; "
                      f"latency p50 {r['latency']['p50_ms']} ms, "
                      f"p99 {r['latency']['p99_ms']} ms")  # fmt: skip
                if "scale_out" in r:
                    x = r["scale_out"]
                    x["ratio_to_raw"] = round(x["stored_msg_s"]
                                              / out["raw"]["mosquitto_sub_msg_s"], 3)  # fmt: skip
                    print(f"{name:>10}: {x['stored_msg_s']:>8.0f} stored msg/s with "
                          f"{x['processes']} collector processes on one shared subscription "
                          f"({x['ratio_to_raw']:.0%} of mosquitto_sub; split {x['split']}, "
                          f"{x['cpu_us_per_msg']} us CPU/msg on {x['cpu_cores']} cores)"
                          )  # fmt: skip
        finally:
            broker.kill()
    out["load_avg_end"] = os.getloadavg()
    return out


def bench_all(args: argparse.Namespace, broker: MosquittoBroker,
              dbs: list[tuple[str, str]], scale: dict[str, str]) -> dict[str, Any]:  # fmt: skip
    """Register every session, publish once, drain each; then the live latency runs."""
    stores, cols = {}, {}
    register_raw(broker)
    floor = PahoFloor(broker)
    with floor.session():
        pass
    for name, url in dbs:
        stores[name] = Store.open(url)
        c = Collector(central_config(broker, url, name), stores[name])
        c.start()
        c.wait_ready(10)
        c.stop(2)
        if args.processes > 1 and name in scale:
            ingest_scale.register(broker, scale[name], scale_group(name, args), args.processes)
    sim = SimConfig(host=broker.host, port=broker.port, agents=args.agents,
                    windows=max(1, args.messages // args.agents), seed=1)  # fmt: skip
    res = Simulation(sim).run()
    print(f"published {res.sent} messages at {res.rate:.0f} msg/s; draining", flush=True)
    results: dict[str, Any] = {}
    raw_s = drain_raw(broker, res.sent)
    t0 = time.perf_counter()
    with floor.session():
        wait_until(lambda: floor.n >= res.sent, DRAIN_TIMEOUT_S, interval_s=0.01)
    paho_s = time.perf_counter() - t0
    results["_raw"] = {"mosquitto_sub_msg_s": round(res.sent / raw_s, 1),
                       "paho_msg_s": round(floor.n / paho_s, 1)}  # fmt: skip
    for name, url in dbs:
        cols[name] = Collector(central_config(broker, url, name), stores[name])
        results[name] = timed_drain(cols[name], res.unique)
        cols[name].stop(2)
        stores[name].close()
    for name, _url in dbs:
        if args.processes > 1 and name in scale:  # an empty database: every row is new
            results[name]["scale_out"] = ingest_scale.drain(
                broker, scale[name], scale_group(name, args), args.processes, res.unique,
                DRAIN_TIMEOUT_S)  # fmt: skip
    for name, url in dbs:
        results[name]["latency"] = latency(broker, url, name, args.live_rate, args.live_s)
    return results


def scale_group(name: str, args: argparse.Namespace) -> str:
    """The share group of the scale-out run on one database (its own copy of every message)."""
    return f"{name}-x{args.processes}"


def main(argv: list[str] | None = None) -> int:
    """Run and write out/bench/ingest.json."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--messages", type=int, default=50_000)
    p.add_argument("--agents", type=int, default=500)
    p.add_argument("--live-rate", type=int, default=1000, help="msg/s for the latency run")
    p.add_argument("--live-s", type=int, default=5)
    p.add_argument("--pg-url", help="PostgreSQL URL (default: a temporary local database)")
    p.add_argument("--processes", type=int, default=2,
                   help="also drain with this many collector processes on one shared "
                        "subscription; 0 or 1: skip")  # fmt: skip
    p.add_argument("--out", type=Path, default=Path("out/bench"))
    args = p.parse_args(argv)
    result = run(args)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "ingest.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"mosquitto_sub {result['raw']['mosquitto_sub_msg_s']:.0f} msg/s, bare paho "
          f"{result['raw']['paho_msg_s']:.0f} msg/s; wrote {path}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
