"""`siaga simulate agents`: many edge agents publishing real wire-contract counts to a broker.

One paho client (or a few, --clients) publishes for every simulated agent, on each agent's own
topics, with QoS 1. Each agent has strictly increasing seqs. On demand: duplicates (some messages
published again a little later), skipped seqs (visible gaps), outages (an agent's messages held,
then sent late, in order) and malformed payloads of many kinds, each with the reason central must
reject it for. The returned `SimResult` says exactly what central should end up storing.

`--per-agent` (central/sim/fleet.py, `FleetSimulation`): every agent its own MQTT connection and
credentials instead, from one asyncio loop; city-scale tests, ACLs, reconnect bursts.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from central.sim.fleet import FleetConfig, FleetResult, FleetSimulation, simulate_fleet
from central.sim.messages import (
    MALFORMED,
    MODEL,
    WIB,
    aligned,
    counts_message,
    kelurahan_codes,
)
from siaga.wire import DEFAULT_PREFIX, MAX_PAYLOAD_BYTES, CountsMessage, counts_topic

__all__ = ["MALFORMED", "MODEL", "WIB", "FleetConfig", "FleetResult", "FleetSimulation",
           "SimConfig", "SimResult", "Simulation", "kelurahan_codes", "simulate",
           "simulate_fleet"]  # fmt: skip

ACK_TIMEOUT_S = 60.0  # no PUBACK progress for this long: the broker is gone


@dataclass(frozen=True)
class SimConfig:
    """What to simulate (see `siaga simulate agents --help`)."""

    agents: int = 10
    windows: int = 10
    interval_s: float = 0.0  # between one agent's windows; 0: as fast as the broker takes them
    window_s: int = 60
    duplicates: float = 0.0  # share of messages published a second time, later
    skip: float = 0.0  # share of seqs never published (gaps central must report)
    outage_agents: int = 0
    outage_s: float = 0.0
    malformed: int = 0
    host: str = "127.0.0.1"
    port: int = 1883
    prefix: str = DEFAULT_PREFIX
    seed: int = 0
    clients: int = 1
    agent_prefix: str = "sim"
    first_seq: int = 1
    live: bool = False  # windows end at publish time (for latency), else consecutive past windows
    oversize_bytes: int = MAX_PAYLOAD_BYTES + 1
    max_inflight: int = 1000


@dataclass
class SimResult:
    """What was published, and so what central must hold."""

    sent: int = 0
    unique: int = 0
    duplicates: int = 0
    skipped: int = 0
    malformed: Counter[str] = field(default_factory=Counter)  # expected reject reason -> n
    keys: set[tuple[str, int]] = field(default_factory=set)  # every (agent_id, seq) published
    outage_agents: list[str] = field(default_factory=list)
    started_at: float = 0.0  # time.time() at the start
    elapsed_s: float = 0.0

    @property
    def rate(self) -> float:
        """Messages published per second."""
        return self.sent / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def gaps(self) -> list[tuple[str, int, int]]:
        """(agent, first_missing, last_missing) between each agent's lowest and highest seq."""
        by_agent: dict[str, list[int]] = {}
        for a, s in self.keys:
            by_agent.setdefault(a, []).append(s)
        out = []
        for a in sorted(by_agent):
            seqs = sorted(by_agent[a])
            out += [(a, lo + 1, hi - 1) for lo, hi in itertools.pairwise(seqs)
                    if hi - lo > 1]  # fmt: skip
        return out

    def summary(self) -> dict[str, Any]:
        """Figures for printing."""
        return {
            "sent": self.sent, "unique": self.unique, "duplicates": self.duplicates,
            "skipped_seqs": self.skipped, "malformed": dict(self.malformed),
            "elapsed_s": round(self.elapsed_s, 3), "rate_msg_s": round(self.rate, 1),
        }  # fmt: skip


# ---- publishing ----


class _Publisher:
    """A few paho clients with a bounded number of unacknowledged messages each."""

    def __init__(self, cfg: SimConfig) -> None:
        self.cfg = cfg
        self._cond = threading.Condition()
        self._acked = 0
        self._published = 0
        self.clients = [self._client(i) for i in range(max(1, cfg.clients))]

    def _client(self, i: int) -> mqtt.Client:
        c = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2,
                        client_id=f"siaga-sim-{os.getpid()}-{i}", protocol=mqtt.MQTTv5)  # fmt: skip
        c.max_inflight_messages_set(self.cfg.max_inflight)
        c.on_publish = self._on_publish
        c.connect(self.cfg.host, self.cfg.port, keepalive=30)
        c.loop_start()
        return c

    def _on_publish(self, *_args: Any) -> None:
        with self._cond:
            self._acked += 1
            self._cond.notify_all()

    def publish(self, client: int, topic: str, payload: bytes) -> None:
        """Publish with QoS 1, waiting while too many are unacknowledged."""
        limit = 2 * self.cfg.max_inflight * len(self.clients)
        with self._cond:
            if self._published - self._acked >= limit:
                self._wait(lambda: self._published - self._acked < limit)
            self._published += 1
        info = self.clients[client % len(self.clients)].publish(topic, payload, qos=1)
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            raise ConnectionError(f"publish failed: {mqtt.error_string(info.rc)}")

    def _wait(self, cond: Callable[[], bool]) -> None:
        last = self._acked
        while not cond():
            if not self._cond.wait(ACK_TIMEOUT_S) and self._acked == last:
                raise TimeoutError(f"no PUBACK from {self.cfg.host}:{self.cfg.port} in "
                                   f"{ACK_TIMEOUT_S:.0f} s")  # fmt: skip
            last = self._acked

    def close(self) -> None:
        """Wait for every PUBACK, then disconnect."""
        try:
            with self._cond:
                self._wait(lambda: self._acked >= self._published)
        finally:
            for c in self.clients:
                c.disconnect()
                c.loop_stop()


