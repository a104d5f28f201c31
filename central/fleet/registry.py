"""The fleet registry: one JSON file in the fleet directory, written atomically under a lock.

It holds no secret in clear: passwords only as Mosquitto `$7$` hashes, keys in their own 0600
files. Everything the broker and central need (password file, ACL, CRL, revoked list) is derived
from it and rewritten after every change.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from central.fleet.acl import Role
from central.fleet.files import SECRET_MODE, atomic_write
from central.fleet.passwd import check_username
from siaga.wire import DEFAULT_PREFIX, KELURAHAN_PATTERN, RESERVED_LEVELS

Auth = Literal["password", "cert", "both"]
AUTH_MODES: tuple[Auth, ...] = ("password", "cert", "both")
REGISTRY_FILE = "fleet.json"


class FleetError(Exception):
    """A fleet operation cannot be done; the message says why, in the operator's terms."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AgentEntry(_Model):
    """One provisioned edge box."""

    id: str
    site: str = Field(min_length=1, max_length=128)
    kelurahan_code: str = Field(pattern=KELURAHAN_PATTERN)
    auth: Auth
    created_at: datetime
    password_hash: str | None = None
    cert_serial: int | None = None
    cert_not_after: datetime | None = None
    old_cert_serials: list[int] = Field(default_factory=list)  # renewed: valid until they end
    revoked_at: datetime | None = None
    revoked_reason: str | None = None

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        return check_username(v)

    @property
    def revoked(self) -> bool:
        """True once revoked (never undone: provision a new id instead)."""
        return self.revoked_at is not None


class ServiceEntry(_Model):
    """A central collector, a dashboard or an operator tool with a password."""

    name: str
    role: Role
    created_at: datetime
    password_hash: str

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return check_username(v)


class BrokerEntry(_Model):
    """How clients reach the broker, and what its certificate names."""

    host: str = Field(min_length=1, max_length=253)
    hostnames: list[str] = Field(default_factory=list)
    ips: list[str] = Field(default_factory=list)
    password_port: int = Field(default=8883, ge=1, le=65535)
    cert_port: int = Field(default=8884, ge=1, le=65535)
    # MQTT over WebSockets (TLS) for browsers; users of the web roles only. None: no listener.
    websocket_port: int | None = Field(default=8084, ge=1, le=65535)


class BridgeEntry(_Model):
    """A site broker bridged to the centre: its centre user, and its own listeners' names.

    Its password is kept (0600) in the fleet directory, because the bridge configuration must
    carry it in clear (Mosquitto has no password file for a bridge's remote side)."""

    name: str
    site: str = Field(min_length=1, max_length=128)  # the agents whose `site` is this
    created_at: datetime
    password_hash: str
    hostnames: list[str] = Field(default_factory=list)  # the site broker's certificate
    ips: list[str] = Field(default_factory=list)
    password_port: int = Field(default=8883, ge=1, le=65535)  # the site broker's listeners
    cert_port: int = Field(default=8884, ge=1, le=65535)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return check_username(v)


class Registry(_Model):
    """The whole fleet."""

    version: Literal[1] = 1
    topic_prefix: str = DEFAULT_PREFIX
    broker: BrokerEntry
    agents: dict[str, AgentEntry] = Field(default_factory=dict)
    services: dict[str, ServiceEntry] = Field(default_factory=dict)
    bridges: dict[str, BridgeEntry] = Field(default_factory=dict)
    # Where `siaga fleet broker-config` wrote (kept in step by every later change).
    broker_config_dirs: list[str] = Field(default_factory=list)
    # Where `siaga fleet site-config` wrote: folder -> bridge name (kept in step too).
    site_config_dirs: dict[str, str] = Field(default_factory=dict)

    def site_agents(self, bridge: str) -> list[AgentEntry]:
        """The active agents behind a bridge (their `site` is the bridge's), sorted by id."""
        site = self.bridges[bridge].site
        return sorted((a for a in self.agents.values() if a.site == site and not a.revoked),
                      key=lambda a: a.id)  # fmt: skip


def load(path: Path) -> Registry:
    """Read the registry; FleetError names the file and what is wrong."""
    try:
        return Registry.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        raise FleetError(f"{path}: no fleet registry here (run `siaga fleet init` first)") from None
    except OSError as exc:
        raise FleetError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise FleetError(f"{path}: invalid registry: {where}: {first['msg']}") from None


def save(path: Path, reg: Registry) -> None:
    """Write the registry atomically (mode 0600)."""
    atomic_write(path, reg.model_dump_json(indent=2) + "\n", mode=SECRET_MODE)


@contextlib.contextmanager
def locked(directory: Path) -> Iterator[None]:
    """Hold the fleet directory's lock (one operator command changes it at a time)."""
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory / ".lock", os.O_RDWR | os.O_CREAT, SECRET_MODE)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise FleetError(f"{directory}: another `siaga fleet` command is running") from None
        yield
    finally:
        os.close(fd)


_KEL = re.compile(KELURAHAN_PATTERN)


def check_kelurahan(code: str) -> str:
    """The code, or FleetError explaining the Kepmendagri format."""
    if not _KEL.fullmatch(code):
        raise FleetError(f"invalid kelurahan code {code!r}: expected NN.NN.NN.NNNN, "
                         "e.g. 33.74.16.1004")  # fmt: skip
    return code


def check_id(agent_id: str, what: str = "agent id") -> str:
    """The id, or FleetError saying why it cannot be an MQTT user name and topic level."""
    try:
        name = check_username(agent_id)
    except ValueError as exc:
        raise FleetError(f"invalid {what}: {exc}") from None
    if what != "camera id" and name in RESERVED_LEVELS:
        raise FleetError(f"invalid {what}: {name!r} is reserved (siaga/v1/{name}/… carries "
                         "central's own messages)")  # fmt: skip
    return name
