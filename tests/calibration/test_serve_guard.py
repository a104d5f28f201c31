"""`siaga calibrate serve` refuses what a foreign web page could make the technician's browser
send (issue 14): no secret, a foreign Host (DNS rebinding), a cross-origin or form POST, an
oversize body. A real server on loopback, real HTTP through http.client (which lets a test set
Host, Origin and Sec-Fetch-Site as a browser or an attacker would); a refused POST must leave
the calibration file and the labels file on disk byte for byte as they were.

The state is built by hand from a synthetic image: no model or shared data set is needed.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from calibration.label_store import labels_path
from calibration.serve import MAX_BODY, ServeState, Snapshot
from calibration.serve_http import CalibrationServer, make_server

GOOD = {"version": "2026-11-27a", "include_zones": [[[0, 0], [0.5, 0], [0.5, 1]]]}
EVIL = {"version": "evil", "exclude_zones": [[[0, 0], [1, 0], [1, 1], [0, 1]]]}


def _state(out: Path) -> ServeState:
    ok, jpeg = cv2.imencode(".jpg", np.full((48, 64, 3), 128, np.uint8))
    assert ok
    face = {"box": [4.0, 4.0, 28.0, 30.0], "score": 0.9, "predicted": "mask", "size_px": 26.0}
    snap = Snapshot(out.parent / "snap.jpg", 64, 48, bytes(jpeg), [face])
    return ServeState([snap], "cam1", out, "test-model", 0.4)


@dataclass
class Served:
    """A running server: its port, secret, and the files a POST would write."""

    srv: CalibrationServer
    out: Path

    @property
    def port(self) -> int:
        return self.srv.port

    @property
    def prefix(self) -> str:
        return f"/s/{self.srv.guard.secret}"

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        **more: str,
    ) -> tuple[int, http.client.HTTPMessage, bytes]:
        """One request on a fresh connection; header names use _ for - (Sec_Fetch_Site)."""
        given = dict(headers or {}) | more
        hdrs = {"Host": f"127.0.0.1:{self.port}"} | {
            k.replace("_", "-"): v for k, v in given.items()
        }
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request(method, path, body=body, headers=hdrs)
            r = conn.getresponse()
            return r.status, r.headers, r.read()
        finally:
            conn.close()

    def post(self, route: str, obj: Any, **headers: str) -> tuple[int, dict[str, Any]]:
        """POST a JSON body; the page's own headers unless the keywords override them."""
        hdrs = {"Content_Type": "application/json", "Origin": self.origin} | headers
        hdrs = {k: v for k, v in hdrs.items() if v != ""}  # "" drops a header
        status, _, data = self.request("POST", self.prefix + route, body=_json(obj), headers=hdrs)
        return status, json.loads(data)

    def on_disk(self) -> tuple[bytes | None, bytes | None]:
        """The calibration file and the labels file as they are now (None: absent)."""
        return _bytes(self.out), _bytes(labels_path(self.out))


def _bytes(path: Path) -> bytes | None:
    return path.read_bytes() if path.is_file() else None


def _json(obj: Any) -> bytes:
    return obj if isinstance(obj, bytes) else json.dumps(obj).encode()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    srv = make_server(_state(tmp_path / "cam1.json"), "127.0.0.1", 0)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield Served(srv, tmp_path / "cam1.json")
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(timeout=5)


@pytest.fixture
def saved(served: Served) -> Served:
    """A server whose calibration and labels files already hold a good save."""
    status, res = served.post(
        "/api/save", GOOD | {"labels": [{"image": 0, "face": 0, "truth": "mask"}]}
    )
    assert status == 200, res
    assert all(served.on_disk())
    return served


def test_the_page_and_its_data_load_with_the_secret(served: Served) -> None:
    for path, ctype in (
        ("/", "text/html"), ("/app.js", "text/javascript"), ("/style.css", "text/css"),
        ("/api/snapshot", "application/json"), ("/api/faces", "application/json"),
        ("/api/image/0", "image/jpeg"),
    ):  # fmt: skip
        status, headers, body = served.request(
            "GET", served.prefix + path, Sec_Fetch_Site="same-origin"
        )
        assert status == 200 and headers["Content-Type"].startswith(ctype) and body, path
    status, headers, _ = served.request("GET", served.prefix)
    assert status == 301 and headers["Location"] == served.prefix + "/"
    assert served.srv.url == f"http://127.0.0.1:{served.port}{served.prefix}/"


@pytest.mark.parametrize(
    "path",
    [
        "/", "/index.html", "/app.js", "/api/snapshot", "/api/faces", "/api/image/0",
        "/s/", "/s", "/s//api/image/0", "/s/WRONG/", "/s/WRONG/api/image/0",
        "/s/{short}/api/image/0", "/s/{secret}x/api/image/0", "/S/{secret}/api/image/0",
        "/x/s/{secret}/api/image/0", "/s/%20{secret}/api/image/0", "/s/{upper}/api/faces",
    ],
)  # fmt: skip
def test_no_or_wrong_secret_is_403(served: Served, path: str) -> None:
    secret = served.srv.guard.secret
    path = path.format(secret=secret, short=secret[:-1], upper=secret.upper())
    status, headers, body = served.request("GET", path)
    assert status == 403 and b"\xff\xd8" not in body and b"<canvas" not in body
    assert "printed by" in json.loads(body)["error"]
    assert headers["Content-Type"] == "application/json"


