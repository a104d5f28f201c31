"""MQTT client set-up shared by agent and central: credentials and TLS from an [mqtt] section."""

from __future__ import annotations

import ssl

import paho.mqtt.client as mqtt

from siaga.settings import BrokerSection


def check_tls_files(cfg: BrokerSection) -> None:
    """Fail early, naming the key, when a configured TLS file is missing."""
    if not cfg.tls_enabled:
        return
    for key in ("ca_file", "cert_file", "key_file"):
        path = getattr(cfg, key)
        if path is not None and not path.is_file():
            raise ValueError(f"mqtt.{key}: {path}: file not found")
    if cfg.key_file is not None and cfg.cert_file is None:
        raise ValueError("mqtt.key_file is set without mqtt.cert_file")


def configure_client(client: mqtt.Client, cfg: BrokerSection, *, username: str | None) -> None:
    """Set credentials (the password stays a secret) and TLS with verification on."""
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
