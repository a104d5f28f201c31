"""Mosquitto 2.x password files: `user:$7$101$<salt>$<hash>` (PBKDF2-HMAC-SHA512, base64).

Byte-for-byte the format `mosquitto_passwd` writes, so the broker checks our hashes unchanged.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Mapping
from pathlib import Path

from central.fleet.files import SECRET_MODE, atomic_write

ITERATIONS = 101  # mosquitto_passwd's default for $7$
SALT_BYTES = 12
_HASH = re.compile(r"^\$7\$(?P<it>\d{1,7})\$(?P<salt>[A-Za-z0-9+/=]+)\$(?P<hash>[A-Za-z0-9+/=]+)$")
# A broker user name: what an MQTT topic level and an ACL %u substitution can safely hold.
USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def new_password() -> str:
    """A random password (192 bits, URL-safe characters)."""
    return secrets.token_urlsafe(24)


def check_username(name: str) -> str:
    """The name, or ValueError saying why it cannot be a broker user (and topic level)."""
    if not USERNAME.fullmatch(name):
        raise ValueError(
            f"invalid user name {name!r}: 1-64 characters, letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (it is also an MQTT topic level)"
        )
    return name


def hash_password(password: str, *, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    """The Mosquitto `$7$` hash of password (a fresh random salt unless one is given)."""
    if not password:
        raise ValueError("empty password")
    if "\n" in password or "\r" in password:
        raise ValueError("a password cannot contain a line break")
    salt = os.urandom(SALT_BYTES) if salt is None else salt
    if not salt:
        raise ValueError("empty salt")
    digest = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def is_hash(value: str) -> bool:
    """True when value is a `$7$` hash (as opposed to a clear-text password)."""
    return _HASH.fullmatch(value) is not None


def verify_password(password: str, hashed: str) -> bool:
    """True when password matches the `$7$` hash (constant-time compare)."""
    m = _HASH.fullmatch(hashed)
    if m is None:
        raise ValueError("not a Mosquitto $7$ password hash")
    salt = base64.b64decode(m["salt"])
    digest = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, int(m["it"]))
    return hmac.compare_digest(digest, base64.b64decode(m["hash"]))


def render_password_file(users: Mapping[str, str]) -> str:
    """Password-file text; each value is a clear-text password (hashed here) or a `$7$` hash."""
    lines = []
    for name in sorted(users):
        check_username(name)
        value = users[name]
        lines.append(f"{name}:{value if is_hash(value) else hash_password(value)}")
    return "".join(line + "\n" for line in lines)


def write_password_file(path: Path, users: Mapping[str, str]) -> Path:
    """Write a Mosquitto password file atomically with mode 0600 (send the broker SIGHUP after)."""
    return atomic_write(Path(path), render_password_file(users), mode=SECRET_MODE)
