"""The HTTP side of `siaga calibrate serve`: static page, JSON endpoints, the server loop.

GET / and its assets (from calibration/static only), GET /api/snapshot, /api/faces and
/api/image/N; POST /api/labels (keep the labels) and /api/save (write the calibration file).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final

from calibration.serve import MAX_BODY, STATIC, BadRequest, ServeState, snapshot_images

_STATIC_TYPES: Final = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}


def make_handler(state: ServeState) -> type[BaseHTTPRequestHandler]:
    """A request handler class bound to one ServeState."""

    class Handler(BaseHTTPRequestHandler):
        server_version = "siaga-calibrate"

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet: the technician watches the page, not the terminal

        def _send(self, status: int, body: bytes, ctype: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            # The page may load only what this server serves.
            self.send_header(
                "Content-Security-Policy",
                "default-src 'self'; img-src 'self' blob:; connect-src 'self'",
            )
            self.end_headers()
            self.wfile.write(body)

        def _json(self, status: int, obj: Mapping[str, Any]) -> None:
            self._send(status, json.dumps(obj).encode(), "application/json")

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
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
            route = self.path.split("?", 1)[0]
            action = {"/api/save": state.save, "/api/labels": state.store_labels}.get(route)
            if action is None:
                self._json(404, {"error": "not found"})
                return
            try:
                length = int(self.headers.get("Content-Length") or 0)
                if not 0 < length <= MAX_BODY:
                    raise BadRequest(f"a JSON body of 1 to {MAX_BODY} bytes is required")
                try:
                    body = json.loads(self.rfile.read(length))
                except ValueError as exc:
                    raise BadRequest(f"the body is not JSON: {exc}") from None
                result = action(body)
            except BadRequest as exc:
                self._json(400, {"error": str(exc)})
                return
            except OSError as exc:
                self._json(500, {"error": f"cannot write the file: {exc}"})
                return
            self._json(200, result)

    return Handler


def make_server(
    state: ServeState, host: str = "127.0.0.1", port: int = 8765
) -> ThreadingHTTPServer:
    """A bound (not yet serving) HTTP server for the page; port 0 picks a free one."""
    server = ThreadingHTTPServer((host, port), make_handler(state))
    server.daemon_threads = True
    return server


def run_serve(
    snapshot: Path, *, camera: str | None, out: Path | None, host: str, port: int, model: str
) -> int:
    """`siaga calibrate serve`: load the model and images, serve the page until Ctrl-C."""
    from models.detector import load_detector

    images = snapshot_images(snapshot)
    state = ServeState.build(images, load_detector(model), camera_id=camera, out=out)
    server = make_server(state, host, port)
    url = f"http://{host}:{server.server_address[1]}/"
    print(f"calibration page: {url}  ({len(images)} image(s), model {model})")
    if host not in ("127.0.0.1", "localhost", "::1"):
        print("warning: not bound to loopback; faces are visible to anyone who can reach it")
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
