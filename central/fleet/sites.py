"""Site brokers bridged to the centre (docs/deployment.md §3b): the bridge's centre user, and
the site broker's whole configuration folder, bridge included.

A site broker (a market, a hospital, a terminal) takes its own boxes' connections on the LAN and
forwards to the centre over one bridge; while the WAN is down it keeps accepting and queues.
`siaga fleet bridge` registers the bridge (a centre user whose ACL allows writing only the
topics of its site's agents, the agents whose `site` is the bridge's) and issues the site
broker's TLS certificate; `siaga fleet site-config` writes the folder the site's Mosquitto
includes. Every later provision/revoke/refresh rewrites its password file and ACL in step.
"""

from __future__ import annotations

import grp
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from central.fleet import registry as reg_mod
from central.fleet.acl import bridge_state_topic, render_acl
from central.fleet.ca import Authority
from central.fleet.files import PUBLIC_MODE, SECRET_MODE, atomic_write
from central.fleet.listeners import agent_listeners
from central.fleet.passwd import hash_password, new_password, render_password_file
from central.fleet.registry import BridgeEntry, FleetError, Registry, check_id


class Fleet(Protocol):
    """What this module needs of central.fleet.provision.Fleet (which imports this module, so
    it is described here rather than imported)."""

    dir: Path
    registry_path: Path
    sites: Path
    ca_cert: Path
    crl: Path

    def load(self) -> Registry: ...

    def authority(self) -> Authority: ...

    def _commit(self, reg: Registry) -> None: ...

# What the bridge forwards. Out (site -> centre): every agent topic central reads; the centre's
# ACL lets only the site's own agents through. In (centre -> site): the confirmations central
# writes for each agent (retained; the agents' outboxes wait for them). QoS 1 both ways.
OUT_TOPICS = ("+/+/counts", "+/status", "+/availability")
IN_TOPICS = ("+/ack",)

# A dropping WAN: how long the bridge waits before it tries again (first try 2 s after the
# drop, backing off to 30 s: one TLS handshake at the centre per try, cheap even for 35 sites),
# and how fast a dead link is noticed (keepalive): a WAN that silently drops packets is found
# dead within 1.5 x keepalive.
RESTART_TIMEOUT = "2 30"
KEEPALIVE_S = 30


def bridge_password_file(fleet: Fleet, name: str) -> Path:
    """Where the bridge's password is kept (0600): the site config must carry it in clear."""
    return fleet.sites / name / "bridge-password"


def add_bridge(
    fleet: Fleet,
    name: str,
    *,
    site: str,
    hostnames: list[str],
    ips: list[str],
    password_port: int = 8883,
    cert_port: int = 8884,
) -> BridgeEntry:
    """Register a site bridge: its centre user and password, the site broker's certificate."""
    check_id(name, "bridge name")
    if not site.strip() or len(site) > 128:
        raise FleetError("--site: 1 to 128 characters")
    if password_port == cert_port:
        raise FleetError("--password-port and --cert-port must differ")
    if not hostnames and not ips:
        hostnames, ips = ["localhost"], ["127.0.0.1"]
    with reg_mod.locked(fleet.dir):
        reg = fleet.load()
        if name in reg.agents or name in reg.services or name in reg.bridges:
            raise FleetError(f"{name!r} already exists in this fleet")
        if any(b.site == site for b in reg.bridges.values()):
            raise FleetError(f"site {site!r} already has a bridge (one per site broker)")
        folder = fleet.sites / name
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o700)
        password = new_password()
        atomic_write(bridge_password_file(fleet, name), password + "\n", mode=SECRET_MODE)
        server = fleet.authority().server_cert(hostnames, ips)
        atomic_write(folder / "server.key", server.key_pem, mode=SECRET_MODE)
        atomic_write(folder / "server.pem", server.cert_pem, mode=PUBLIC_MODE)
        entry = BridgeEntry(name=name, site=site, created_at=datetime.now(UTC),
                            password_hash=hash_password(password), hostnames=hostnames, ips=ips,
                            password_port=password_port, cert_port=cert_port)  # fmt: skip
        reg.bridges[name] = entry
        fleet._commit(reg)
    return entry


def bridge_block(
    reg: Registry, name: str, files: Path, password: str, centre: str | None = None
) -> list[str]:
    """The Mosquitto `connection` block of the site broker: TLS to the centre with the fleet
    CA, the bridge's own user, a persistent session both sides, in order, QoS 1. centre:
    host:port where the site reaches the centre's password listener, when not the fleet's
    broker address (a VPN address, a port forward); its name must be in the centre's
    certificate."""
    b, p = reg.broker, reg.topic_prefix
    return [
        "# The bridge to the centre (one connection; Mosquitto reads bridges only at start:",
        "# restart the site broker, not SIGHUP, after changing this block).",
        f"connection {name}",
        f"address {centre or f'{b.host}:{b.password_port}'}",
        "bridge_protocol_version mqttv311",
        f"remote_clientid {name}",
        f"remote_username {name}",
        f"remote_password {password}",
        f"bridge_cafile {files / 'ca.pem'}",
        "bridge_insecure false",
        "# The centre keeps the bridge's session (and queues its confirmations for the site)",
        "# while the link is down; the site keeps the bridge's queue too (local_cleansession).",
        "cleansession false",
        "local_cleansession false",
        "start_type automatic",
        f"restart_timeout {RESTART_TIMEOUT}",
        f"keepalive_interval {KEEPALIVE_S}",
        "try_private true",
        "# The link's state for the dashboards: retained 1 when up, 0 (the bridge's will at the",
        "# centre) when down. Under the prefix's reserved `bridge` level, not $SYS, which the",
        "# centre does not take from a client.",
        "notifications true",
        "notifications_local_only false",
        f"notification_topic {bridge_state_topic(name, p)}",
        *(f"topic {p}/{t} out 1" for t in OUT_TOPICS),
        *(f"topic {p}/{t} in 1" for t in IN_TOPICS),
        "",
    ]


