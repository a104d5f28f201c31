"""The city topology of docs/deployment.md §3b as test fixtures (issue 20): a centre Mosquitto
configured by `siaga fleet broker-config`, site Mosquittos configured by `siaga fleet
site-config` (bridge included: TLS with the fleet CA, each site's own bridge user), each bridge
reaching the centre through a TcpProxy (the WAN, cut and restored at will), agents on the site
brokers, collectors on the centre writing to PostgreSQL.

The agents are the real agent's transport: `agent.publisher.Publisher` over its SQLite
`Outbox`, configured from the agent.toml its provisioning bundle holds (pointed at its site
broker), confirming windows end to end (`confirm = "central"`: a window leaves the outbox only
when central's acknowledgement came back through the bridge). The camera pipeline in front of
the outbox adds nothing to what a topology can lose, so a thread stands in for it and enqueues
one window every `period_s`.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.config import load_config as load_agent_config
from agent.outbox import Outbox
from agent.publisher import Publisher
from central.config import CentralConfig, CentralSection, FleetSection, MqttSection, StorageSection
from central.fleet.provision import Fleet
from central.fleet.sites import add_bridge, write_site_config
from central.ingest.collector import Collector
from central.ingest.confirm import Confirmer
from central.service import SummaryPublisher
from central.store.writes import Store
from siaga.wire import counts_topic
from tests.central.ingest.test_ingest import counts_message
from tests.mqtt_broker import MosquittoBroker, Subscriber, TcpProxy, free_port

KEL = "33.74.16.1004"


class CountingAgent:
    """A provisioned agent publishing to its site broker; a thread enqueues its windows."""

    def __init__(self, fleet: Fleet, agent_id: str, site_port: int, tmp: Path) -> None:
        cfg = load_agent_config(fleet.bundles / agent_id / "agent.toml")
        mqtt_cfg = cfg.mqtt.model_copy(update={"port": site_port, "reconnect_min_s": 0.1,
                                               "reconnect_max_s": 1.0})  # fmt: skip
        self.id = agent_id
        self.outbox = Outbox(tmp / f"{agent_id}.outbox.sqlite3")
        self.publisher = Publisher(mqtt_cfg, agent_id=agent_id, outbox=self.outbox)
        self.enqueued: list[int] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def enqueue(self, n: int = 1) -> None:
        topic = counts_topic(self.id, "cam1")
        for _ in range(n):
            seq = self.outbox.enqueue_stamped(
                topic,
                lambda st: counts_message(
                    self.id, st.seq, epoch=st.epoch, first_unconfirmed=st.first_unconfirmed
                ).to_payload(),
            )  # stamped as the real agent does: central can confirm it
            self.enqueued.append(seq)
        self.publisher.notify()

    def start(self, period_s: float | None = None) -> CountingAgent:
        """Connect; with period_s, keep counting (one window every period_s) until stop."""
        self.publisher.start()
        if period_s is not None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._count, args=(period_s,), daemon=True)
            self._thread.start()
        return self

    def _count(self, period_s: float) -> None:
        while not self._stop.wait(period_s):
            self.enqueue()

    def stop_counting(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def keys(self) -> set[tuple[str, int]]:
        return {(self.id, s) for s in self.enqueued}

    def close(self) -> None:
        self.stop_counting()
        self.publisher.stop(timeout_s=1.0)
        self.outbox.close()


@dataclass
class Site:
    name: str  # the bridge's name
    broker: MosquittoBroker
    wan: TcpProxy  # between this site's bridge and the centre
    agents: dict[str, CountingAgent] = field(default_factory=dict)


@dataclass
class Topology:
    fleet: Fleet
    centre: MosquittoBroker
    sites: dict[str, Site]
    pg_url: str
    tmp: Path
    collectors: list[tuple[Collector, Store]] = field(default_factory=list)
    publishers: list[SummaryPublisher] = field(default_factory=list)

    def password(self, name: str) -> str:
        return (self.fleet.bundles / name / "mqtt-password").read_text().strip()

    def central_config(self, instance: str, share_group: str | None = None) -> CentralConfig:
        return central_config(self.fleet.dir, self.centre.port, self.pg_url, instance,
                              share_group)  # fmt: skip

    def collector(self, instance: str, *, share_group: str | None = None) -> Collector:
        """A collector on the centre (plain persistent subscription unless share_group), wired
        as central.service wires it: confirmations to the agents on its publisher's
        connection."""
        c, store, pub = start_collector(self.central_config(instance, share_group))
        self.publishers.append(pub)
        self.collectors.append((c, store))
        return c

    def observer(self, topics: list[str]) -> Subscriber:
        """An admin subscriber on the centre (plain TCP is not offered: TLS like everyone)."""
        sub = Subscriber(self.centre, topics, client_id=f"observer-{len(self.collectors)}",
                         username="ops", password=self.password("ops"))  # fmt: skip
        sub.client.tls_set(ca_certs=str(self.fleet.ca_cert))
        return sub.start(10)

    def agents(self) -> list[CountingAgent]:
        return [a for s in self.sites.values() for a in s.agents.values()]

    def close(self) -> None:
        for a in self.agents():
            a.close()
        for c, store in self.collectors:
            c.stop(timeout_s=2.0)
            store.close()
        for pub in self.publishers:
            pub.stop()
        for s in self.sites.values():
            s.wan.close()
            s.broker.kill()
        self.centre.kill()


def central_config(
    fleet_dir: Path, port: int, pg_url: str, instance: str, share_group: str | None
) -> CentralConfig:
    """Central's config on the centre broker as the fleet's `central` user."""
    fleet = Fleet(fleet_dir)
    return CentralConfig(
        central=CentralSection(instance=instance),
        mqtt=MqttSection(host="127.0.0.1", port=port, tls=True, ca_file=fleet.ca_cert,
                         username="central",
                         password_file=fleet.bundles / "central" / "mqtt-password",
                         share_group=share_group, reconnect_min_s=0.1, reconnect_max_s=0.5),
        storage=StorageSection(url=pg_url, batch_max_wait_ms=50),
        fleet=FleetSection(revoked_file=fleet.revoked_file),
    )  # fmt: skip


def start_collector(cfg: CentralConfig) -> tuple[Collector, Store, SummaryPublisher]:
    """Collector + confirmations on the publisher's connection, as central.service does."""
    store = Store.open(cfg.storage.url)
    pub = SummaryPublisher(cfg.mqtt, client_id=f"{cfg.central.instance}-summaries")
    pub.start()
    client = pub.client
    confirmer = Confirmer(
        store.engine, lambda topic, payload: client.publish(topic, payload, qos=1, retain=True),
        prefix=cfg.mqtt.topic_prefix)  # fmt: skip
    c = Collector(cfg, store, confirmer=confirmer)
    c.start()
    assert pub.wait_connected(15), "central's publisher could not connect to the centre"
    assert c.wait_ready(15), "collector could not connect to the centre as central"
    return c, store, pub


