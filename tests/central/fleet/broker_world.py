"""The acceptance tests' world: a fleet made with `siaga fleet`, a Mosquitto configured by it,
and small clients (a one-shot connect, a raw publisher, the real agent and collector).
"""

from __future__ import annotations

import contextlib
import io
import itertools
import logging
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from agent.config import load_config as load_agent_config
from agent.outbox import Outbox
from agent.publisher import Publisher
from central.config import CentralConfig, CentralSection, FleetSection, MqttSection, StorageSection
from central.fleet.provision import Fleet
from central.ingest.collector import Collector
from central.store.writes import Store
from siaga.cli import main
from siaga.mqtt import configure_client, describe_error, describe_refusal, paho_log
from siaga.settings import BrokerSection
from siaga.wire import counts_topic
from tests.central.ingest.test_ingest import counts_message
from tests.mqtt_broker import MosquittoBroker, free_port, wait_until

KEL = "33.74.16.1004"
WAIT_S = 15.0
_ids = itertools.count()


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@dataclass
class World:
    fleet: Fleet
    broker: MosquittoBroker
    broker_dir: Path
    tmp: Path
    capture: _Capture
    cli_output: list[str] = field(default_factory=list)

    @property
    def pw_port(self) -> int:
        return self.fleet.load().broker.password_port

    @property
    def cert_port(self) -> int:
        return self.fleet.load().broker.cert_port

    @property
    def ws_port(self) -> int:
        port = self.fleet.load().broker.websocket_port
        assert port is not None
        return port

    def bundle(self, name: str) -> Path:
        return self.fleet.bundles / name

    def password(self, name: str) -> str:
        return (self.bundle(name) / "mqtt-password").read_text().strip()

    def cli(self, *args: str) -> int:
        out, err = io.StringIO(), io.StringIO()
        # main() sets up logging (siaga.logs: one handler on the root logger, the others
        # removed): put back the capture and pytest's handlers afterwards.
        root = logging.getLogger()
        handlers, level = list(root.handlers), root.level
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                rc = main(["fleet", "--fleet-dir", str(self.fleet.dir), *args])
        finally:
            for h in list(root.handlers):
                root.removeHandler(h)
            for h in handlers:
                root.addHandler(h)
            root.setLevel(level)
        self.cli_output += [out.getvalue(), err.getvalue()]
        assert rc == 0, err.getvalue()
        return rc

    def reload_broker(self) -> None:
        assert self.broker.proc is not None
        self.broker.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: "Reloading config" in self.broker.log_tail(50), 2)

    def section(self, port: int, *, ca: Path | None = None, **kw: Any) -> BrokerSection:
        return BrokerSection(host="127.0.0.1", port=port, tls=True,
                             ca_file=ca or self.fleet.ca_cert, **kw)  # fmt: skip


@contextlib.contextmanager
def running_world(tmp: Path) -> Iterator[World]:
    """A fleet provisioned through the CLI, its broker-config, and Mosquitto running it."""
    capture = _Capture()
    root = logging.getLogger()
    old_root, old_paho = root.level, paho_log.level
    root.addHandler(capture)
    root.setLevel(logging.DEBUG)
    paho_log.setLevel(logging.DEBUG)  # paho's own debug lines too: they must not leak either
    fleet = Fleet(tmp / "fleet")
    w = World(fleet, None, tmp / "broker", tmp, capture)  # type: ignore[arg-type]
    pw_port, cert_port, ws_port = free_port(), free_port(), free_port()
    w.cli("init", "--hostname", "localhost", "--ip", "127.0.0.1", "--host", "127.0.0.1",
          "--password-port", str(pw_port), "--cert-port", str(cert_port),
          "--websocket-port", str(ws_port))  # fmt: skip
    for agent, auth in (
        ("box-a", "password"),
        ("box-b", "password"),
        ("box-c", "cert"),
        ("box-r", "password"),
        ("box-rc", "cert"),
        ("box-late", "both"),
        ("box-renew", "cert"),
    ):
        w.cli("provision", "--id", agent, "--site", f"Pasar {agent}", "--kelurahan", KEL,
              "--auth", auth, "--install-dir", str(fleet.bundles / agent),
              "--secrets", "file")  # fmt: skip
    for name, role in (
        ("central", "central"),
        ("ops", "admin"),
        ("dash", "dashboard"),
        ("pub", "public"),
    ):
        w.cli("service", "--name", name, "--role", role)
    w.cli("revoke", "box-r", "--reason", "test")
    w.cli("revoke", "box-rc")
    w.cli("broker-config", "--out", str(w.broker_dir), "--bind", "127.0.0.1")
    # As the generated file and the docs say: include_dir in the main configuration file.
    w.broker = MosquittoBroker(tmp / "mosq", port=pw_port, plain_listener=False,
                               allow_anonymous=None, persistence=False,
                               extra_config=[f"include_dir {w.broker_dir}"])  # fmt: skip
    w.broker.start()
    try:
        yield w
    finally:
        w.broker.kill()
        root.removeHandler(capture)
        root.setLevel(old_root)
        paho_log.setLevel(old_paho)


