"""Mosquitto listener and queue lines shared by the centre's configuration (brokerconf) and
the site brokers' (sites): TLS listeners for agents, the browsers' WebSocket listener."""

from __future__ import annotations

from pathlib import Path


def queue_lines() -> list[str]:
    """Global settings: queues that hold what a collector (or a bridge) has not taken yet."""
    return [
        "# Queues for the collectors: counts an agent was told are delivered must not be dropped",
        "# while a collector is away (Mosquitto's default keeps only 1000 per client). Keep",
        "# `persistence true` and `persistence_location` (Debian's main mosquitto.conf sets both)",
        "# so the queues survive a broker restart; save them every minute, not every 30.",
        "max_queued_messages 1000000",
        "max_queued_bytes 0",
        "autosave_interval 60",
    ]


def agent_listeners(
    files: Path,
    password_port: int,
    cert_port: int,
    *,
    bind: str | None = None,
    per_listener: bool = True,
) -> list[str]:
    """The agents' two TLS listeners. per_listener: each with its own authentication and ACL
    lines (for `per_listener_settings true`, which the WebSocket listener's own password file
    needs); otherwise the lines are global (a site broker, which has no WebSocket listener:
    what its bridge brings in is checked against the same ACL, where it needs its own lines)."""
    addr = f" {bind}" if bind else ""
    auth = ["allow_anonymous false", f"password_file {files / 'passwd'}",
            f"acl_file {files / 'acl'}"]  # fmt: skip
    own = (lambda lines: lines) if per_listener else (lambda _lines: [])
    tls = [f"cafile {files / 'ca.pem'}", f"certfile {files / 'server.pem'}",
           f"keyfile {files / 'server.key'}"]  # fmt: skip
    return [
        *([] if per_listener else ["per_listener_settings false", *auth, ""]),
        "# TLS, user name + password (agents with --auth password, central, bridges)",
        f"listener {password_port}{addr}",
        *tls,
        "require_certificate false",
        *own(auth),
        "",
        "# TLS with a client certificate from the fleet CA (agents with --auth cert or both)",
        f"listener {cert_port}{addr}",
        *tls,
        "require_certificate true",
        "use_identity_as_username true",
        f"crlfile {files / 'crl.pem'}",
        *own(["allow_anonymous false", f"acl_file {files / 'acl'}"]),
        "",
    ]  # fmt: skip


def websocket_listener(files: Path, port: int, *, bind: str | None = None) -> list[str]:
    """MQTT over WebSockets with TLS (wss://) for browsers: only the web roles' users (their
    own password file), read-only ACL. A browser must trust the certificate: the fleet CA on
    the operations machines, or a TLS reverse proxy with the city's certificate in front."""
    addr = f" {bind}" if bind else ""
    return [
        "# MQTT over WebSockets + TLS for the dashboards (read-only web users only)",
        f"listener {port}{addr}",
        "protocol websockets",
        f"certfile {files / 'server.pem'}",
        f"keyfile {files / 'server.key'}",
        "require_certificate false",
        "allow_anonymous false",
        f"password_file {files / 'passwd-web'}",
        f"acl_file {files / 'acl-web'}",
        "",
    ]
