"""The HTTP side of `siaga calibrate serve`: static page, JSON endpoints, the server loop.

Everything lives under `/s/<secret>/` (the per-run secret; why a path prefix: http_guard.py):
the page and its assets (from calibration/static only), GET api/snapshot, api/faces and
api/image/N; POST api/labels (keep the labels) and api/save (write the calibration file).
Every request passes http_guard's checks (Host, secret, Sec-Fetch-Site; for a POST also Origin,
JSON content type and size) before it is routed, so a refused one reads and writes nothing.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final

from calibration.http_guard import (
    SECRET_PREFIX,
    SECURITY_HEADERS,
    Guard,
    Refused,
    allowed_hosts,
    drain,
    host_port,
    new_secret,
    read_json,
)
from calibration.serve import MAX_BODY, STATIC, BadRequest, ServeState, snapshot_images

_STATIC_TYPES: Final = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}
_LOOPBACK: Final = ("127.0.0.1", "localhost", "::1")


class CalibrationServer(ThreadingHTTPServer):
    """The bound server with this run's Guard; `url` is the page's address with the secret."""

    daemon_threads = True

    def __init__(self, state: ServeState, host: str, port: int, secret: str) -> None:
        # IPv6 literals (--host ::1) need an AF_INET6 socket; the class default is IPv4.
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        super().__init__((host, port), make_handler(state))
        self.host = host
        self.guard = Guard(secret, allowed_hosts(host, self.port))

    @property
    def port(self) -> int:
        """The bound port (the one picked when 0 was asked for)."""
        return int(self.server_address[1])

    @property
    def url(self) -> str:
        """The page's URL, secret included: the only way in."""
        return f"http://{host_port(self.host, self.port)}{SECRET_PREFIX}{self.guard.secret}/"


def make_handler(state: ServeState) -> type[BaseHTTPRequestHandler]:
    """A request handler class bound to one ServeState."""

    class Handler(BaseHTTPRequestHandler):
        server_version = "siaga-calibrate"
        server: CalibrationServer
        timeout = 30  # a client that stops sending does not hold a thread for ever

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet (and the request line carries the secret)

        def _send(self, status: int, body: bytes, ctype: str, *, location: str = "") -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            if location:
                self.send_header("Location", location)
            for name, value in SECURITY_HEADERS:
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _json(self, status: int, obj: Mapping[str, Any]) -> None:
            self._send(status, json.dumps(obj).encode(), "application/json")

        def _refuse(self, exc: Refused) -> None:
            # The body may be unread: never reuse this connection.
            self.close_connection = True
            self._json(exc.status, {"error": exc.message})

        def _checked_path(self, *, post: bool) -> str:
            """The path inside the secret prefix once Host, secret and origin checks pass."""
            guard = self.server.guard
            host = guard.check_host(self.headers)
            path = guard.inner_path(self.path)
            guard.check_fetch_site(self.headers, navigation_ok=path in ("", "/") and not post)
            if post:
                guard.check_origin(self.headers, host)
            return path

        def do_GET(self) -> None:
            try:
                path = self._checked_path(post=False)
            except Refused as exc:
                self._refuse(exc)
                return
            if path == "":  # /s/<secret> without the slash: relative URLs need it
                home = f"{SECRET_PREFIX}{self.server.guard.secret}/"
                self._send(301, b"", "text/plain", location=home)
                return
            if path == "/":
                path = "/index.html"
            if path == "/api/snapshot":
                self._json(200, state.snapshot_json())
            elif path == "/api/faces":
                self._json(200, state.faces_json())
            elif path.startswith("/api/image/"):
                tail = path.removeprefix("/api/image/")
                if tail.isdigit() and int(tail) < len(state.snapshots):
                    self._send(200, state.snapshots[int(tail)].jpeg, "image/jpeg")
                else:
                    self._json(404, {"error": f"no image {tail!r}"})
            elif path.count("/") == 1 and Path(path).suffix in _STATIC_TYPES:
                file = STATIC / path.lstrip("/")
                if file.is_file():
                    self._send(200, file.read_bytes(), _STATIC_TYPES[file.suffix])
                else:
                    self._json(404, {"error": "not found"})
            else:
                self._json(404, {"error": "not found"})

        def do_POST(self) -> None:
            try:
                route = self._checked_path(post=True)
                action = {"/api/save": state.save, "/api/labels": state.store_labels}.get(route)
                if action is None:
                    raise Refused(404, "not found")
            except Refused as exc:
                drain(self.headers, self.rfile, max_bytes=MAX_BODY)
                self._refuse(exc)
                return
            try:
                body = read_json(self.headers, self.rfile, max_bytes=MAX_BODY)
                result = action(body)
            except Refused as exc:
                self._refuse(exc)
                return
            except BadRequest as exc:
                self._json(400, {"error": str(exc)})
                return
            except OSError as exc:
                self._json(500, {"error": f"cannot write the file: {exc}"})
                return
            self._json(200, result)

        def _not_allowed(self) -> None:
            self.close_connection = True
            self._json(405, {"error": "only GET and POST"})

        do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = _not_allowed

    return Handler


def make_server(state: ServeState, host: str = "127.0.0.1", port: int = 8765) -> CalibrationServer:
    """A bound (not yet serving) server with a fresh secret; port 0 picks a free one."""
    return CalibrationServer(state, host, port, new_secret())


def run_serve(
    snapshot: Path, *, camera: str | None, out: Path | None, host: str, port: int, model: str
) -> int:
    """`siaga calibrate serve`: load the model and images, serve the page until Ctrl-C."""
    from models.detector import load_detector

    images = snapshot_images(snapshot)
    state = ServeState.build(images, load_detector(model), camera_id=camera, out=out)
    server = make_server(state, host, port)
    print(f"calibration page: {server.url}  ({len(images)} image(s), model {model})")
    print(
        "the URL carries this run's key: open it as printed (a tunnel must keep port "
        f"{server.port}: ssh -L {server.port}:127.0.0.1:{server.port} BOX); share it with no one"
    )
    if host not in _LOOPBACK:
        print(
            "warning: not bound to loopback; faces are visible to anyone who can reach it and "
            f"has the URL (the page answers only to Host {host_port(host, server.port)})"
        )
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