@dataclass
class Attempt:
    connected: bool
    why: str


def attempt(cfg: BrokerSection, username: str | None = None, wait_s: float = 5.0) -> Attempt:
    """Connect once with configure_client (the agent's and central's TLS set-up)."""
    c = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2,
                    client_id=f"probe-{next(_ids)}", protocol=mqtt.MQTTv5)  # fmt: skip
    configure_client(c, cfg, username=username)
    result: dict[str, Any] = {}
    done = threading.Event()

    def on_connect(_c: Any, _u: Any, _f: Any, code: Any, _p: Any) -> None:
        result["code"] = code
        done.set()

    def on_disconnect(_c: Any, _u: Any, _f: Any, code: Any, _p: Any) -> None:
        result.setdefault("dropped", code)
        done.set()

    c.on_connect, c.on_disconnect = on_connect, on_disconnect
    try:
        c.connect(cfg.host, cfg.port, keepalive=5)
    except OSError as exc:
        return Attempt(False, describe_error(exc))
    c.loop_start()
    try:
        done.wait(wait_s)
        code = result.get("code")
        if code is not None and not code.is_failure:
            return Attempt(True, "connected")
        if code is not None:
            return Attempt(False, describe_refusal(code, username))
        return Attempt(False, f"connection dropped: {result.get('dropped')}")
    finally:
        c.disconnect()
        c.loop_stop()


def collector(world: World, name: str) -> tuple[Collector, Store]:
    store = Store.open(f"sqlite:///{world.tmp}/{name}.sqlite3")
    cfg = CentralConfig(
        central=CentralSection(instance=f"central-{name}"),
        mqtt=MqttSection(host="127.0.0.1", port=world.pw_port, tls=True,
                         ca_file=world.fleet.ca_cert, username="central",
                         password_file=world.bundle("central") / "mqtt-password",
                         share_group=name,  # a stopped collector's session keeps its share
                         reconnect_min_s=0.1, reconnect_max_s=0.5),
        storage=StorageSection(url=f"sqlite:///{world.tmp}/{name}.sqlite3", batch_max_wait_ms=50),
        fleet=FleetSection(revoked_file=world.fleet.revoked_file),
    )  # fmt: skip
    c = Collector(cfg, store)
    c.start()
    assert c.wait_ready(10), "collector could not connect as the central user"
    return c, store


@contextlib.contextmanager
def running_agent(world: World, agent: str, n: int) -> Iterator[tuple[Publisher, set[Any]]]:
    """The real agent publisher, configured from its provisioned bundle's agent.toml."""
    cfg = load_agent_config(world.bundle(agent) / "agent.toml")
    assert cfg.mqtt.tls_enabled and cfg.agent.id == agent
    ob = Outbox(world.tmp / f"{agent}-outbox.sqlite3")
    pub = Publisher(cfg.mqtt, agent_id=agent, outbox=ob)
    topic = counts_topic(agent, "cam1")
    keys = {(agent, ob.enqueue(topic, lambda s: counts_message(agent, s).to_payload()))
            for _ in range(n)}  # fmt: skip
    pub.start()
    pub.notify()
    try:
        yield pub, keys
    finally:
        pub.stop(timeout_s=1.0)
        ob.close()


@contextlib.contextmanager
def raw_client(world: World, cfg: BrokerSection, username: str | None) -> Iterator[mqtt.Client]:
    c = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2,
                    client_id=f"raw-{next(_ids)}", protocol=mqtt.MQTTv5)  # fmt: skip
    configure_client(c, cfg, username=username)
    c.connect(cfg.host, cfg.port, keepalive=5)
    c.loop_start()
    assert wait_until(c.is_connected, 5)
    try:
        yield c
    finally:
        c.disconnect()
        c.loop_stop()


def said_since(world: World, since: int) -> str:
    return "\n".join(world.capture.lines[since:]).lower()
