"""Fleet mode of `siaga simulate agents`: every agent its own MQTT connection and credentials.

One process, one asyncio loop, one connection per agent (username = agent id), each publishing
only on its own topics (`siaga/v1/<agent_id>/<camera>/counts`) with QoS 1. Phases:

1. connect: every agent connects (a bounded number of handshakes at a time); the steady phase
   starts once all are connected at the same time;
2. steady: one window per agent per interval, the agents spread evenly over the interval, each
   window ending at its publish time (so central's window end → commit lag is the ingest latency);
3. burst (backlog > 0): every connection drops at once (an outage), each agent holds `backlog`
   windows, then all reconnect together and replay their backlog in order;
4. every message acknowledged, clean DISCONNECT.

A connection lost at any time is re-established with backoff and its unacknowledged messages
sent again (duplicates for central to ignore). The result says what central must store.
"""

from __future__ import annotations

import asyncio
import random
import resource
import ssl
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from central.sim.messages import WIB, counts_message, kelurahan_codes
from central.sim.mqtt import (
    RETRY_REASONS,
    AsyncMqttClient,
    ConnectRefused,
    MqttError,
    TlsVerifyError,
)
from siaga.settings import is_loopback
from siaga.wire import DEFAULT_PREFIX, ID_PATTERN, counts_topic

FD_HEADROOM = 64
RECONNECT_MIN_S, RECONNECT_MAX_S = 0.2, 10.0
REFUSED_RETRIES = (
    3  # "server unavailable" happens while a broker starts; bad credentials do not heal
)


@dataclass(frozen=True)
class FleetConfig:
    """What to simulate in fleet mode (see `siaga simulate agents --per-agent --help`)."""

    agents: int = 100
    windows: int = 3  # steady windows per agent
    interval_s: float = 60.0  # one window per agent per interval
    window_s: int = 60
    backlog: int = 0  # windows each agent holds during the outage, replayed on reconnect
    outage_s: float = 2.0  # how long every connection stays down before the burst
    host: str = "127.0.0.1"
    port: int = 1883
    prefix: str = DEFAULT_PREFIX
    credentials: Path | None = None  # "agent_id:password" lines; else agent ids, no password
    agent_prefix: str = "sim"
    camera_id: str = "cam1"
    first_seq: int = 1
    seed: int = 0
    ca_file: Path | None = None  # TLS with this CA (server certificate verified)
    keepalive_s: int = 60
    connect_concurrency: int = 200  # handshakes in progress at a time
    max_inflight: int = 20  # unacknowledged messages per connection
    ack_timeout_s: float = 120.0
    give_up_s: float = 120.0  # an agent that cannot (re)connect for this long ends the run


@dataclass
class FleetResult:
    """What was published in fleet mode, and so what central must hold."""

    agents: int = 0
    sent: int = 0
    steady_sent: int = 0
    burst_sent: int = 0
    keys: set[tuple[str, int]] = field(default_factory=set)
    connected_max: int = 0  # most connections held at the same time (sampled, and at start)
    all_connected_at_once: bool = False
    connect_s: float = 0.0  # first CONNECT → all agents connected
    reconnects: int = 0  # connections re-established after a drop (outage included)
    started_at: float = 0.0  # time.time() values, for the benchmark
    steady_started_at: float = 0.0
    steady_ended_at: float = 0.0
    burst_started_at: float = 0.0  # the outage ends: every agent reconnects
    burst_acked_at: float = 0.0
    elapsed_s: float = 0.0
    ack_ms: dict[str, dict[str, float]] = field(default_factory=dict)  # phase -> p50/p99/max
    cpu_s: float = 0.0  # this simulator process: user + system CPU, peak resident memory
    rss_peak_mb: float = 0.0

    @property
    def unique(self) -> int:
        """Distinct (agent_id, seq) published."""
        return len(self.keys)

    def summary(self) -> dict[str, Any]:
        """Figures for printing."""
        return {
            "agents": self.agents, "sent": self.sent, "unique": self.unique,
            "steady_sent": self.steady_sent, "burst_sent": self.burst_sent,
            "connected_max": self.connected_max,
            "all_connected_at_once": self.all_connected_at_once,
            "connect_s": round(self.connect_s, 2), "reconnects": self.reconnects,
            "elapsed_s": round(self.elapsed_s, 2), "puback_ms": self.ack_ms,
            "cpu_s": self.cpu_s, "rss_peak_mb": self.rss_peak_mb,
        }  # fmt: skip


