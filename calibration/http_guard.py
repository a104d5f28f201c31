"""Request checks of the calibration server (`siaga calibrate serve`), kept apart from routing.

The page shows camera frames with faces and its POSTs overwrite the agent's calibration file,
while the technician's browser also has other sites open. Each check below stops one way a
foreign page could reach the server through that browser (security review, issue 14):

- the Host header must name this server (127.0.0.1 / localhost / [::1] or the --host given, with
  the bound port): a DNS-rebinding page reaches 127.0.0.1 under its own name, so its Host is
  its own name and it is refused (421) before anything is read or written;
- every path must start with `/s/<secret>/`, a per-run `secrets.token_urlsafe(24)` printed only
  in the terminal: a foreign page cannot guess the URL of anything here (403). A path prefix,
  not a `?k=` query, because the page's relative URLs (`app.js`, `api/save`, `api/image/0`)
  then carry the secret by themselves: it is never templated into the HTML or the JavaScript,
  and no URL the page builds can forget it. There is deliberately no cookie: a cookie would be
  sent with requests a foreign page makes too (ambient authority, the very CSRF problem),
  whereas the URL secret is known only to whoever holds the printed URL;
- a POST needs an Origin equal to this server's own origin (`http://` + the checked Host); with no
  Origin, only `Sec-Fetch-Site: same-origin` lets it through (browsers send Origin on every
  POST fetch, so a POST with neither is not from the page) (403);
- any request the browser marks `Sec-Fetch-Site: cross-site` or `same-site` (another port of
  127.0.0.1 is "same-site") is refused, except the top-level navigation that opens the page: the
  snapshots, faces and scripts are never loaded into a foreign page (403);
- POST bodies are JSON only (`Content-Type: application/json`, 415): a form or `text/plain`
  "simple request" that a foreign page can send without a CORS preflight is refused and its
  body never parsed; the size is checked from Content-Length before reading (411 without it,
  413 over the limit), and a body that is not JSON is a 400 with the parser's reason.

Every response carries SECURITY_HEADERS (no-referrer, nosniff, no-store, a strict CSP).

Standard library only, like the server.
"""

from __future__ import annotations

import hmac
import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from email.message import Message
from typing import Any, Final, Protocol

