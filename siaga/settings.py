"""Configuration helpers shared by agent and central: TOML reading, error text, secrets."""

from __future__ import annotations

import ipaddress
import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import SecretStr, ValidationError


class ConfigError(Exception):
    """The configuration is invalid; the message names the file, key path and reason."""


def read_toml(path: Path) -> dict[str, Any]:
    """Parse a TOML file; errors name the file and the line."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc


def format_errors(where: str, exc: ValidationError) -> str:
    """One line per problem: `file: key.path: reason`."""
    return "\n".join(
        f"{where}: {'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg']}"
        for e in exc.errors()
    )


def credential(name: str) -> SecretStr | None:
    """A secret from systemd's $CREDENTIALS_DIRECTORY (LoadCredential=), if present."""
    directory = os.environ.get("CREDENTIALS_DIRECTORY")
    if not directory:
        return None
    f = Path(directory) / name
    return SecretStr(f.read_text(encoding="utf-8").strip()) if f.is_file() else None


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