@pytest.mark.parametrize(
    ("host", "status"),
    [
        ("127.0.0.1:{port}", 200), ("localhost:{port}", 200), ("LocalHost:{port}", 200),
        ("[::1]:{port}", 200),
        ("evil.example:{port}", 421),  # DNS rebinding: the attacker's name resolves to 127.0.0.1
        ("localhost.evil.example:{port}", 421), ("127.0.0.1.nip.io:{port}", 421),
        ("127.0.0.1", 421), ("127.0.0.1:1", 421), ("localhost", 421),
        ("[::1]", 421), ("0.0.0.0:{port}", 421), ("", 421),
    ],
)  # fmt: skip
def test_only_this_servers_host_is_answered(served: Served, host: str, status: int) -> None:
    got, _, body = served.request(
        "GET", served.prefix + "/api/image/0", Host=host.format(port=served.port)
    )
    assert got == status
    assert (body[:2] == b"\xff\xd8") == (status == 200)


def test_two_host_headers_are_421(served: Served) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", served.port, timeout=10)
    try:
        conn.putrequest("GET", served.prefix + "/api/faces", skip_host=True)
        conn.putheader("Host", f"127.0.0.1:{served.port}")
        conn.putheader("Host", "evil.example")
        conn.endheaders()
        assert conn.getresponse().status == 421
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("path", "fetch", "status"),
    [
        # What a foreign page's <img>, <script> or fetch() would be marked as: refused.
        ("/api/image/0", {"Sec_Fetch_Site": "cross-site", "Sec_Fetch_Mode": "no-cors"}, 403),
        ("/api/image/0", {"Sec_Fetch_Site": "same-site", "Sec_Fetch_Mode": "no-cors"}, 403),
        ("/api/faces", {"Sec_Fetch_Site": "cross-site", "Sec_Fetch_Mode": "cors"}, 403),
        ("/app.js", {"Sec_Fetch_Site": "cross-site", "Sec_Fetch_Mode": "no-cors"}, 403),
        ("/api/image/0", {"Sec_Fetch_Site": "cross-site", "Sec_Fetch_Mode": "navigate"}, 403),
        # The page itself, opened from a link: allowed (it needs the secret anyway).
        ("/", {"Sec_Fetch_Site": "cross-site", "Sec_Fetch_Mode": "navigate"}, 200),
        ("/", {"Sec_Fetch_Site": "none", "Sec_Fetch_Mode": "navigate"}, 200),
        ("/api/image/0", {"Sec_Fetch_Site": "same-origin", "Sec_Fetch_Mode": "no-cors"}, 200),
        ("/api/image/0", {}, 200),  # not a browser (curl): the secret and Host suffice
    ],
)
def test_cross_site_fetches_are_403(
    served: Served, path: str, fetch: dict[str, str], status: int
) -> None:
    assert served.request("GET", served.prefix + path, headers=fetch)[0] == status


@pytest.mark.parametrize(
    ("headers", "body", "status", "needle"),
    [
        # The page's own origin is required on a POST.
        ({"Origin": "http://evil.example"}, EVIL, 403, "origin"),
        ({"Origin": "null"}, EVIL, 403, "origin"),
        ({"Origin": "http://127.0.0.1:1"}, EVIL, 403, "origin"),
        ({"Origin": "https://127.0.0.1:{port}"}, EVIL, 403, "origin"),
        ({"Origin": "http://localhost:{port}"}, EVIL, 403, "origin"),  # Host says 127.0.0.1
        ({"Origin": ""}, EVIL, 403, "without Origin"),
        ({"Origin": "", "Sec_Fetch_Site": "cross-site"}, EVIL, 403, "forbidden"),
        ({"Origin": "", "Sec_Fetch_Site": "same-site"}, EVIL, 403, "forbidden"),
        ({"Sec_Fetch_Site": "cross-site"}, EVIL, 403, "cross-site"),
        # Simple requests (no CORS preflight: a foreign form or fetch can send them): JSON only.
        ({"Content_Type": "text/plain"}, EVIL, 415, "application/json"),
        ({"Content_Type": "text/plain;charset=UTF-8"}, EVIL, 415, "application/json"),
        ({"Content_Type": "application/x-www-form-urlencoded"}, b"version=evil", 415, "json"),
        ({"Content_Type": "multipart/form-data; boundary=x"}, b"--x--", 415, "json"),
        ({"Content_Type": ""}, EVIL, 415, "(none)"),
        ({"Content_Type": "application/json-patch+json"}, EVIL, 415, "json"),
        ({"Content_Type": "application/json; charset=latin-1"}, EVIL, 415, "json"),
        # Size and framing, checked before the body is read.
        ({"Content_Length": str(MAX_BODY + 1)}, EVIL, 413, "at most"),
        ({"Content_Length": str(10**12)}, EVIL, 413, "at most"),
        ({"Content_Length": "-1"}, EVIL, 400, "Content-Length"),
        ({"Content_Length": "0"}, b"", 400, "required"),
        ({"Transfer_Encoding": "chunked"}, b"2\r\n{}\r\n0\r\n\r\n", 411, "Content-Length"),
        ({}, b"{nope", 400, "not JSON"),
        ({}, b"\xff\xfe{}", 400, "not JSON"),
    ],
)
def test_refused_posts_change_nothing(
    saved: Served, headers: dict[str, str], body: Any, status: int, needle: str
) -> None:
    before = saved.on_disk()
    headers = {k: v.format(port=saved.port) for k, v in headers.items()}
    for route in ("/api/save", "/api/labels"):
        got, res = saved.post(route, body, **headers)
        assert got == status and needle.lower() in res["error"].lower(), (route, res)
    assert saved.on_disk() == before


