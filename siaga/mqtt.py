"""MQTT client set-up shared by agent and central: credentials and TLS from an [mqtt] section.

Also turns what goes wrong when connecting (ssl errors, TLS alerts from the broker, MQTT reason
codes) into plain sentences: a wrong CA, an expired certificate and bad credentials each say so.
"""

from __future__ import annotations

import logging
import re
import socket
import ssl
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from siaga.settings import BrokerSection, ConfigError, check_private

log = logging.getLogger(__name__)
# paho's own messages (errors and warnings only: its debug lines are one per packet).
paho_log = logging.getLogger("siaga.mqtt.paho")

# OpenSSL verify codes (ssl.SSLCertVerificationError.verify_code) worth a sentence of their own.
_VERIFY = {
    9: "the broker's certificate is not valid yet (is this box's clock right?)",
    10: "the broker's certificate has expired",
    18: "the broker's certificate is self-signed and not the CA in mqtt.ca_file (wrong CA?)",
    19: "the broker's certificate chain ends in a CA other than mqtt.ca_file (wrong CA?)",
    20: "the broker's certificate is not signed by the CA in mqtt.ca_file (wrong CA?)",
    21: "the broker's certificate is not signed by the CA in mqtt.ca_file (wrong CA?)",
    23: "the broker's certificate has been revoked",
    62: "the broker's certificate does not name the host in mqtt.host",
}
# TLS alerts the broker sends when it refuses our client certificate.
_ALERTS = (
    ("CERTIFICATE_EXPIRED", "the broker refused this client's certificate: it has expired"),
    ("CERTIFICATE_REVOKED", "the broker refused this client's certificate: it has been revoked"),
    (
        "UNKNOWN_CA",
        "the broker refused this client's certificate: it is not signed by the "
        "broker's CA (wrong CA?)",
    ),
    (
        "CERTIFICATE_REQUIRED",
        "the broker requires a client certificate (set mqtt.cert_file and mqtt.key_file)",
    ),
    (
        "BAD_CERTIFICATE",
        "the broker refused this client's certificate (wrong CA, expired or revoked)",
    ),
    ("UNSUPPORTED_CERTIFICATE", "the broker refused this client's certificate as unsupported"),
    (
        "EOF occurred in violation of protocol",
        "the broker closed the connection during TLS set-up, typically because it refused "
        "this client's certificate (not from its CA, expired or revoked) or needs one; the "
        "broker log says which",
    ),
    (
        "WRONG_VERSION_NUMBER",
        "the broker did not answer in TLS: is this port a plain-TCP "
        "listener? (mqtt.port, mqtt.tls)",
    ),
)
_ALERT_RE = re.compile("|".join(re.escape(name) for name, _ in _ALERTS), re.IGNORECASE)
# MQTT CONNACK reason codes (v5 value, or the v3.1.1 return code) meaning "bad credentials".
_AUTH_CODES = {134: "bad user name or password", 135: "not authorised",
               4: "bad user name or password", 5: "not authorised"}  # fmt: skip