def site_conf(
    reg: Registry, name: str, files: Path, password: str, *, bind: str | None, centre: str | None
) -> str:
    """mosquitto.conf of the site broker: its boxes' listeners, queues, the bridge."""
    e = reg.bridges[name]
    return "\n".join([
        f"# Siaga site broker of {e.site!r}, generated by `siaga fleet site-config`.",
        f"# Load it with `include_dir {files}` in the main /etc/mosquitto/mosquitto.conf, with",
        "# `persistence true` and a persistence_location there (Debian's file sets both): the",
        "# queue for the centre must survive a restart of this broker. It holds the bridge's",
        "# password: keep this file 0600/0640 (--group mosquitto).",
        "# While the WAN is down everything for the centre waits in the bridge's queue: room",
        "# for two days of 70 cameras at one window a minute (and their status), in memory",
        "# and in the persistence file, saved every minute. A larger site needs a larger bound.",
        "max_queued_messages 250000",
        "max_queued_bytes 0",
        "autosave_interval 60",
        "",
        *agent_listeners(files, e.password_port, e.cert_port, bind=bind, per_listener=False),
        *bridge_block(reg, name, files, password, centre),
    ])  # fmt: skip


def write_site_files(fleet: Fleet, reg: Registry, name: str, out: Path) -> None:
    """The files a site folder's configuration names (password file and ACL of the site's own
    agents only, CA, CRL, certificate), keeping the group a first write gave them."""
    agents = reg.site_agents(name)
    users = {a.id: a.password_hash for a in agents if a.password_hash}
    revoked = sorted(a.id for a in reg.agents.values() if a.revoked)
    gid = _gid_of(out / "mosquitto.conf")
    site = fleet.sites / name
    for fname, data, mode in (
        ("passwd", render_password_file(users), SECRET_MODE),
        ("acl", site_acl(reg, name, revoked), SECRET_MODE),
        ("ca.pem", fleet.ca_cert.read_bytes(), PUBLIC_MODE),
        ("crl.pem", fleet.crl.read_bytes(), PUBLIC_MODE),
        ("server.pem", (site / "server.pem").read_bytes(), PUBLIC_MODE),
        ("server.key", (site / "server.key").read_bytes(), SECRET_MODE),
    ):
        dest = atomic_write(out / fname, data, mode=mode if gid < 0 else mode | 0o040)
        if gid >= 0:
            os.chown(dest, -1, gid)


def site_acl(reg: Registry, name: str, revoked: list[str]) -> str:
    """The site broker's ACL: the agent patterns, and the bridge's own lines, because the site
    checks what the bridge brings in against its ACL under the bridge's user name (without
    them Mosquitto 2.0.11 drops the bridge on the first confirmation coming in)."""
    p = reg.topic_prefix
    lines = ["# the bridge: central's confirmations to this site's agents come in through it",
             f"user {name}", *(f"topic write {p}/{a.id}/ack" for a in reg.site_agents(name)),
             f"topic deny {p}/{name}/#", ""]  # fmt: skip
    return render_acl({}, revoked=revoked, prefix=p) + "\n" + "\n".join(lines)


def _gid_of(path: Path) -> int:
    """The group given to a folder's files by --group (-1: none, the files stay 0600/0644)."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return -1
    return st.st_gid if st.st_mode & 0o040 else -1


def write_site_config(
    fleet: Fleet,
    name: str,
    out: Path,
    *,
    bind: str | None = None,
    group: str | None = None,
    centre: str | None = None,
) -> Path:
    """Write the site broker's folder (mosquitto.conf with the bridge, and its files); returns
    the conf. Later fleet changes rewrite the folder's password file and ACL."""
    if centre is not None and not re.fullmatch(r"[A-Za-z0-9.\-\[\]:]+:\d{1,5}", centre):
        raise FleetError(f"--centre {centre!r}: expected HOST:PORT")
    gid = -1
    if group is not None:
        try:
            gid = grp.getgrnam(group).gr_gid
        except KeyError:
            raise FleetError(f"--group {group!r}: no such group on this machine") from None
    out = out.absolute()
    with reg_mod.locked(fleet.dir):
        reg = fleet.load()
        if name not in reg.bridges:
            raise FleetError(f"no bridge {name!r} in this fleet (siaga fleet bridge --name …)")
        password = bridge_password_file(fleet, name).read_text().strip()
        out.mkdir(parents=True, exist_ok=True)
        mode = SECRET_MODE if gid < 0 else SECRET_MODE | 0o040
        conf = atomic_write(out / "mosquitto.conf",
                            site_conf(reg, name, out, password, bind=bind, centre=centre),
                            mode=mode)  # fmt: skip
        if gid >= 0:
            os.chown(conf, -1, gid)
        write_site_files(fleet, reg, name, out)
        reg.site_config_dirs[str(out)] = name
        reg_mod.save(fleet.registry_path, reg)
    return conf
