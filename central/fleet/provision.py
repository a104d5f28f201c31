"""Fleet operations on a fleet directory: init, provision, services, revoke, derived files.

Layout of the fleet directory (0700):
    fleet.json            the registry (no clear-text secret)
    ca/ca.pem, ca.key     the local CA (key 0600); ca/crl.pem its revocation list
    broker/               server.pem + server.key, passwd, acl: what the broker needs;
                          passwd-web, acl-web: the WebSocket listener's (browsers' users)
    sites/BRIDGE/         a site broker's certificate and its bridge's password (0600)
    revoked.txt           revoked agent ids, one a line: central's revoked-agent check reads it
    bundles/ID/           one-time output for a box or a service (secrets 0600)
"""

from __future__ import annotations

import ipaddress
import os
import stat
from collections.abc import Container, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from cryptography import x509

from central.fleet import registry as reg_mod
from central.fleet.acl import ROLES, WEB_ROLES, Role, agent_pattern, render_acl, render_web_acl
from central.fleet.bundle import agent_toml, install_note, service_toml
from central.fleet.ca import CERT_DAYS, Authority, create_ca
from central.fleet.emqx import write_emqx_acl
from central.fleet.files import PUBLIC_MODE, SECRET_MODE, atomic_write
from central.fleet.passwd import hash_password, new_password, render_password_file
from central.fleet.registry import (
    AUTH_MODES,
    AgentEntry,
    Auth,
    BrokerEntry,
    FleetError,
    Registry,
    ServiceEntry,
    check_id,
    check_kelurahan,
)
from siaga.camera_url import split_password
from siaga.wire import DEFAULT_PREFIX

DEFAULT_INSTALL_DIR = Path("/etc/siaga")
SYSTEMD_KEY = Path("/run/credentials/siaga-agent.service/mqtt-key")
SecretsVia = Literal["systemd", "file"]


RENEW_BEFORE_DAYS = 90  # refresh renews the broker certificate this long before it ends