def raise_nofile(needed: int) -> int:
    """Raise this process's open-file limit to at least `needed`; returns the soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            try:  # root may raise the hard limit too
                resource.setrlimit(resource.RLIMIT_NOFILE, (needed, needed))
                return needed
            except (ValueError, OSError) as exc:
                raise RuntimeError(
                    f"{needed} open files needed, the hard limit is {hard}: raise it "
                    "(ulimit -Hn, LimitNOFILE= in a unit, nofile in limits.conf)"
                ) from exc
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
        soft = needed
    return int(soft)


def load_credentials(path: Path) -> list[tuple[str, str]]:
    """(agent_id, password) from "agent_id:password" lines (blank lines and # comments skipped)."""
    import re

    out, seen = [], set()
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        agent, sep, password = line.partition(":")
        if not sep or not password or not re.match(ID_PATTERN, agent):
            raise ValueError(f"{path}:{n}: expected 'agent_id:password'")
        if agent in seen:
            raise ValueError(f"{path}:{n}: agent {agent!r} listed twice")
        seen.add(agent)
        out.append((agent, password))
    return out


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    q = statistics.quantiles(values, n=100, method="inclusive") if len(values) > 1 else values * 99
    return {"p50": round(q[49] * 1000, 1), "p99": round(q[98] * 1000, 1),
            "max": round(max(values) * 1000, 1), "n": len(values)}  # fmt: skip


@dataclass(slots=True)
class _Agent:
    agent_id: str
    index: int
    kelurahan: str
    seq: int
    client: AsyncMqttClient


class FleetSimulation:
    """Plays cfg.agents agents, each on its own connection; run() returns what was sent."""

    def __init__(self, cfg: FleetConfig, *, progress: Callable[[str], None] | None = None) -> None:
        if cfg.agents < 1 or cfg.windows < 0 or cfg.backlog < 0 or cfg.interval_s < 0:
            raise ValueError("agents must be >= 1; windows, backlog and interval >= 0")
        self.cfg, self.progress = cfg, progress
        self.rng = random.Random(cfg.seed)
        if cfg.credentials is not None:
            creds: list[tuple[str, str | None]] = list(load_credentials(cfg.credentials))
            if len(creds) < cfg.agents:
                raise ValueError(f"{cfg.credentials} lists {len(creds)} agents, "
                                 f"{cfg.agents} asked for")  # fmt: skip
            creds = creds[: cfg.agents]
        else:
            width = len(str(cfg.agents - 1))
            creds = [(f"{cfg.agent_prefix}-{i:0{width}d}", None) for i in range(cfg.agents)]
        ctx = None
        if cfg.ca_file is not None:
            ctx = ssl.create_default_context(cafile=str(cfg.ca_file))
        elif cfg.credentials is not None and not is_loopback(cfg.host):
            raise ValueError(f"passwords to {cfg.host} without TLS would cross the network in "
                             "clear text: give --ca-file (the broker's CA)")  # fmt: skip
        codes = kelurahan_codes()
        self._lat: dict[str, list[float]] = {"steady": [], "burst": []}
        self._phase = "steady"
        self.agents = [
            _Agent(agent, i, codes[i % len(codes)], cfg.first_seq, AsyncMqttClient(
                cfg.host, cfg.port, agent, username=agent, password=password,
                keepalive_s=cfg.keepalive_s, max_inflight=cfg.max_inflight, ssl_context=ctx,
                on_ack=self._on_ack))
            for i, (agent, password) in enumerate(creds)
        ]  # fmt: skip
        self.result = FleetResult(agents=cfg.agents)

    def _on_ack(self, latency_s: float) -> None:
        self._lat[self._phase].append(latency_s)

    def run(self) -> FleetResult:
        """Run every phase; returns once every message is acknowledged and all disconnected."""
        raise_nofile(self.cfg.agents + FD_HEADROOM)
        return asyncio.run(self._run())

    async def _run(self) -> FleetResult:
        cfg, res = self.cfg, self.result
        self._handshakes = asyncio.Semaphore(cfg.connect_concurrency)
        self._all_ready = asyncio.Event()
        self._all_down = asyncio.Event()
        self._outage_over = asyncio.Event()
        self._all_finished = asyncio.Event()
        self._ready = self._down = self._done = self._finished = 0
        self._t0 = 0.0
        t0 = time.monotonic()
        res.started_at = time.time()
        tasks = [asyncio.create_task(self._agent(a)) for a in self.agents]
        watcher = asyncio.create_task(self._watch())
        try:
            await asyncio.gather(*tasks)
        finally:
            watcher.cancel()
            for t in tasks:
                t.cancel()
            for a in self.agents:
                a.client.abort()
        res.elapsed_s = time.monotonic() - t0
        res.ack_ms = {k: _percentiles(v) for k, v in self._lat.items() if v}
        use = resource.getrusage(resource.RUSAGE_SELF)
        res.cpu_s = round(use.ru_utime + use.ru_stime, 2)
        res.rss_peak_mb = round(use.ru_maxrss / 1024, 1)
        return res

    def _connected_now(self) -> int:
        n = sum(1 for a in self.agents if a.client.connected)
        self.result.connected_max = max(self.result.connected_max, n)
        return n

    async def _watch(self) -> None:
        """Progress lines, the connection high-water mark, and the end of the outage."""
        cfg, res = self.cfg, self.result
        last_note = 0.0
        while True:
            await asyncio.sleep(0.25)
            now = self._connected_now()
            if self._all_down.is_set() and not self._outage_over.is_set():
                await asyncio.sleep(cfg.outage_s)
                self._phase = "burst"
                res.burst_started_at = time.time()
                self._outage_over.set()
            if self.progress and time.monotonic() - last_note >= 2.0:
                last_note = time.monotonic()
                acked = sum(a.client.acked for a in self.agents)
                self.progress(f"{self._phase}: {now}/{cfg.agents} connected, {res.sent} sent, "
                              f"{acked} acknowledged, {res.reconnects} reconnects")  # fmt: skip

    async def _connect(self, a: _Agent, *, again: bool) -> None:
        delay, refused = RECONNECT_MIN_S, 0
        give_up = time.monotonic() + self.cfg.give_up_s
        while True:
            try:
                async with self._handshakes:
                    await (a.client.reconnect() if again else a.client.connect())
                if again:
                    self.result.reconnects += 1
                return
            except ConnectRefused as exc:
                refused += 1
                if exc.code not in RETRY_REASONS or refused > REFUSED_RETRIES:
                    raise
            except TlsVerifyError:
                raise
            except MqttError as exc:
                if time.monotonic() >= give_up:
                    raise MqttError(f"{exc} (gave up after {self.cfg.give_up_s:g} s)") from exc
            again = True  # whatever was taken before the drop goes out again
            await asyncio.sleep(delay * (0.5 + self.rng.random()))
            delay = min(RECONNECT_MAX_S, delay * 2)

    async def _send(self, a: _Agent, start: datetime, end: datetime) -> None:
        msg = counts_message(self.rng, agent_id=a.agent_id, seq=a.seq, camera_id=self.cfg.camera_id,
                             index=a.index, kelurahan=a.kelurahan, start=start, end=end,
                             window_s=self.cfg.window_s)  # fmt: skip
        topic, payload = (
            counts_topic(a.agent_id, self.cfg.camera_id, self.cfg.prefix),
            msg.to_payload(),
        )
        while True:
            try:
                await a.client.publish(topic, payload)
                break
            except MqttError:
                await self._connect(a, again=True)
        self.result.keys.add((a.agent_id, a.seq))
        self.result.sent += 1
        a.seq += 1

    async def _settle(self, a: _Agent) -> None:
        """Wait for every PUBACK, reconnecting (and resending) after a drop."""
        while a.client.unacked:
            if await a.client.wait_acked(self.cfg.ack_timeout_s):
                return
            if a.client.connected:
                raise TimeoutError(f"{a.agent_id}: {a.client.unacked} messages without PUBACK "
                                   f"after {self.cfg.ack_timeout_s:.0f} s")  # fmt: skip
            await self._connect(a, again=True)

    async def _agent(self, a: _Agent) -> None:
        cfg, res, n = self.cfg, self.result, self.cfg.agents
        await self._connect(a, again=False)
        self._ready += 1
        if self._ready == n:  # the last one in: everybody is connected right now, or was
            res.all_connected_at_once = self._connected_now() == n
            res.connect_s = time.time() - res.started_at
            self._t0 = time.monotonic()
            res.steady_started_at = time.time()
            self._all_ready.set()
        await self._all_ready.wait()
        for w in range(cfg.windows):  # agent i publishes at i/n of each interval
            delay = self._t0 + (w + a.index / n) * cfg.interval_s - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            end = datetime.now(WIB)
            await self._send(a, end - timedelta(seconds=cfg.window_s), end)
            res.steady_sent += 1
        await self._settle(a)
        self._done += 1
        if self._done == n:
            res.steady_ended_at = time.time()
        if cfg.backlog:
            await self._burst(a)
        self._finished += 1
        if self._finished == n:  # everybody stays connected until the last one is done
            self._connected_now()
            self._all_finished.set()
        await self._all_finished.wait()
        await a.client.disconnect()

    async def _burst(self, a: _Agent) -> None:
        cfg, res = self.cfg, self.result
        a.client.abort()  # the outage: the link drops
        self._down += 1
        if self._down == cfg.agents:
            self._all_down.set()
        await self._outage_over.wait()
        await self._connect(a, again=True)
        now = datetime.now(WIB)
        for k in range(cfg.backlog):  # the agent's outbox, oldest first
            end = now - timedelta(seconds=cfg.window_s * (cfg.backlog - 1 - k))
            await self._send(a, end - timedelta(seconds=cfg.window_s), end)
            res.burst_sent += 1
        await self._settle(a)
        res.burst_acked_at = max(res.burst_acked_at, time.time())


def simulate_fleet(cfg: FleetConfig) -> FleetResult:
    """Run one fleet simulation (module level: it can run in another process)."""
    return FleetSimulation(cfg).run()