@pytest.mark.parametrize(
    ("path", "host", "status"),
    [
        ("/api/save", "127.0.0.1:{port}", 403),  # no secret
        ("/s/WRONG/api/save", "127.0.0.1:{port}", 403),
        ("{prefix}/api/save", "evil.example:{port}", 421),
        ("{prefix}/api/nothing", "127.0.0.1:{port}", 404),
    ],
)
def test_posts_without_secret_or_host_change_nothing(
    saved: Served, path: str, host: str, status: int
) -> None:
    before = saved.on_disk()
    got, _, _ = saved.request(
        "POST",
        path.format(prefix=saved.prefix),
        body=_json(EVIL),
        Host=host.format(port=saved.port),
        Origin=saved.origin,
        Content_Type="application/json",
    )
    assert got == status and saved.on_disk() == before


def test_an_oversize_claim_is_refused_unread(saved: Served) -> None:
    # The server answers at once without waiting for 1 TB: nothing was read.
    conn = http.client.HTTPConnection("127.0.0.1", saved.port, timeout=5)
    try:
        conn.putrequest("POST", saved.prefix + "/api/save", skip_host=True)
        conn.putheader("Host", f"127.0.0.1:{saved.port}")
        conn.putheader("Origin", saved.origin)
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Content-Length", str(10**12))
        conn.endheaders(b"{")
        assert conn.getresponse().status == 413
    finally:
        conn.close()


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Content_Type": "application/json; charset=utf-8"},
        {"Content_Type": "Application/JSON"},
        {"Origin": "", "Sec_Fetch_Site": "same-origin"},  # an older browser without Origin
        {"Sec_Fetch_Site": "same-origin", "Sec_Fetch_Mode": "cors"},  # what Chromium sends
    ],
)
def test_a_good_post_is_saved(served: Served, headers: dict[str, str]) -> None:
    status, res = served.post("/api/save", GOOD, **headers)
    assert status == 200, res
    assert json.loads(served.out.read_text())["version"] == GOOD["version"]


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"])
def test_other_methods_are_405(saved: Served, method: str) -> None:
    before = saved.on_disk()
    assert saved.request(method, saved.prefix + "/api/save", body=_json(EVIL))[0] == 405
    assert saved.on_disk() == before


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("{prefix}/", 200),
        ("{prefix}/api/image/0", 200),
        ("{prefix}/api/faces", 200),
        ("/api/image/0", 403),
        ("{prefix}/nothing.js", 404),
    ],
)
def test_security_headers_on_every_response(served: Served, path: str, status: int) -> None:
    got, headers, _ = served.request("GET", path.format(prefix=served.prefix))
    assert got == status
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Cache-Control"] == "no-store"
    assert headers["Referrer-Policy"] == "no-referrer"
    csp = headers["Content-Security-Policy"]
    for part in ("default-src 'self'", "img-src 'self' data: blob:", "frame-ancestors 'none'"):
        assert part in csp
    assert headers["Cross-Origin-Resource-Policy"] == "same-origin"


def test_each_run_has_its_own_long_secret(tmp_path: Path) -> None:
    state = _state(tmp_path / "cam1.json")
    a, b = (make_server(state, "127.0.0.1", 0) for _ in range(2))
    try:
        assert a.guard.secret != b.guard.secret and len(a.guard.secret) >= 32
        assert f"/s/{a.guard.secret}/" in a.url
    finally:
        a.server_close()
        b.server_close()


def test_ipv6_loopback(tmp_path: Path) -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        srv = make_server(_state(tmp_path / "cam1.json"), "::1", 0)
    except OSError as exc:
        pytest.skip(f"cannot bind ::1: {exc}")
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        assert srv.url.startswith(f"http://[::1]:{srv.port}/s/")
        conn = http.client.HTTPConnection("::1", srv.port, timeout=10)
        conn.request("GET", srv.url.split(f":{srv.port}", 1)[1] + "api/faces")
        assert conn.getresponse().status == 200
        conn.close()
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(timeout=5)