def describe_error(exc: BaseException) -> str:
    """One plain sentence for an exception raised while connecting, with the original text."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        what = _VERIFY.get(exc.verify_code or -1, "the broker's certificate was not accepted")
        return f"{what} (certificate verify failed: {exc.verify_message})"
    if isinstance(exc, ssl.SSLError):
        return describe_tls_text(str(exc)) or f"TLS error: {exc}"
    if isinstance(exc, ConnectionRefusedError):
        return f"nothing accepts connections there (is the broker running?): {exc}"
    if isinstance(exc, socket.gaierror):
        return f"unknown host name (check mqtt.host): {exc}"
    if isinstance(exc, TimeoutError | socket.timeout):
        return f"timed out (firewall, or a wrong mqtt.host/port?): {exc}"
    return str(exc) or type(exc).__name__


def describe_tls_text(text: str) -> str | None:
    """The plain sentence for a TLS alert named in text (an ssl error's message), if any."""
    m = _ALERT_RE.search(text)
    if m is None:
        return None
    name = m.group(0).upper()
    return next(what for key, what in _ALERTS if key.upper() == name) + f" ({text.strip()})"


def describe_refusal(code: Any, username: str | None) -> str:
    """A CONNACK refusal in plain words; keeps the broker's own reason text."""
    value = getattr(code, "value", code)
    who = f"user {username!r}" if username else "an anonymous client"
    if value in _AUTH_CODES:
        return (f"{code}: the broker does not accept the credentials of {who} "
                "(wrong user name or password, a client certificate it does not accept, or "
                "this agent has been revoked)")  # fmt: skip
    return f"{code}"


def check_tls_files(cfg: BrokerSection) -> None:
    """Fail early, naming the key, when a configured TLS file is missing, unreadable or expired."""
    if not cfg.tls_enabled:
        return
    for key in ("ca_file", "cert_file", "key_file"):
        path = getattr(cfg, key)
        if path is not None and not path.is_file():
            raise ValueError(f"mqtt.{key}: {path}: file not found")
    if cfg.key_file is not None and cfg.cert_file is None:
        raise ValueError("mqtt.key_file is set without mqtt.cert_file")
    if cfg.key_file is not None:
        try:
            check_private(cfg.key_file, "mqtt.key_file")
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
    ctx = ssl.create_default_context()
    if cfg.ca_file is not None:
        try:
            ctx.load_verify_locations(cafile=str(cfg.ca_file))
        except (ssl.SSLError, OSError) as exc:
            msg = f"mqtt.ca_file: {cfg.ca_file}: not a PEM CA certificate: {exc}"
            raise ValueError(msg) from None
    if cfg.cert_file is not None:
        try:
            ctx.load_cert_chain(str(cfg.cert_file), str(cfg.key_file) if cfg.key_file else None)
        except (ssl.SSLError, OSError) as exc:
            raise ValueError(f"mqtt.cert_file/key_file: {cfg.cert_file}: not a PEM certificate "
                             f"with its matching private key: {exc}") from None  # fmt: skip
        _check_validity(cfg.cert_file)


def _check_validity(path: Path) -> None:
    """Refuse an expired (or not yet valid) client certificate; needs `cryptography`."""
    try:
        from cryptography import x509
    except ImportError:  # the agent may run without it: the broker then says so
        return
    try:
        cert = x509.load_pem_x509_certificate(path.read_bytes())
    except ValueError:
        return  # load_cert_chain accepted it; leave the finer points to OpenSSL
    now = datetime.now(UTC)
    if now > cert.not_valid_after_utc:
        raise ValueError(f"mqtt.cert_file: {path}: the client certificate expired on "
                         f"{cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC")  # fmt: skip
    if now < cert.not_valid_before_utc:
        raise ValueError(
            f"mqtt.cert_file: {path}: the client certificate is not valid before "
            f"{cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC (is the clock right?)"
        )


class _Explain(logging.Filter):
    """Lets through only paho's lines naming a TLS failure, in plain words.

    paho logs benign errors too ("Client is not connected" after a refused CONNACK); those pass
    only when this logger is set to DEBUG. A TLS failure comes once per connection attempt, so
    the reconnect backoff bounds how often it is said.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        plain = describe_tls_text(record.getMessage())
        if plain is None:
            return paho_log.level == logging.DEBUG
        record.msg, record.args = "MQTT connection: %s", (plain,)
        return True


paho_log.addFilter(_Explain())
if paho_log.level == logging.NOTSET:
    paho_log.setLevel(logging.WARNING)


def configure_client(client: mqtt.Client, cfg: BrokerSection, *, username: str | None) -> None:
    """Set credentials (the password stays a secret) and TLS with verification on.

    Also routes paho's warnings and errors to the `siaga.mqtt.paho` logger, and logs why a
    background (re)connect failed, once per distinct reason (then at debug level).
    """
    if username is not None:
        password = cfg.password.get_secret_value() if cfg.password is not None else None
        client.username_pw_set(username, password)
    if cfg.tls_enabled:
        client.tls_set(
            ca_certs=str(cfg.ca_file) if cfg.ca_file else None,
            certfile=str(cfg.cert_file) if cfg.cert_file else None,
            keyfile=str(cfg.key_file) if cfg.key_file else None,
            cert_reqs=ssl.CERT_REQUIRED,
        )  # certificate and host name verification stay on
    client.enable_logger(paho_log)
    where = f"{cfg.host}:{cfg.port}"
    last: list[str] = []

    def on_connect_fail(_c: Any, _u: Any) -> None:
        exc = sys.exc_info()[1]  # paho calls this inside its `except OSError`
        why = describe_error(exc) if exc is not None else "unknown reason"
        level = logging.DEBUG if last and last[0] == why else logging.ERROR
        last[:] = [why]
        log.log(level, "cannot connect to MQTT broker %s: %s", where, why)

    client.on_connect_fail = on_connect_fail
