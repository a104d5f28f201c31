"""`siaga fleet`: the city operator's commands for provisioning and revoking edge boxes.

No command prints a secret: passwords and keys go only into 0600 files of the one-time output
bundle, whose path is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from central.fleet.acl import ROLES
from central.fleet.registry import AUTH_MODES, FleetError

ENV_DIR = "SIAGA_FLEET_DIR"


def register(sub: Any) -> None:
    """Add `fleet` and its subcommands to the `siaga` parser."""
    p = sub.add_parser("fleet", help="provision, list and revoke edge boxes; broker config")
    p.add_argument("--fleet-dir", type=Path, default=None,
                   help=f"fleet directory (default: ${ENV_DIR})")  # fmt: skip
    fs = p.add_subparsers(dest="fleet_command", metavar="ACTION", required=True)

    i = fs.add_parser("init", help="create the fleet: local CA, broker certificate, registry")
    i.add_argument("--hostname", action="append", default=[], help="broker DNS name (repeat)")
    i.add_argument("--ip", action="append", default=[], help="broker IP address (repeat)")
    i.add_argument("--host", help="the address agents use (default: the first name)")
    i.add_argument("--password-port", type=int, default=8883)
    i.add_argument("--cert-port", type=int, default=8884)
    i.add_argument("--websocket-port", type=int, default=8084,
                   help="MQTT over WebSockets + TLS, dashboards (0: none)")  # fmt: skip
    i.add_argument("--prefix", default=None, help="topic prefix (default siaga/v1)")
    i.set_defaults(func=_init)

    v = fs.add_parser("provision", help="register a box and write its one-time bundle")
    v.add_argument("--id", required=True, help="agent id = MQTT user name")
    v.add_argument("--site", required=True)
    v.add_argument("--kelurahan", required=True, help="Kepmendagri code, e.g. 33.74.16.1004")
    v.add_argument("--auth", choices=AUTH_MODES, default="password")
    v.add_argument("--camera", action="append", default=[], metavar="ID=SOURCE",
                   help="a camera of the box (repeat); default: one placeholder")  # fmt: skip
    v.add_argument("--out", type=Path, help="bundle directory (default FLEET/bundles/ID)")
    v.add_argument(
        "--install-dir",
        type=Path,
        default=Path("/etc/siaga"),
        help="where the bundle's files will be on the box (paths in agent.toml)",
    )
    v.add_argument("--days", type=int, default=825, help="client certificate validity")
    v.add_argument("--secrets", choices=("systemd", "file"), default="systemd",
                   help="how the agent gets its password and key: systemd credentials "
                   "(LoadCredential=, as the units do) or files named in agent.toml")  # fmt: skip
    v.add_argument("--wilayah", type=Path, default=None,
                   help="the city's area CSV to check --kelurahan against "
                   "(default: $SIAGA_SHARED/geo/semarang_wilayah.csv when present)")  # fmt: skip
    v.set_defaults(func=_provision)

    s = fs.add_parser("service", help="a password user for central, a dashboard or a tool "
                      "(dashboard, public: read-only, on the WebSocket listener only)")  # fmt: skip
    s.add_argument("--name", required=True)
    s.add_argument("--role", choices=ROLES, required=True)
    s.add_argument("--out", type=Path)
    s.set_defaults(func=_service)

    ls = fs.add_parser("list", help="the boxes and services, revoked ones included")
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    ls.set_defaults(func=_list)

    r = fs.add_parser("revoke", help="withdraw a box's credentials (password, certificate)")
    r.add_argument("id")
    r.add_argument("--reason", default="")
    r.set_defaults(func=_revoke)

    n = fs.add_parser("renew", help="a new client certificate for a box (same id)")
    n.add_argument("id")
    n.add_argument("--out", type=Path)
    n.add_argument("--days", type=int, default=825)
    n.add_argument("--install-dir", type=Path, default=Path("/etc/siaga"))
    n.set_defaults(func=_renew)

    f = fs.add_parser("refresh", help="rewrite password file, ACL, revoked list, fresh CRL")
    f.add_argument("--renew-broker", action="store_true",
                   help="also issue a new broker certificate now (done by itself within 90 "
                   "days of its end)")  # fmt: skip
    f.set_defaults(func=_refresh)

    b = fs.add_parser("broker-config", help="mosquitto.conf fragment, its files, EMQX note")
    b.add_argument("--out", type=Path, required=True)
    b.add_argument("--bind", default=None, help="listen address (default: all)")
    b.add_argument("--group", default=None,
                   help="group that may read the secret files (mosquitto): 0640")  # fmt: skip
    b.set_defaults(func=_broker_config)
    g = fs.add_parser("bridge", help="a site broker bridged to the centre: its centre user "
                      "and the site broker's certificate")  # fmt: skip
    g.add_argument("--name", required=True, help="bridge name = its user name at the centre")
    g.add_argument("--site", required=True, help="the site of its agents (as provisioned)")
    g.add_argument("--hostname", action="append", default=[], help="site broker DNS name")
    g.add_argument("--ip", action="append", default=[], help="site broker IP address")
    g.add_argument("--password-port", type=int, default=8883, help="site broker, passwords")
    g.add_argument("--cert-port", type=int, default=8884, help="site broker, certificates")
    g.set_defaults(func=_bridge)

    c = fs.add_parser("site-config", help="a site broker's configuration folder, bridge included")
    c.add_argument("--bridge", required=True, help="the bridge's name")
    c.add_argument("--out", type=Path, required=True)
    c.add_argument("--bind", default=None, help="listen address (default: all)")
    c.add_argument("--group", default=None,
                   help="group that may read the secret files (mosquitto): 0640")  # fmt: skip
    c.add_argument("--centre", default=None, metavar="HOST:PORT",
                   help="where the site reaches the centre (default: fleet broker)")  # fmt: skip
    c.set_defaults(func=_site_config)
    for action in (i, v, s, ls, r, n, f, b, g, c):  # accepted after the action too
        action.add_argument("--fleet-dir", type=Path, default=argparse.SUPPRESS,
                            help=f"fleet directory (default: ${ENV_DIR})")  # fmt: skip


def _fleet(args: argparse.Namespace) -> Any:
    from central.fleet.provision import Fleet  # imports cryptography: only when needed

    directory = args.fleet_dir or (Path(os.environ[ENV_DIR]) if os.environ.get(ENV_DIR) else None)
    if directory is None:
        raise FleetError(f"no fleet directory: pass --fleet-dir or set ${ENV_DIR}")
    return Fleet(directory)


def _run(args: argparse.Namespace, body: Any) -> int:
    try:
        return int(body(_fleet(args), args))
    except FleetError as exc:
        print(f"siaga fleet: {exc}", file=sys.stderr)
        return 2
    except ImportError as exc:
        print(f"siaga fleet: {exc} (install the `central` extra)", file=sys.stderr)
        return 2
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"siaga fleet: {where}{exc.strerror or exc}", file=sys.stderr)
        return 1


def _init(args: argparse.Namespace) -> int:
    def body(fleet: Any, a: argparse.Namespace) -> int:
        reg = fleet.init(host=a.host, hostnames=a.hostname, ips=a.ip, prefix=a.prefix,
                         password_port=a.password_port, cert_port=a.cert_port,
                         websocket_port=a.websocket_port or None)  # fmt: skip
        b = reg.broker
        print(f"fleet created in {fleet.dir}: CA {fleet.ca_cert}, broker certificate for "
              f"{', '.join(b.hostnames + b.ips)}; agents connect to {b.host}")  # fmt: skip
        return 0

    return _run(args, body)


def _provision(args: argparse.Namespace) -> int:
    def body(fleet: Any, a: argparse.Namespace) -> int:
        cameras = []
        for spec in a.camera:
            cam, sep, source = spec.partition("=")
            if not sep:
                raise FleetError(f"--camera {spec!r}: expected ID=SOURCE")
            cameras.append((cam, source))
        known = _kelurahan_codes(a.wilayah)
        bundle = fleet.provision(a.id, site=a.site, kelurahan=a.kelurahan, auth=a.auth,
                                 out=a.out, install_dir=a.install_dir, cameras=cameras,
                                 days=a.days, known_kelurahan=known,
                                 secrets_via=a.secrets)  # fmt: skip
        print(f"agent {a.id} provisioned ({a.auth}); one-time bundle: {bundle}")
        print("copy it to the box, then delete it here; reload the broker (SIGHUP)")
        return 0

    return _run(args, body)


def _kelurahan_codes(path: Path | None) -> set[str] | None:
    """The kelurahan codes of the area CSV (given, else the default one if present)."""
    from central.areas import load_wilayah
    from central.config import default_shared
    from siaga.settings import ConfigError

    if path is None:
        path = default_shared() / "geo" / "semarang_wilayah.csv"
        if not path.is_file():
            print(f"siaga fleet: note: {path} not found; kelurahan code checked for format only",
                  file=sys.stderr)  # fmt: skip
            return None
    try:
        return set(load_wilayah(path).kelurahan)
    except ConfigError as exc:
        raise FleetError(f"--wilayah: {exc}") from None


def _service(args: argparse.Namespace) -> int:
    def body(fleet: Any, a: argparse.Namespace) -> int:
        bundle = fleet.add_service(a.name, a.role, out=a.out)
        print(f"{a.role} user {a.name} created; one-time bundle: {bundle}")
        return 0

    return _run(args, body)


def _list(args: argparse.Namespace) -> int:
    def body(fleet: Any, a: argparse.Namespace) -> int:
        reg = fleet.load()
        rows = [{"id": e.id, "kind": "agent", "site": e.site, "kelurahan": e.kelurahan_code,
                 "auth": e.auth, "created_at": e.created_at.isoformat(timespec="seconds"),
                 "cert_not_after": e.cert_not_after.isoformat(timespec="seconds")
                 if e.cert_not_after else None,
                 "status": "revoked" if e.revoked else "active",
                 "revoked_at": e.revoked_at.isoformat(timespec="seconds") if e.revoked_at
                 else None, "revoked_reason": e.revoked_reason}
                for e in sorted(reg.agents.values(), key=lambda e: e.id)]  # fmt: skip
        rows += [{"id": s.name, "kind": s.role, "site": "", "kelurahan": "", "auth": "password",
                  "created_at": s.created_at.isoformat(timespec="seconds"),
                  "cert_not_after": None, "status": "active", "revoked_at": None,
                  "revoked_reason": None}
                 for s in sorted(reg.services.values(), key=lambda s: s.name)]  # fmt: skip
        if a.json:
            print(json.dumps(rows, indent=2))
            return 0
        cols = ("id", "kind", "site", "kelurahan", "auth", "status", "created_at")
        table = [cols] + [tuple(str(r[c] or "") for c in cols) for r in rows]
        widths = [max(len(row[i]) for row in table) for i in range(len(cols))]
        for row in table:
            print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
        active = sum(1 for e in reg.agents.values() if not e.revoked)
        print(f"{active} active, {len(reg.agents) - active} revoked agent(s); "
              f"{len(reg.services)} service user(s)")  # fmt: skip
        return 0

    return _run(args, body)


def _revoke(args: argparse.Namespace) -> int:
    def body(fleet: Any, a: argparse.Namespace) -> int:
        entry = fleet.revoke(a.id, a.reason)
        print(
            f"agent {entry.id} revoked: password removed, ACL denies its topics"
            + (", certificate in the CRL" if entry.cert_serial else "")
            + f"; central rejects it via {fleet.revoked_file}. Reload the broker (SIGHUP)."
        )
        return 0

    return _run(args, body)


def _refresh(args: argparse.Namespace) -> int:
    def body(fleet: Any, a: argparse.Namespace) -> int:
        reg, broker_ends = fleet.refresh(renew_broker=a.renew_broker)
        print(f"fleet files rewritten in {fleet.dir} (CRL valid for another year; broker "
              f"certificate until {broker_ends:%Y-%m-%d}); reload the broker (SIGHUP)")  # fmt: skip
        soon = datetime.now(UTC) + timedelta(days=90)
        for e in sorted(reg.agents.values(), key=lambda e: e.id):
            if e.cert_not_after is not None and not e.revoked and e.cert_not_after < soon:
                print(f"warning: {e.id}'s client certificate ends {e.cert_not_after:%Y-%m-%d}: "
                      f"siaga fleet renew {e.id}, and install its bundle before then",
                      file=sys.stderr)  # fmt: skip
        return 0

    return _run(args, body)


def _renew(args: argparse.Namespace) -> int:
    def body(fleet: Any, a: argparse.Namespace) -> int:
        bundle = fleet.renew(a.id, out=a.out, days=a.days, install_dir=a.install_dir)
        print(f"agent {a.id}: new client certificate; one-time bundle: {bundle}")
        print("install it on the box and restart its agent; the old certificate stays valid "
              "until it ends")  # fmt: skip
        return 0

    return _run(args, body)


def _broker_config(args: argparse.Namespace) -> int:
    def body(fleet: Any, a: argparse.Namespace) -> int:
        from central.fleet.brokerconf import write_broker_config

        conf = write_broker_config(fleet, a.out, bind=a.bind, group=a.group)
        print(f"broker configuration written: {conf} (and EMQX.md beside it); load it with "
              f"`include_dir {conf.parent}` in the main mosquitto.conf")  # fmt: skip
        return 0

    return _run(args, body)


def _bridge(args: argparse.Namespace) -> int:
    def body(fleet: Any, a: argparse.Namespace) -> int:
        from central.fleet.sites import add_bridge

        e = add_bridge(fleet, a.name, site=a.site, hostnames=a.hostname, ips=a.ip,
                       password_port=a.password_port, cert_port=a.cert_port)  # fmt: skip
        print(f"bridge {e.name} for site {e.site!r} registered; reload the centre broker "
              f"(SIGHUP), then: siaga fleet site-config --bridge {e.name} --out DIR")  # fmt: skip
        return 0

    return _run(args, body)


def _site_config(args: argparse.Namespace) -> int:
    def body(fleet: Any, a: argparse.Namespace) -> int:
        from central.fleet.sites import write_site_config

        conf = write_site_config(fleet, a.bridge, a.out, bind=a.bind, group=a.group,
                                 centre=a.centre)  # fmt: skip
        print(f"site broker configuration written: {conf} (it holds the bridge's password); "
              f"include_dir {conf.parent} in the site's main mosquitto.conf")  # fmt: skip
        return 0

    return _run(args, body)
