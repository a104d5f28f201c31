"""Credentials in camera URLs (rtsp://user:password@host/…): find, split, put back, hide.

Shared by the agent (which opens the URL with the password from a file or a systemd credential)
and `siaga fleet provision` (which moves a password given on its command line out of agent.toml).
"""

from __future__ import annotations

from urllib.parse import quote, unquote, urlsplit


def _parts(source: str) -> tuple[str, str, str] | None:
    """(scheme, user[:password], host and the rest) of a URL with a user part; else None.

    The user part ends at the last "@" of the authority, so a password with a raw "@" stays whole.
    """
    if "://" not in source:
        return None
    scheme, rest = source.split("://", 1)
    netloc = urlsplit(source).netloc
    if "@" not in netloc or not rest.startswith(netloc):
        return None
    info = netloc.rpartition("@")[0]
    return scheme, info, rest[len(info) + 1 :]


def has_user_only(source: str) -> bool:
    """A URL with a user name and no password in it."""
    p = _parts(source)
    return p is not None and bool(p[1]) and ":" not in p[1]


def has_password(source: str) -> bool:
    """A URL that carries a password in the clear."""
    p = _parts(source)
    return p is not None and ":" in p[1]


def with_password(source: str, password: str) -> str:
    """source (rtsp://user@host/…) with the password put in, percent-encoded."""
    p = _parts(source)
    if p is None:
        raise ValueError("not a URL with a user name")
    scheme, info, after = p
    return f"{scheme}://{info.partition(':')[0]}:{quote(password, safe='')}@{after}"


def redact_url(source: str) -> str:
    """Hide credentials in rtsp://user:pass@host URLs before logging or printing."""
    p = _parts(source)
    return source if p is None else f"{p[0]}://***@{p[2]}"


def split_password(source: str) -> tuple[str, str | None]:
    """(the URL without its password, the password decoded); (source, None) when it has none."""
    p = _parts(source)
    if p is None or ":" not in p[1]:
        return source, None
    scheme, info, after = p
    user, _, password = info.partition(":")
    return f"{scheme}://{user}@{after}", unquote(password)
