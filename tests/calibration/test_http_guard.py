"""calibration/http_guard.py on its own: Host values, the secret prefix, Origin, JSON bodies.

The same checks through a real server and a real browser: test_serve_guard.py, test_browser.py.
"""

from __future__ import annotations

import io
from email.message import Message
from typing import Any

import pytest

from calibration.http_guard import Guard, Refused, allowed_hosts, read_json


@pytest.mark.parametrize(
    ("host", "port", "want"),
    [
        ("127.0.0.1", 8765, {"127.0.0.1:8765", "localhost:8765", "[::1]:8765"}),
        ("10.0.0.5", 80, {"127.0.0.1:80", "localhost:80", "[::1]:80", "10.0.0.5:80"}),
        ("Box.Local", 9, {"127.0.0.1:9", "localhost:9", "[::1]:9", "box.local:9"}),
        ("fe80::1", 9, {"127.0.0.1:9", "localhost:9", "[::1]:9", "[fe80::1]:9"}),
    ],
)
def test_allowed_hosts(host: str, port: int, want: set[str]) -> None:
    assert allowed_hosts(host, port) == want


@pytest.mark.parametrize(
    ("path", "inner"),
    [
        ("/s/KEY/", "/"), ("/s/KEY", ""), ("/s/KEY/api/faces?x=1", "/api/faces"),
        ("/s/KEY/app.js#frag", "/app.js"), ("/s/KEY/a/b", "/a/b"),
        ("/s/KEY2/", None), ("/s/KE/", None), ("/s/", None), ("/", None), ("/KEY/", None),
        ("/s/ké/", None), ("/s/KEY%2F/", None),
    ],
)  # fmt: skip
def test_inner_path(path: str, inner: str | None) -> None:
    guard = Guard("KEY", frozenset())
    if inner is None:
        with pytest.raises(Refused) as exc:
            guard.inner_path(path)
        assert exc.value.status == 403
    else:
        assert guard.inner_path(path) == inner


def _headers(**kw: str) -> Message:
    msg = Message()
    for k, v in kw.items():
        msg[k.replace("_", "-")] = v
    return msg


@pytest.mark.parametrize(
    ("headers", "ok"),
    [
        ({"Origin": "http://127.0.0.1:8765"}, True),
        ({"Origin": "HTTP://127.0.0.1:8765"}, True),
        ({"Sec_Fetch_Site": "same-origin"}, True),
        ({"Origin": "http://127.0.0.1:8765/"}, False),
        ({"Origin": "http://127.0.0.1:87650"}, False),
        ({"Origin": "http://127.0.0.1"}, False),
        ({"Origin": "null", "Sec_Fetch_Site": "same-origin"}, False),
        ({"Sec_Fetch_Site": "none"}, False),
        ({}, False),
    ],
)
def test_check_origin(headers: dict[str, str], ok: bool) -> None:
    guard = Guard("KEY", allowed_hosts("127.0.0.1", 8765))
    if ok:
        guard.check_origin(_headers(**headers), "127.0.0.1:8765")
    else:
        with pytest.raises(Refused) as exc:
            guard.check_origin(_headers(**headers), "127.0.0.1:8765")
        assert exc.value.status == 403


class _Unreadable(io.BytesIO):
    def read(self, size: int | None = -1, /) -> bytes:
        raise AssertionError("the body was read before the checks passed")


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Content_Type": "application/json", "Content_Length": "99"}, 413),
        ({"Content_Type": "application/json", "Content_Length": "1e3"}, 400),
        ({"Content_Type": "application/json"}, 411),
        ({"Content_Type": "application/json", "Transfer_Encoding": "chunked"}, 411),
    ],
)
def test_read_json_refuses_before_reading(headers: dict[str, str], status: int) -> None:
    with pytest.raises(Refused) as exc:
        read_json(_headers(**headers), _Unreadable(), max_bytes=10)
    assert exc.value.status == status


@pytest.mark.parametrize(
    ("body", "want"),
    [(b'{"a": 1}', {"a": 1}), (b"[1, 2]", [1, 2]), ('{"é": "ü"}'.encode(), {"é": "ü"})],
)
def test_read_json(body: bytes, want: Any) -> None:
    headers = _headers(
        Content_Type="application/json; charset=UTF-8", Content_Length=str(len(body))
    )
    assert read_json(headers, io.BytesIO(body), max_bytes=100) == want


def test_a_short_body_is_400() -> None:
    headers = _headers(Content_Type="application/json", Content_Length="10")
    with pytest.raises(Refused, match="ended after 2 of 10"):
        read_json(headers, io.BytesIO(b"{}"), max_bytes=100)


def test_another_type_is_415_read_but_never_parsed() -> None:
    # Read (so that the client gets the 415 rather than a reset), not parsed as JSON.
    body = io.BytesIO(b"{nope")
    with pytest.raises(Refused) as exc:
        read_json(_headers(Content_Type="text/plain", Content_Length="5"), body, max_bytes=10)
    assert exc.value.status == 415 and body.tell() == 5