def collector_process(cfg: CentralConfig, ready: Any) -> None:
    """A collector in a child process (spawned), for a test to kill with SIGKILL."""
    start_collector(cfg)
    ready.set()
    time.sleep(600)


def broker_for(workdir: Path, port: int, conf_dir: Path) -> MosquittoBroker:
    """Mosquitto as the docs say: the generated folder by include_dir, persistence on."""
    return MosquittoBroker(workdir, port=port, plain_listener=False, allow_anonymous=None,
                           persistence=True, extra_config=[f"include_dir {conf_dir}"])  # fmt: skip


@contextlib.contextmanager
def topology(tmp: Path, pg_url: str, sites: dict[str, list[str]]) -> Iterator[Topology]:
    """The fleet, the centre, one bridged site broker per entry (bridge name -> agent ids)."""
    fleet = Fleet(tmp / "fleet")
    pw, cert = free_port(), free_port()
    fleet.init(hostnames=["localhost"], ips=["127.0.0.1"], host="127.0.0.1", password_port=pw,
               cert_port=cert, websocket_port=None)  # fmt: skip
    fleet.add_service("central", "central")
    fleet.add_service("ops", "admin")
    for bridge, agents in sites.items():
        for agent in agents:
            fleet.provision(agent, site=f"site {bridge}", kelurahan=KEL, secrets_via="file",
                            install_dir=fleet.bundles / agent)  # fmt: skip
        add_bridge(fleet, bridge, site=f"site {bridge}", hostnames=["localhost"],
                   ips=["127.0.0.1"], password_port=free_port(), cert_port=free_port())  # fmt: skip
    from central.fleet.brokerconf import write_broker_config

    write_broker_config(fleet, tmp / "centre-conf", bind="127.0.0.1")
    centre = broker_for(tmp / "centre", pw, tmp / "centre-conf").start()
    topo = Topology(fleet, centre, {}, pg_url, tmp)
    try:
        for bridge, agents in sites.items():
            wan = TcpProxy(pw).start()
            entry = fleet.load().bridges[bridge]
            write_site_config(fleet, bridge, tmp / f"{bridge}-conf", bind="127.0.0.1",
                              centre=f"127.0.0.1:{wan.port}")  # fmt: skip
            broker = broker_for(tmp / bridge, entry.password_port, tmp / f"{bridge}-conf")
            site = Site(bridge, broker.start(), wan)
            topo.sites[bridge] = site
            for agent in agents:
                site.agents[agent] = CountingAgent(fleet, agent, entry.password_port, tmp)
        yield topo
    finally:
        topo.close()