@dataclass(slots=True)
class _Agent:
    agent_id: str
    camera_id: str
    kelurahan: str
    index: int
    seq: int
    outage_until: float = 0.0
    held: list[tuple[str, bytes]] = field(default_factory=list)


class Simulation:
    """Plays cfg.agents agents for cfg.windows windows each; run() returns what was sent."""

    def __init__(self, cfg: SimConfig, *, progress: Callable[[str], None] | None = None) -> None:
        self.cfg, self.progress = cfg, progress
        self.rng = random.Random(cfg.seed)
        codes = kelurahan_codes()
        width = len(str(max(cfg.agents - 1, 0)))
        self.agents = [_Agent(f"{cfg.agent_prefix}-{i:0{width}d}", "cam1",
                              codes[i % len(codes)], i, cfg.first_seq)
                       for i in range(cfg.agents)]  # fmt: skip
        self.result = SimResult()
        self._base = aligned(datetime.now(WIB) - timedelta(seconds=cfg.window_s * cfg.windows),
                              cfg.window_s)  # fmt: skip
        self._kinds = list(MALFORMED)

    def run(self) -> SimResult:
        """Publish everything; returns when every message is acknowledged by the broker."""
        cfg, res = self.cfg, self.result
        pub = _Publisher(cfg)
        t0, res.started_at = time.monotonic(), time.time()
        for a in self.rng.sample(self.agents, min(cfg.outage_agents, len(self.agents))):
            a.outage_until = t0 + cfg.outage_s
            res.outage_agents.append(a.agent_id)
        total = cfg.agents * cfg.windows
        bad_at = Counter(self.rng.randrange(max(total, 1)) for _ in range(cfg.malformed))
        next_note = t0 + 2.0
        try:
            for r in range(cfg.windows):
                dups: list[tuple[_Agent, str, bytes]] = []
                for a in self.agents:
                    self._pace(t0, r, a.index)
                    for _ in range(bad_at.pop(r * cfg.agents + a.index, 0)):
                        self._send_malformed(pub, a)
                    topic, payload = self._next_counts(a, r)
                    self._send(pub, a, topic, payload)
                    if self.rng.random() < cfg.duplicates:
                        dups.append((a, topic, payload))
                for a, topic, payload in dups:  # a little later, as a redelivery would be
                    self._send(pub, a, topic, payload)
                    res.duplicates += 1
                self._release(pub, time.monotonic())
                if self.progress and time.monotonic() >= next_note:
                    next_note = time.monotonic() + 2.0
                    self.progress(f"window {r + 1}/{cfg.windows}: {res.sent} sent")
            self._release(pub, None)
        finally:
            pub.close()
        res.elapsed_s = time.monotonic() - t0
        res.unique = len(res.keys)
        return res

    def _pace(self, t0: float, r: int, i: int) -> None:
        if self.cfg.interval_s <= 0:
            return
        due = t0 + (r + i / max(1, self.cfg.agents)) * self.cfg.interval_s
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)

    def _message(self, a: _Agent, r: int) -> CountsMessage:
        cfg, rng = self.cfg, self.rng
        if cfg.live:
            end = datetime.now(WIB)
            start = end - timedelta(seconds=cfg.window_s)
        else:
            start = self._base + timedelta(seconds=cfg.window_s * r)
            end = start + timedelta(seconds=cfg.window_s)
        return counts_message(rng, agent_id=a.agent_id, seq=a.seq, camera_id=a.camera_id,
                              index=a.index, kelurahan=a.kelurahan, start=start, end=end,
                              window_s=cfg.window_s)  # fmt: skip

    def _next_counts(self, a: _Agent, r: int) -> tuple[str, bytes]:
        while self.rng.random() < self.cfg.skip:
            a.seq += 1  # never published: a gap
            self.result.skipped += 1
        payload = self._message(a, r).to_payload()
        self.result.keys.add((a.agent_id, a.seq))
        a.seq += 1
        return counts_topic(a.agent_id, a.camera_id, self.cfg.prefix), payload

    def _send_malformed(self, pub: _Publisher, a: _Agent) -> None:
        kind = self._kinds[sum(self.result.malformed.values()) % len(self._kinds)]
        reason, make = MALFORMED[kind]
        d = json.loads(self._message(a, 0).to_payload())
        topic, payload = make(d, counts_topic(a.agent_id, a.camera_id, self.cfg.prefix),
                              a.agent_id, self.cfg)  # fmt: skip
        pub.publish(a.index, topic, payload)
        self.result.sent += 1
        self.result.malformed[reason] += 1

    def _send(self, pub: _Publisher, a: _Agent, topic: str, payload: bytes) -> None:
        if a.outage_until and time.monotonic() < a.outage_until:
            a.held.append((topic, payload))  # the agent's outbox keeps it
            return
        pub.publish(a.index, topic, payload)
        self.result.sent += 1

    def _release(self, pub: _Publisher, now: float | None) -> None:
        """Send held messages of agents whose outage is over (None: wait for every outage)."""
        for a in self.agents:
            if not a.held:
                continue
            if now is None:
                time.sleep(max(0.0, a.outage_until - time.monotonic()))
            elif now < a.outage_until:
                continue
            held, a.held, a.outage_until = a.held, [], 0.0
            for topic, payload in held:
                pub.publish(a.index, topic, payload)
                self.result.sent += 1


def simulate(cfg: SimConfig) -> SimResult:
    """Run one simulation (a module-level function: it can run in another process)."""
    return Simulation(cfg).run()