class Fleet:
    """One fleet directory and the operations on it."""

    def __init__(self, directory: Path) -> None:
        self.dir = Path(directory).absolute()
        self.registry_path = self.dir / reg_mod.REGISTRY_FILE
        self.ca_cert, self.ca_key, self.crl = (self.dir / "ca" / n for n in
                                               ("ca.pem", "ca.key", "crl.pem"))  # fmt: skip
        b = self.dir / "broker"
        self.server_cert, self.server_key = b / "server.pem", b / "server.key"
        self.passwd, self.acl = b / "passwd", b / "acl"
        self.web_passwd, self.web_acl = b / "passwd-web", b / "acl-web"
        self.sites = self.dir / "sites"
        self.revoked_file = self.dir / "revoked.txt"
        self.bundles = self.dir / "bundles"

    # ---- reading ----

    def load(self) -> Registry:
        """The registry (FleetError when there is none)."""
        return reg_mod.load(self.registry_path)

    def authority(self) -> Authority:
        """The CA, loaded from the fleet directory."""
        try:
            return Authority.load(self.ca_cert.read_bytes(), self.ca_key.read_bytes())
        except FileNotFoundError as exc:
            raise FleetError(f"{exc.filename}: missing (run `siaga fleet init`)") from None
        except ValueError as exc:
            raise FleetError(f"{self.ca_cert}: unusable CA: {exc}") from None

    # ---- init ----

    def init(
        self,
        *,
        host: str | None = None,
        hostnames: Sequence[str] = (),
        ips: Sequence[str] = (),
        password_port: int = 8883,
        cert_port: int = 8884,
        prefix: str | None = None,
        websocket_port: int | None = 8084,
    ) -> Registry:
        """Create the CA, the broker certificate and an empty registry (refuses to overwrite)."""
        if self.registry_path.exists():
            raise FleetError(f"{self.registry_path}: a fleet already exists here")
        names, addrs = list(hostnames), list(ips)
        for ip in addrs:
            try:
                ipaddress.ip_address(ip)
            except ValueError:
                raise FleetError(f"--ip {ip!r}: not an IP address") from None
        for name in names:
            if not name or len(name) > 253 or any(c in name for c in " /:@\n"):
                raise FleetError(f"--hostname {name!r}: not a host name")
        if not names and not addrs:
            names, addrs = ["localhost"], ["127.0.0.1"]
        broker_host = host or (names[0] if names else addrs[0])
        if broker_host not in names and broker_host not in addrs:
            msg = f"--host {broker_host!r}: not among --hostname/--ip (agents could not verify it)"
            raise FleetError(msg)
        for flag, port in (("--password-port", password_port), ("--cert-port", cert_port)):
            if not 1 <= port <= 65535:
                raise FleetError(f"{flag} {port}: a TCP port is 1 to 65535")
        if password_port == cert_port:
            raise FleetError("--password-port and --cert-port must differ")
        if websocket_port is not None and (
            not 1 <= websocket_port <= 65535 or websocket_port in (password_port, cert_port)
        ):
            raise FleetError(f"--websocket-port {websocket_port}: a free TCP port, 1 to 65535")
        try:
            agent_pattern(prefix or DEFAULT_PREFIX)
        except ValueError as exc:
            raise FleetError(f"--prefix: {exc}") from None
        with reg_mod.locked(self.dir):
            for d in (self.dir, self.ca_cert.parent, self.passwd.parent, self.bundles):
                d.mkdir(parents=True, exist_ok=True)
                d.chmod(0o700)
            ca = create_ca()
            atomic_write(self.ca_key, ca.key_pem, mode=SECRET_MODE)
            atomic_write(self.ca_cert, ca.cert_pem, mode=PUBLIC_MODE)
            server = self.authority().server_cert(names, addrs)
            atomic_write(self.server_key, server.key_pem, mode=SECRET_MODE)
            atomic_write(self.server_cert, server.cert_pem, mode=PUBLIC_MODE)
            broker = BrokerEntry(host=broker_host, hostnames=names, ips=addrs,
                                 password_port=password_port, cert_port=cert_port,
                                 websocket_port=websocket_port)  # fmt: skip
            reg = Registry(broker=broker, topic_prefix=prefix or DEFAULT_PREFIX)
            self._commit(reg)
        return reg

    # ---- agents ----

    def provision(
        self,
        agent_id: str,
        *,
        site: str,
        kelurahan: str,
        auth: Auth = "password",
        out: Path | None = None,
        install_dir: Path = DEFAULT_INSTALL_DIR,
        cameras: Sequence[tuple[str, str]] = (),
        days: int = CERT_DAYS,
        known_kelurahan: Container[str] | None = None,
        secrets_via: SecretsVia = "systemd",
    ) -> Path:
        """Register a box; write its bundle (config, CA, secrets) and return the bundle path.

        known_kelurahan: the city's kelurahan codes (from the area file), when available.
        secrets_via: "systemd": the unit's LoadCredential= hands the password (credential
        mqtt-password) and the key (mqtt-key) to the service, which runs as a dynamic user;
        "file": agent.toml names password_file and key_file under install_dir.
        """
        if secrets_via not in ("systemd", "file"):
            raise FleetError(f"--secrets {secrets_via!r}: systemd or file")
        check_id(agent_id)
        check_kelurahan(kelurahan)
        if known_kelurahan is not None and kelurahan not in known_kelurahan:
            raise FleetError(f"kelurahan code {kelurahan!r} is not in the city's area file")
        if not install_dir.is_absolute():
            raise FleetError(f"--install-dir {install_dir}: must be an absolute path")
        if auth not in AUTH_MODES:
            raise FleetError(f"--auth {auth!r}: one of {', '.join(AUTH_MODES)}")
        if not site.strip() or len(site) > 128:
            raise FleetError("--site: 1 to 128 characters")
        for cam_id, source in cameras:
            check_id(cam_id, "camera id")
            if not source:
                raise FleetError(f"camera {cam_id}: empty source")
        _check_days(days)
        with reg_mod.locked(self.dir):
            reg = self.load()
            if agent_id in reg.agents:
                state = "revoked" if reg.agents[agent_id].revoked else "provisioned"
                raise FleetError(f"agent {agent_id!r} is already {state}; ids are never reused "
                                 "(revoke it and provision a new id)")  # fmt: skip
            if agent_id in reg.services or agent_id in reg.bridges:
                raise FleetError(f"{agent_id!r} is a service user name; choose another agent id")
            bundle = self._fresh_bundle(out, agent_id)
            entry = AgentEntry(id=agent_id, site=site, kelurahan_code=kelurahan, auth=auth,
                               created_at=datetime.now(UTC))  # fmt: skip
            files: dict[str, Path] = {"ca_file": install_dir / "ca.pem"}
            install = [f"ca.pem -> {install_dir / 'ca.pem'} (0644)"]
            atomic_write(bundle / "ca.pem", self.ca_cert.read_bytes(), mode=PUBLIC_MODE)
            if auth in ("password", "both"):
                password = new_password()
                pw_name = (
                    "credentials/mqtt-password" if secrets_via == "systemd" else "mqtt-password"
                )
                atomic_write(bundle / pw_name, password + "\n", mode=SECRET_MODE)
                (bundle / pw_name).parent.chmod(0o700)
                entry.password_hash = hash_password(password)
                install.append(f"{pw_name} -> {install_dir / pw_name} (0600, root)")
                if secrets_via == "file":
                    files["password_file"] = install_dir / pw_name
            if auth in ("cert", "both"):
                install += self._client_cert(bundle, entry, days, install_dir)
                files["cert_file"] = install_dir / "client.pem"
                files["key_file"] = (SYSTEMD_KEY if secrets_via == "systemd"
                                     else install_dir / "client.key")  # fmt: skip
            # A camera password given in its URL goes into its own secret file, not agent.toml.
            cams: list[tuple[str, str, Path | None]] = []
            camera_creds: list[str] = []  # systemd credentials camera-<id> the unit must load
            for cam_id, source in cameras:
                bare, cam_pw = split_password(source)
                pw_file = None
                if cam_pw is not None:
                    name = (f"credentials/camera-{cam_id}" if secrets_via == "systemd"
                            else f"camera-{cam_id}.password")  # fmt: skip
                    atomic_write(bundle / name, cam_pw + "\n", mode=SECRET_MODE)
                    (bundle / name).parent.chmod(0o700)
                    install.append(f"{name} -> {install_dir / name} (0600, root)")
                    pw_file = install_dir / name if secrets_via == "file" else None
                    camera_creds += [cam_id] if secrets_via == "systemd" else []
                cams.append((cam_id, bare, pw_file))
            install.append(f"agent.toml -> {install_dir / 'agent.toml'} (0644)")
            port = reg.broker.cert_port if auth in ("cert", "both") else reg.broker.password_port
            text = agent_toml(entry, reg, port=port, files=files, cameras=cams,
                              systemd=secrets_via == "systemd")  # fmt: skip
            atomic_write(bundle / "agent.toml", text, mode=PUBLIC_MODE)
            atomic_write(bundle / "INSTALL.txt",
                         install_note(entry, install, secrets_via, camera_creds),
                         mode=PUBLIC_MODE)  # fmt: skip
            reg.agents[agent_id] = entry
            self._commit(reg)
        return bundle

    def revoke(self, agent_id: str, reason: str = "") -> AgentEntry:
        """Mark revoked; rewrite the password file, ACL, CRL and revoked list."""
        with reg_mod.locked(self.dir):
            reg = self.load()
            entry = _agent(reg, agent_id)
            if entry.revoked:
                raise FleetError(f"agent {agent_id!r} was already revoked at {entry.revoked_at}")
            entry.revoked_at, entry.revoked_reason = datetime.now(UTC), reason or None
            self._commit(reg)
        return entry

    def renew(self, agent_id: str, *, out: Path | None = None, days: int = CERT_DAYS,
              install_dir: Path = DEFAULT_INSTALL_DIR) -> Path:  # fmt: skip
        """A new client certificate and key for a box (same id, same CA); returns the bundle.

        The box installs them in place of the old pair and restarts its agent. The old
        certificate stays valid until it ends (the box may be offline for a while); revoking
        the box later puts it on the CRL too."""
        _check_days(days)
        with reg_mod.locked(self.dir):
            reg = self.load()
            entry = _agent(reg, agent_id)
            if entry.revoked:
                raise FleetError(f"agent {agent_id!r} is revoked; provision a new box id")
            if entry.cert_serial is None:
                raise FleetError(f"agent {agent_id!r} signs in with a password, not a "
                                 "certificate: nothing to renew")  # fmt: skip
            bundle = self._fresh_bundle(out, f"{agent_id}-renewal")
            entry.old_cert_serials.append(entry.cert_serial)
            install = self._client_cert(bundle, entry, days, install_dir)
            atomic_write(bundle / "INSTALL.txt", "\n".join([
                f"Siaga agent {agent_id}: renewed client certificate (until "
                f"{entry.cert_not_after:%Y-%m-%d}).", "", *(f"  {line}" for line in install), "",
                "Then: siaga agent check-config, and systemctl restart siaga-agent.", "",
            ]), mode=PUBLIC_MODE)  # fmt: skip
            self._commit(reg)
        return bundle

    def refresh(self, *, renew_broker: bool = False) -> tuple[Registry, datetime]:
        """Regenerate the derived files (a fresh CRL: it must be renewed before it expires).

        The broker's certificate is renewed (same CA: no client notices) when asked, or when it
        ends within RENEW_BEFORE_DAYS, so the monthly timer keeps it valid too. Returns the
        registry and the broker certificate's end."""
        with reg_mod.locked(self.dir):
            reg = self.load()
            ends = self.server_cert_end()
            if renew_broker or ends - datetime.now(UTC) < timedelta(days=RENEW_BEFORE_DAYS):
                server = self.authority().server_cert(reg.broker.hostnames, reg.broker.ips)
                atomic_write(self.server_key, server.key_pem, mode=SECRET_MODE)
                atomic_write(self.server_cert, server.cert_pem, mode=PUBLIC_MODE)
                ends = server.not_after
            self._commit(reg)
        return reg, ends

    def server_cert_end(self) -> datetime:
        """When the broker's certificate stops being valid."""
        try:
            cert = x509.load_pem_x509_certificate(self.server_cert.read_bytes())
        except FileNotFoundError:
            raise FleetError(f"{self.server_cert}: missing (run `siaga fleet init`)") from None
        return cert.not_valid_after_utc

    # ---- services ----

    def add_service(self, name: str, role: Role, *, out: Path | None = None) -> Path:
        """A password user for central, a dashboard or an operator tool; returns its bundle."""
        check_id(name, "service name")
        if role not in ROLES:
            raise FleetError(f"--role {role!r}: one of {', '.join(ROLES)}")
        with reg_mod.locked(self.dir):
            reg = self.load()
            if name in reg.agents or name in reg.services or name in reg.bridges:
                raise FleetError(f"{name!r} already exists in this fleet")
            bundle = self._fresh_bundle(out, name)
            password = new_password()
            atomic_write(bundle / "mqtt-password", password + "\n", mode=SECRET_MODE)
            atomic_write(bundle / "ca.pem", self.ca_cert.read_bytes(), mode=PUBLIC_MODE)
            atomic_write(bundle / "mqtt.toml", service_toml(name, role, reg), mode=PUBLIC_MODE)
            reg.services[name] = ServiceEntry(name=name, role=role, created_at=datetime.now(UTC),
                                              password_hash=hash_password(password))  # fmt: skip
            self._commit(reg)
        return bundle

    # ---- derived files ----

    def _client_cert(
        self, bundle: Path, entry: AgentEntry, days: int, install_dir: Path
    ) -> list[str]:
        """Issue the box's client certificate into bundle and the registry entry; the install
        lines for INSTALL.txt."""
        issued = self.authority().client_cert(entry.id, days=days)
        atomic_write(bundle / "client.key", issued.key_pem, mode=SECRET_MODE)
        atomic_write(bundle / "client.pem", issued.cert_pem, mode=PUBLIC_MODE)
        entry.cert_serial, entry.cert_not_after = issued.serial, issued.not_after
        return [f"client.pem -> {install_dir / 'client.pem'} (0644)",
                f"client.key -> {install_dir / 'client.key'} (0600, root)"]  # fmt: skip

    def _fresh_bundle(self, out: Path | None, name: str) -> Path:
        bundle = (out or self.bundles / name).absolute()
        if bundle.exists() and any(bundle.iterdir()):
            raise FleetError(f"{bundle}: output directory exists and is not empty")
        bundle.mkdir(parents=True, exist_ok=True)
        bundle.chmod(0o700)
        return bundle

    def _commit(self, reg: Registry) -> None:
        """Save the registry and regenerate everything derived from it."""
        reg_mod.save(self.registry_path, reg)
        users = {a.id: a.password_hash for a in reg.agents.values()
                 if a.password_hash and not a.revoked}  # fmt: skip
        users.update({s.name: s.password_hash for s in reg.services.values()
                      if s.role not in WEB_ROLES})  # fmt: skip
        users.update({b.name: b.password_hash for b in reg.bridges.values()})
        atomic_write(self.passwd, render_password_file(users), mode=SECRET_MODE)
        web = {s.name: s.password_hash for s in reg.services.values() if s.role in WEB_ROLES}
        atomic_write(self.web_passwd, render_password_file(web), mode=SECRET_MODE)
        revoked = sorted(a.id for a in reg.agents.values() if a.revoked)
        services = {s.name: s.role for s in reg.services.values()}
        bridges = {name: [a.id for a in reg.site_agents(name)] for name in reg.bridges}
        atomic_write(self.acl, render_acl(services, revoked=revoked, prefix=reg.topic_prefix,
                                          bridges=bridges), mode=SECRET_MODE)  # fmt: skip
        atomic_write(self.web_acl, render_web_acl(services, prefix=reg.topic_prefix),
                     mode=SECRET_MODE)  # fmt: skip
        serials = [(serial, a.revoked_at)  # a revoked box's renewed-away certificates too
                   for a in reg.agents.values() if a.revoked_at is not None
                   for serial in (*a.old_cert_serials, a.cert_serial)
                   if serial is not None]  # fmt: skip
        atomic_write(self.crl, self.authority().crl(serials), mode=PUBLIC_MODE)
        atomic_write(self.revoked_file, "".join(
            ["# revoked Siaga agents, one id a line (generated by `siaga fleet`)\n"]
            + [f"{r}\n" for r in revoked]), mode=PUBLIC_MODE)  # fmt: skip
        for out in map(Path, reg.broker_config_dirs):
            self._refresh_config_dir(out, reg)
        from central.fleet.sites import write_site_files  # it imports this module

        for folder, bridge in reg.site_config_dirs.items():
            if Path(folder).is_dir() and bridge in reg.bridges:
                write_site_files(self, reg, bridge, Path(folder))

    def _refresh_config_dir(self, out: Path, reg: Registry) -> None:
        """Keep a broker-config output in step (the broker reads it after a SIGHUP)."""
        if not out.is_dir():
            return
        write_emqx_acl(out, reg)
        for src in (self.passwd, self.acl, self.web_passwd, self.web_acl, self.crl,
                    self.server_cert, self.server_key):  # fmt: skip
            dest, tmp = out / src.name, out / f".{src.name}.copy"
            try:
                st = dest.stat()  # keep the group and mode the operator gave it
                mode, gid = stat.S_IMODE(st.st_mode), st.st_gid
            except FileNotFoundError:
                mode, gid = stat.S_IMODE(src.stat().st_mode), -1
            tmp.unlink(missing_ok=True)
            # Created with its final mode (never readable by others, not even for a moment).
            atomic_write(tmp, src.read_bytes(), mode=mode)
            if gid >= 0:
                os.chown(tmp, -1, gid)
            tmp.replace(dest)


def _agent(reg: Registry, agent_id: str) -> AgentEntry:
    entry = reg.agents.get(agent_id)
    if entry is None:
        raise FleetError(f"no agent {agent_id!r} in this fleet (see `siaga fleet list`)")
    return entry


def _check_days(days: int) -> None:
    if not 1 <= days <= 3650:
        raise FleetError("--days: 1 to 3650")
