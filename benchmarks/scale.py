"""City scale: 10,000 agents, each on its own connection and credentials, on one Mosquitto.

One Mosquitto with a password file (one user per agent) and the fleet ACL; the fleet simulator in
its own process (one asyncio loop, one connection per agent); the collector on SQLite in this
process. Phases: all agents connect; steady state, one window per agent per interval (60 s), the
agents spread over the interval; then an outage: every connection drops, each agent holds a
backlog (10 windows = 10 minutes) and all replay it in order on reconnect (the burst).

Reported: connect time, broker-confirmed simultaneous connections ($SYS), steady-state ingest
latency p50/p99 (window end = publish time → commit, the collector's own figure, per window),
burst drain time and rate, and CPU time and peak memory of broker, simulator and collector (this
process: the collector plus a sampler thread), per phase. Every message must be stored once.

    python -m benchmarks.scale [--agents 10000] [--windows 3] [--interval 60] [--backlog 10]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from multiprocessing.queues import Queue
from pathlib import Path
from typing import Any

from central.ingest.collector import Collector
from central.sim.fleet import FleetConfig, FleetResult, raise_nofile, simulate_fleet
from central.store.writes import Store
from tests.central.scale_setup import (
    ConnectedGauge,
    central_config,
    proc_figures,
    start_broker,
    write_fleet_auth,
)
from tests.mqtt_broker import wait_until

SPAWN = multiprocessing.get_context("spawn")


def _sim_main(cfg: FleetConfig, out: Queue[Any]) -> None:
    try:
        out.put(simulate_fleet(cfg))
    except BaseException as exc:
        out.put(exc)
        raise


class Sampler:
    """CPU and memory of each process every second (the simulator's while it lives)."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids, self.samples = pids, []  # type: ignore[var-annotated]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Sampler:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            self.sample()

    def sample(self) -> None:
        row: dict[str, Any] = {"t": time.time()}
        for name, pid in self.pids.items():
            with contextlib.suppress(OSError, IndexError):  # the simulator has ended
                row[name] = proc_figures(pid)
        self.samples.append(row)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def at(self, t: float) -> dict[str, Any]:
        """The last sample at or before t (the first one if none)."""
        before = [s for s in self.samples if s["t"] <= t]
        return before[-1] if before else self.samples[0]

    def phase(self, t0: float, t1: float) -> dict[str, dict[str, float]]:
        """CPU seconds used between t0 and t1, the share of one core, and memory, per process."""
        a, b = self.at(t0), self.at(t1)
        out = {}
        for name in self.pids:
            if name in a and name in b:
                cpu = b[name]["cpu_s"] - a[name]["cpu_s"]
                share = round(cpu / max(t1 - t0, 1e-9), 3)
                out[name] = {"cpu_s": round(cpu, 1), "cpu_share": share,
                             "rss_mb": b[name]["rss_mb"]}  # fmt: skip
        return out


def _lag_watch(col: Collector, stop: threading.Event, snaps: list[dict[str, Any]]) -> None:
    while not stop.wait(0.2):
        m = col.metrics()
        snaps.append({"t": time.time(), "stored": m["stored"], "p50": m["lag_ms_p50"],
                      "p99": m["lag_ms_p99"]})  # fmt: skip


def run(args: argparse.Namespace) -> dict[str, Any]:
    """The whole benchmark; returns the figures."""
    raise_nofile(args.agents + 2000)  # the broker inherits it
    out: dict[str, Any] = {"agents": args.agents, "windows": args.windows,
                           "interval_s": args.interval, "backlog": args.backlog,
                           "cpus": os.cpu_count(), "load_avg_start": os.getloadavg(),
                           "python": platform.python_version()}  # fmt: skip
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        t = time.perf_counter()
        auth = write_fleet_auth(tmp / "auth", args.agents)
        out["password_file_s"] = round(time.perf_counter() - t, 2)
        broker = start_broker(tmp / "mq", auth)
        url = f"sqlite:///{tmp}/scale.sqlite3"
        store = Store.open(url)
        col = Collector(central_config(broker, url, auth), store)
        col.start()
        gauge = None
        try:
            if not col.wait_ready(20):
                raise SystemExit(f"collector not ready: {broker.log_tail()}")
            gauge = ConnectedGauge(broker, auth)
            out.update(_run_fleet(args, broker, auth, col, store, gauge))
        finally:
            col.stop(10)
            if gauge is not None:
                gauge.stop()
            store.close()
            broker.kill()
    out["load_avg_end"] = os.getloadavg()
    return out


def _run_fleet(args: argparse.Namespace, broker: Any, auth: Any, col: Collector, store: Store,
               gauge: ConnectedGauge) -> dict[str, Any]:  # fmt: skip
    cfg = FleetConfig(agents=args.agents, windows=args.windows, interval_s=args.interval,
                      backlog=args.backlog, outage_s=args.outage, host=broker.host,
                      port=broker.port, credentials=auth.credentials, seed=1)  # fmt: skip
    results: Queue[Any] = SPAWN.Queue()
    proc = SPAWN.Process(target=_sim_main, args=(cfg, results), name="fleet-sim")
    proc.start()
    assert broker.proc is not None and proc.pid is not None
    sampler = Sampler({"broker": broker.proc.pid, "simulator": proc.pid,
                       "collector": os.getpid()}).start()  # fmt: skip
    stop, snaps = threading.Event(), []  # type: ignore[var-annotated]
    watcher = threading.Thread(target=_lag_watch, args=(col, stop, snaps), daemon=True)
    watcher.start()
    limit = args.windows * args.interval + 1200
    deadline = time.monotonic() + limit
    while True:  # print progress while the simulator runs
        if not results.empty() or time.monotonic() > deadline or not proc.is_alive():
            break
        time.sleep(5)
        m = col.metrics()
        print(f"  broker: {gauge.last} clients; collector: {m['stored']} stored, "
              f"lag p99 {m['lag_ms_p99']} ms", flush=True)  # fmt: skip
    res = results.get(timeout=60)
    proc.join(30)
    if isinstance(res, BaseException):
        raise res
    assert isinstance(res, FleetResult)
    ok = wait_until(lambda: store.count_rows() >= res.unique, 600, interval_s=0.05)
    time.sleep(0.5)
    sampler.sample()
    done = [s["t"] for s in snaps if s["stored"] >= res.unique]
    stored_at = done[0] if done else time.time()
    stop.set()
    watcher.join(5)
    sampler.stop()
    m = col.metrics()
    complete = ok and store.stored_keys() == res.keys and m["stored"] == res.unique
    return {
        "complete_every_message_once": complete, "sim": res.summary(),
        "broker_connected_max": gauge.max, "collector": {k: m[k] for k in (
            "stored", "received", "duplicates", "rejected_total", "batches")},
        "steady": _steady(res, snaps, sampler, cfg.interval_s),
        "burst": _burst(res, store, sampler, stored_at) if res.burst_sent else None,
        "connect_phase": sampler.phase(res.started_at, res.steady_started_at),
        "peak_rss_mb": {name: max(s[name]["rss_peak_mb"] for s in sampler.samples if name in s)
                        for name in sampler.pids},
        "cpu_s_total": {name: max(s[name]["cpu_s"] for s in sampler.samples if name in s)
                        for name in sampler.pids},
    }  # fmt: skip


def _steady(res: FleetResult, snaps: list[dict[str, Any]], sampler: Sampler,
            interval: float) -> dict[str, Any]:  # fmt: skip
    """Latency per window: the collector keeps its last 10,000 lags, one window of 10,000 agents."""
    per_window = []
    t0, span = res.steady_started_at, res.steady_ended_at - res.steady_started_at
    for w in range(1, res.steady_sent // max(1, res.agents) + 1):
        end = min(t0 + w * interval, res.steady_ended_at) + 1.5
        seen = [s for s in snaps if s["t"] <= end and s["p99"] is not None]
        if seen:
            per_window.append({"window": w, "p50_ms": seen[-1]["p50"], "p99_ms": seen[-1]["p99"]})
    p99s = [w["p99_ms"] for w in per_window]
    return {
        "messages": res.steady_sent, "seconds": round(span, 1),
        "rate_msg_s": round(res.steady_sent / max(span, 1e-9), 1),
        "latency_per_window": per_window, "p99_ms_worst": max(p99s) if p99s else None,
        "p50_ms_median": statistics.median(w["p50_ms"] for w in per_window) if per_window else None,
        "resources": sampler.phase(res.steady_started_at, res.steady_ended_at),
    }  # fmt: skip


def _burst(res: FleetResult, store: Store, sampler: Sampler, stored_at: float) -> dict[str, Any]:
    """From the end of the outage (every agent reconnects) until the last backlog row is stored."""
    drain = stored_at - res.burst_started_at
    return {
        "messages": res.burst_sent,
        "replay_acked_s": round(res.burst_acked_at - res.burst_started_at, 1),
        "all_stored_s": round(drain, 1), "stored_rate_msg_s": round(res.burst_sent / drain, 1),
        "resources": sampler.phase(res.burst_started_at, stored_at),
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--agents", type=int, default=10_000)
    p.add_argument("--windows", type=int, default=3, help="steady windows per agent")
    p.add_argument(
        "--interval", type=float, default=60.0, help="seconds between an agent's windows"
    )
    p.add_argument("--backlog", type=int, default=10, help="windows replayed by every agent")
    p.add_argument("--outage", type=float, default=5.0, help="seconds every connection stays down")
    p.add_argument("--out", type=Path, default=None, help="also write the figures here (JSON)")
    args = p.parse_args(argv)
    out = run(args)
    text = json.dumps(out, indent=2, default=str)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    return 0 if out.get("complete_every_message_once") else 1


if __name__ == "__main__":
    sys.exit(main())
