"""Configuration helpers shared by agent and central: TOML reading, error text, secrets."""

from __future__ import annotations

import ipaddress
import os
import sys
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsError

from siaga.settings_errors import EnvOverrides, error_lines
from siaga.wire import DEFAULT_PREFIX


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


def format_errors(
    where: str,
    exc: ValidationError,
    *,
    model: type[BaseModel] | None = None,
    env: EnvOverrides | None = None,
) -> str:
    """One line per problem: `file: key.path: reason`. With the model, an unknown key gets a
    'did you mean'; with env, a value an environment override supplied names that variable."""
    return "\n".join(error_lines(where, exc.errors(), model=model, env=env))


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


class BrokerSection(BaseModel):
    """An MQTT broker connection (the [mqtt] section of agent and central).

    TLS is on by default for any broker not on loopback, and plain TCP to such a broker is refused
    unless `insecure_plaintext = true` says so explicitly; the password is a secret, best kept in
    a file (`password_file`, mode 0600) or a systemd credential rather than in the config.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    tls: bool | None = None
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    username: str | None = None
    password: SecretStr | None = None
    password_file: Path | None = None
    insecure_plaintext: bool = False
    topic_prefix: str = DEFAULT_PREFIX
    keepalive_s: int = Field(default=30, ge=5, le=3600)
    reconnect_min_s: float = Field(default=1.0, gt=0, le=60)
    reconnect_max_s: float = Field(default=60.0, gt=0, le=3600)

    @property
    def tls_enabled(self) -> bool:
        """Explicit setting, else on unless the broker is on loopback."""
        return self.tls if self.tls is not None else not is_loopback(self.host)

    @model_validator(mode="after")
    def _secure(self) -> BrokerSection:
        if self.tls is False and not is_loopback(self.host) and not self.insecure_plaintext:
            raise ValueError(
                f"tls = false for broker {self.host!r}, which is not on loopback: credentials and "
                "counts would cross the network in clear text. Turn TLS on (remove `tls`), or "
                "set insecure_plaintext = true to accept that explicitly"
            )
        if self.key_file is not None and self.cert_file is None:
            raise ValueError("key_file is set without cert_file")
        return self

    @model_validator(mode="before")
    @classmethod
    def _password_from_file(cls, data: Any) -> Any:
        """Read password_file at load time, so every client of the section sees the password."""
        if not isinstance(data, dict) or data.get("password_file") is None:
            return data
        if data.get("password") is not None:
            raise ValueError("set either password or password_file, not both")
        path = Path(data["password_file"])
        try:
            secret = read_secret_file(path, "password_file")
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return {**data, "password": secret}


class FileSettings(BaseSettings):
    """Settings from a TOML file (passed as init data), overridden by the environment."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment beats the file: a technician's override wins.
        return env_settings, init_settings


S = TypeVar("S", bound=FileSettings)


def load_settings(cls: type[S], path: Path | None) -> S:
    """Validate a file (or, with none, defaults) plus environment; then the MQTT credential."""
    data = read_toml(path) if path is not None else {}
    env = EnvOverrides(cls)
    problems = env.unknown()  # pydantic-settings ignores these; a typo must not go unnoticed
    try:
        cfg = cls(**data)
    except ValidationError as exc:
        problems.append(format_errors(str(path or "(environment)"), exc, model=cls, env=env))
    except SettingsError as exc:  # an override that is not valid JSON for a list or a table
        problems.append(env.parse_error(str(exc)))
    if problems:
        raise ConfigError("\n".join(problems))
    mqtt = getattr(cfg, "mqtt", None)
    if isinstance(mqtt, BrokerSection) and mqtt.password is None:
        secret = credential("mqtt-password")
        if secret is not None:
            cfg = cfg.model_copy(update={"mqtt": mqtt.model_copy(update={"password": secret})})
    return cfg


def print_check(
    prog: str, effective: str, problems: list[str], *, connections: Sequence[tuple[bool, str]] = ()
) -> int:
    """What `check-config` prints: the effective settings (secrets hidden by the caller), one
    line per connection tried (`--connect`: each is its own verdict, so said once, on stdout),
    then each problem; exit status 0 when nothing failed, else 2."""
    print(effective)
    for _, line in connections:
        print(line)
    for p in problems:
        print(f"{prog}: problem: {p}", file=sys.stderr)
    failed = len(problems) + sum(not ok for ok, _ in connections)
    if not failed:
        print("configuration OK" + (", every connection OK" if connections else ""),
              file=sys.stderr)  # fmt: skip
    else:
        print(f"{failed} problem(s)", file=sys.stderr)
    return 0 if not failed else 2


def read_secret_file(path: Path, key: str) -> SecretStr:
    """A secret kept alone in a file (trailing line break dropped); errors name the key."""
    try:
        value = path.read_text(encoding="utf-8").rstrip("\r\n")
    except FileNotFoundError:
        raise ConfigError(f"{key}: {path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{key}: {path}: cannot read: {exc}") from None
    if not value:
        raise ConfigError(f"{key}: {path}: the file is empty")
    check_private(path, key)
    return SecretStr(value)


def check_private(path: Path, key: str) -> None:
    """Refuse a secret file that every user of the machine may read or write.

    Group access is allowed (root:siaga 0640 is a usual way to hand a secret to a service).
    """
    try:
        mode = path.stat().st_mode & 0o777
    except OSError as exc:
        raise ConfigError(f"{key}: {path}: cannot read: {exc}") from None
    if mode & 0o007:
        raise ConfigError(f"{key}: {path}: any user of this machine can read or change it "
                          f"(mode {mode:04o}); chmod 600 it (640 to share it with the "
                          "service's group)")  # fmt: skip