SECRET_PREFIX: Final = "/s/"
# Sent on every response. no-referrer: the secret in the URL never leaves in a Referer header;
# the CSP lets the page load and connect to this server only and never be framed elsewhere.
SECURITY_HEADERS: Final = (
    ("X-Content-Type-Options", "nosniff"),
    ("Cache-Control", "no-store"),
    ("Referrer-Policy", "no-referrer"),
    (
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data: blob:; connect-src 'self'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    ),
    ("X-Frame-Options", "DENY"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
)
_FOREIGN_SITES: Final = frozenset({"cross-site", "same-site"})
_LOOPBACK: Final = ("127.0.0.1", "localhost", "::1")


class Readable(Protocol):
    """What a request body is read from (the handler's rfile)."""

    def read(self, size: int, /) -> bytes:
        """Up to size bytes."""
        ...


class Refused(Exception):
    """A request the server refuses: the HTTP status and a message for the technician."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def new_secret() -> str:
    """A fresh per-run secret for the URL (192 random bits, URL-safe)."""
    return secrets.token_urlsafe(24)


def host_port(host: str, port: int) -> str:
    """`host:port` as a URL and a Host header write it (IPv6 in brackets)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def allowed_hosts(host: str, port: int) -> frozenset[str]:
    """Host header values this server answers to: the loopback names and --host, on its port."""
    return frozenset(host_port(h, port).lower() for h in (*_LOOPBACK, host) if h)


@dataclass(frozen=True)
class Guard:
    """This run's secret and accepted Host values; checks one request at a time."""

    secret: str
    hosts: frozenset[str]

    def check_host(self, headers: Message) -> str:
        """The request's Host (lower case) when it names this server; else Refused(421)."""
        values = headers.get_all("Host") or []
        host = values[0].strip().lower() if len(values) == 1 else ""
        if host not in self.hosts:
            raise Refused(421, f"this server does not answer to Host {host or '(none)'!r}")
        return host

    def inner_path(self, raw_path: str) -> str:
        """The path after `/s/<secret>` (query dropped); Refused(403) without the right secret."""
        path = raw_path.split("?", 1)[0].split("#", 1)[0]
        given, _, rest = path.removeprefix(SECRET_PREFIX).partition("/")
        ok = path.startswith(SECRET_PREFIX) and hmac.compare_digest(
            given.encode(), self.secret.encode()
        )
        if not ok:
            raise Refused(
                403, "forbidden: open the URL printed by `siaga calibrate serve` (it has a key)"
            )
        return "/" + rest if rest or path.endswith("/") else ""

    def check_fetch_site(self, headers: Message, *, navigation_ok: bool) -> None:
        """Refuse what a foreign page makes the browser load (Sec-Fetch-Site cross/same-site)."""
        site = (headers.get("Sec-Fetch-Site") or "").strip().lower()
        if site not in _FOREIGN_SITES:
            return
        if navigation_ok and (headers.get("Sec-Fetch-Mode") or "").lower() == "navigate":
            return  # following a link to the page: harmless, and it needs the secret anyway
        raise Refused(403, f"forbidden: a {site} request")

    def check_origin(self, headers: Message, host: str) -> None:
        """A state-changing request must come from this server's own page; else Refused(403)."""
        origin = headers.get("Origin")
        if origin is None:
            if (headers.get("Sec-Fetch-Site") or "").strip().lower() != "same-origin":
                raise Refused(403, "forbidden: a POST without Origin")
            return
        if not hmac.compare_digest(origin.strip().lower().encode(), f"http://{host}".encode()):
            raise Refused(403, f"forbidden: a POST from origin {origin.strip()!r}")


def read_json(headers: Message, body: Readable, *, max_bytes: int) -> Any:
    """The request's JSON body, checked before it is parsed; Refused(411/413/415/400) otherwise.

    A body of another type is read only to be dropped (see drain), never parsed.
    """
    ctype = (headers.get("Content-Type") or "").strip()
    media, params = _media_type(ctype)
    if media != "application/json" or params.get("charset", "utf-8") != "utf-8":
        drain(headers, body, max_bytes=max_bytes)
        raise Refused(415, f"the body must be application/json, not {ctype or '(none)'!r}")
    if headers.get("Transfer-Encoding") is not None:
        raise Refused(411, "a Content-Length is required (no chunked bodies)")
    raw_length = headers.get("Content-Length")
    if raw_length is None:
        raise Refused(411, "a Content-Length is required")
    if not raw_length.strip().isdigit():
        raise Refused(400, f"a bad Content-Length {raw_length!r}")
    length = int(raw_length)
    if length > max_bytes:
        raise Refused(413, f"the body is {length} bytes; at most {max_bytes} are accepted")
    if length == 0:
        raise Refused(400, "a JSON body is required")
    data = body.read(length)
    if len(data) != length:
        raise Refused(400, f"the body ended after {len(data)} of {length} bytes")
    try:
        return json.loads(data)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError alike
        raise Refused(400, f"the body is not JSON: {exc}") from None


def drain(headers: Message, body: Readable, *, max_bytes: int) -> None:
    """Read and drop a refused request's body when it is small, so the client gets the answer.

    Closing a socket with unread bytes makes the kernel reset the connection, and a reset can
    destroy the error response before the client reads it. Over max_bytes, or of unknown length,
    nothing is read: the client may lose the message, the server loses no time.
    """
    raw = (headers.get("Content-Length") or "").strip()
    if headers.get("Transfer-Encoding") is None and raw.isdigit() and int(raw) <= max_bytes:
        body.read(int(raw))


def _media_type(value: str) -> tuple[str, dict[str, str]]:
    """`type/subtype; k=v` → ("type/subtype", {"k": "v"}), all lower case."""
    media, *rest = value.split(";")
    return media.strip().lower(), dict(_params(rest))


def _params(parts: Iterable[str]) -> Iterable[tuple[str, str]]:
    for part in parts:
        key, _, val = part.partition("=")
        yield key.strip().lower(), val.strip().strip('"').lower()
