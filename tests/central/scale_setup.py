"""City-scale setup shared by tests/central/sim/test_scale.py and benchmarks/scale.py.

A Mosquitto configured as for a fleet: no anonymous access, a password file with one user per
agent (username = agent id) plus `central` and an `observer`, and the ACL that confines each agent
to its own topics (`pattern write siaga/v1/%u/#`). Also: the broker's connected-clients gauge
($SYS) and CPU/memory figures of a process from /proc.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from central.config import CentralConfig, CentralSection, MqttSection, StorageSection
from tests.mqtt_broker import MosquittoBroker, mosquitto_passwd_binary

PREFIX = "siaga/v1"
CONNECTED_TOPIC = "$SYS/broker/clients/connected"


@dataclass(frozen=True)
class FleetAuth:
    """Files and secrets of a test fleet."""

    credentials: Path  # "agent_id:password" lines, for the simulator
    passwd: Path  # hashed, for mosquitto
    acl: Path
    central_password: str
    observer_password: str


def acl_text(prefix: str = PREFIX) -> str:
    """Agents write their own topics only; central reads every agent's; the observer reads $SYS.

    The fleet tooling's generator (`siaga fleet`) when present, else the same lines by hand.
    """
    try:
        from central.fleet.acl import render_acl
    except ImportError:
        text = f"pattern write {prefix}/%u/#\nuser central\ntopic read {prefix}/#\n"
    else:
        text = render_acl({"central": "central"}, prefix=prefix)
    return text + "\nuser observer\ntopic read $SYS/#\n"


def write_password_file(out: Path, users: dict[str, str]) -> str:
    """A mosquitto password file for users (name -> password); returns the tool used."""
    try:  # the fleet tooling's own writer (`siaga fleet`), when present
        from central.fleet import passwd
    except ImportError:
        pass
    else:
        passwd.write_password_file(out, users)
        return "central.fleet.passwd"
    tool = mosquitto_passwd_binary()
    if tool is None:
        raise FileNotFoundError("mosquitto_passwd not found (apt-get install mosquitto)")
    out.write_text("".join(f"{u}:{p}\n" for u, p in users.items()))
    out.chmod(0o600)
    subprocess.run([tool, "-U", str(out)], check=True, capture_output=True, timeout=300)
    return "mosquitto_passwd -U"


def write_fleet_auth(workdir: Path, agents: int, *, agent_prefix: str = "agent") -> FleetAuth:
    """Credentials for `agents` agents (agent-00000 ...), central and an observer."""
    workdir.mkdir(parents=True, exist_ok=True)
    width = len(str(agents - 1))
    creds = {f"{agent_prefix}-{i:0{width}d}": secrets.token_urlsafe(12) for i in range(agents)}
    central, observer = secrets.token_urlsafe(12), secrets.token_urlsafe(12)
    credentials = workdir / "agents.credentials"
    credentials.write_text("".join(f"{a}:{p}\n" for a, p in creds.items()))
    credentials.chmod(0o600)
    passwd = workdir / "passwd"
    write_password_file(passwd, {**creds, "central": central, "observer": observer})
    acl = workdir / "acl"
    acl.write_text(acl_text())
    return FleetAuth(credentials, passwd, acl, central, observer)


def broker_config(auth: FleetAuth) -> list[str]:
    """Mosquitto lines for a city-scale broker (with MosquittoBroker(allow_anonymous=False))."""
    return [
        "max_connections -1",  # the default; spelled out, it is the point here
        "max_queued_messages 10000000",  # the collector's session may queue a whole burst
        "max_queued_bytes 0",
        "sys_interval 1",
        f"password_file {auth.passwd}",
        f"acl_file {auth.acl}",
    ]


def start_broker(workdir: Path, auth: FleetAuth) -> MosquittoBroker:
    """A started fleet broker (connection logging off: 10,000 lines per connect wave)."""
    b = MosquittoBroker(workdir, allow_anonymous=False, extra_config=broker_config(auth))
    text = b.config_path.read_text().replace(
        "connection_messages true", "connection_messages false"
    )
    b.config_path.write_text(text.replace("log_type information\n", ""))
    return b.start()


def central_config(
    broker: MosquittoBroker, url: str, auth: FleetAuth, **storage: Any
) -> CentralConfig:
    """A collector authenticated as `central`."""
    return CentralConfig(
        central=CentralSection(instance="central-scale"),
        mqtt=MqttSection(host=broker.host, port=broker.port, username="central",
                         password=auth.central_password, reconnect_min_s=0.1,  # type: ignore[arg-type]
                         reconnect_max_s=1.0),
        storage=StorageSection(url=url, **storage),
    )  # fmt: skip


class ConnectedGauge:
    """Follows the broker's $SYS/broker/clients/connected; keeps the highest value seen."""

    def __init__(self, broker: MosquittoBroker, auth: FleetAuth) -> None:
        self.max = self.last = 0
        self._lock = threading.Lock()
        c = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="observer")
        c.username_pw_set("observer", auth.observer_password)
        c.on_connect = lambda cl, *_a: cl.subscribe(CONNECTED_TOPIC, qos=0)
        c.on_message = self._on_message
        c.connect(broker.host, broker.port, keepalive=30)
        c.loop_start()
        self.client = c

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.last = int(msg.payload)
            self.max = max(self.max, self.last)

    def stop(self) -> None:
        """Disconnect."""
        self.client.disconnect()
        self.client.loop_stop()


def proc_figures(pid: int) -> dict[str, float]:
    """CPU seconds (user + system) and peak/current RSS (MB) of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    status = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
        if ":" in line
    )  # fmt: skip

    def mb(key: str) -> float:
        return round(int(status.get(key, "0 kB").split()[0]) / 1024, 1)

    return {"cpu_s": round((int(fields[11]) + int(fields[12])) / tick, 2),
            "rss_peak_mb": mb("VmHWM"), "rss_mb": mb("VmRSS")}  # fmt: skip
