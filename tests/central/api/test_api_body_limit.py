"""Request bodies are limited before they are read: an anonymous 100 MB POST costs nothing.

The API runs in a process of its own (tests/central/api_server_proc.py, central's ApiServer) so
that its resident memory can be read from /proc; each POST streams from a loop over one 1 MiB
buffer, so the test itself never holds the body. Before the limit, one 100 MB POST without a
token took the server from 77 to 342 MB and four at once to 1.28 GB (invalid JSON, which fails
late; the security review measured 783 MB for one valid list).
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from central.api.app import ApiContext, create_app
from central.areas import CameraRegistry
from central.civic.institutions import add_institution
from central.config import ApiSection
from central.store.engine import make_engine
from central.summaries import SummaryBoard
from tests.central.api_fixtures import bearer, reader_token, serving
from tests.central.summary_fixtures import migrated_engine

REPO = Path(__file__).resolve().parents[3]
MB = 1024 * 1024
BIG = 100 * MB
MAX_GROWTH_MB = 50
CHUNK = b"[" + b"1," * (MB // 2 - 1) + b"1"  # one MiB of a JSON list (never closed)


@dataclass
class Server:
    url: str
    pid: int

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise AssertionError("no VmRSS")


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('limit') / 'central.sqlite3'}"


@pytest.fixture(scope="module")
def server(db: str) -> Iterator[Server]:
    proc = subprocess.Popen([sys.executable, "-m", "tests.central.api_server_proc", db],
                            cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)  # fmt: skip
    assert proc.stdout is not None and proc.stdin is not None
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), url
        srv = Server(url, proc.pid)
        httpx.get(f"{url}/healthz", timeout=10)  # warm: first requests import and allocate
        post(srv.url, "/civic/beds", 2 * MB, chunked=True)
        post(srv.url, "/civic/beds", 2 * MB, chunked=False)
        yield srv
    finally:
        proc.stdin.close()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def writer(db: str) -> str:
    engine = make_engine(db)
    try:
        return add_institution(engine, "rs-big", "RS", modules=["beds"], owner_ids=["rs-big"])
    finally:
        engine.dispose()


def post(url: str, path: str, size: int, *, chunked: bool, token: str | None = None) -> int:
    """POST size bytes, stopping as soon as the server answers; the answer's status (0: none)."""
    u = urllib.parse.urlsplit(url)
    sock = socket.create_connection((u.hostname, u.port), timeout=60)
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    length = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {size}"
    sock.sendall(f"POST {path} HTTP/1.1\r\nHost: {u.netloc}\r\nContent-Type: application/json\r\n"
                 f"{auth}{length}\r\n\r\n".encode())  # fmt: skip
    answer = bytearray()
    answered = threading.Event()

    def read() -> None:
        try:
            while b"\r\n\r\n" not in answer and (got := sock.recv(65536)):
                answer.extend(got)
        except OSError:
            pass
        answered.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    sent = 0
    try:
        while sent < size and not answered.is_set():
            part = CHUNK[: min(len(CHUNK), size - sent)]
            sock.sendall(b"%x\r\n%s\r\n" % (len(part), part) if chunked else part)
            sent += len(part)
        if chunked and not answered.is_set():
            sock.sendall(b"0\r\n\r\n")
    except OSError:  # the server closed after answering: the rest was never wanted
        pass
    reader.join(60)
    sock.close()
    head = bytes(answer).split(b"\r\n", 1)[0].split()
    return int(head[1]) if len(head) > 1 else 0


def _peak_growth(server: Server, posts: list[dict[str, object]]) -> tuple[list[int], float, float]:
    base = server.rss_mb()
    peak = base
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, server.rss_mb())
            time.sleep(0.01)

    sampler = threading.Thread(target=sample)
    sampler.start()
    codes: list[int] = [0] * len(posts)

    def one(i: int) -> None:
        codes[i] = post(server.url, **posts[i])  # type: ignore[arg-type]

    workers = [threading.Thread(target=one, args=(i,)) for i in range(len(posts))]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
    time.sleep(0.2)
    done.set()
    sampler.join()
    print(f"RSS {base:.0f} MB -> peak {peak:.0f} MB for {len(posts)} POST(s)")
    return codes, base, peak


@pytest.mark.parametrize(
    ("chunked", "token", "n", "status"),
    [
        (False, False, 1, 413),  # Content-Length over the limit: refused before reading
        (False, False, 4, 413),
        (True, False, 1, 401),  # chunked: the token is checked before the body is read
        (True, False, 4, 401),
        (False, True, 1, 413),  # a writer's token: the limit holds too
        (True, True, 1, 413),  # counted while streaming, refused once past 8 MiB
        (True, True, 4, 413),
    ],
)
def test_a_100_mb_post_costs_the_server_nothing(
    server: Server, writer: str, chunked: bool, token: bool, n: int, status: int
) -> None:
    req = {"path": "/civic/beds", "size": BIG, "chunked": chunked,
           "token": writer if token else None}  # fmt: skip
    codes, base, peak = _peak_growth(server, [req] * n)
    assert codes == [status] * n
    assert peak - base < MAX_GROWTH_MB, f"RSS grew from {base:.0f} to {peak:.0f} MB"


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    with migrated_engine(request, request.param, tmp_path) as e:
        yield e


@pytest.mark.parametrize("chunked", [False, True])
def test_the_limit_is_configured_and_exact(engine: Engine, chunked: bool) -> None:
    api = ApiSection(max_body_bytes=4096)
    ctx = ApiContext(engine=engine, board=SummaryBoard(), cameras=CameraRegistry(), api=api)
    token = add_institution(engine, "rs-1", "RS", modules=["beds"], owner_ids=["rs-1"])
    with serving(create_app(ctx)) as url:
        body = json.dumps([]).encode().ljust(4096)  # exactly the limit (JSON allows the spaces)
        assert post_bytes(url, body, token, chunked=chunked) == 200
        assert post_bytes(url, body + b" ", token, chunked=chunked) == 413
        r = httpx.post(f"{url}/civic/beds", content=b" " * 5000, headers=bearer(token))
        assert r.status_code == 413
        assert r.json()["detail"] == ("request body too large: at most 4096 bytes "
                                      "([api] max_body_bytes)")  # fmt: skip
        # Every method and path: a GET with a body is refused the same way, before routing.
        read = bearer(reader_token(engine))
        r = httpx.request("GET", f"{url}/agents", content=b"x" * 5000, headers=read)
        assert r.status_code == 413
        assert httpx.get(f"{url}/agents", headers=read).status_code == 200
    # Refusals show in /metrics: by Content-Length before routing, or once streamed too far.
    refused = {(route, status) for (route, _, status) in ctx.requests if status == 413}
    assert ("unmatched" if not chunked else "/civic/{module}", 413) in refused


def post_bytes(url: str, body: bytes, token: str, *, chunked: bool) -> int:
    """POST body to /civic/beds with httpx (a generator makes it chunked)."""
    content = iter([body[: len(body) // 2], body[len(body) // 2 :]]) if chunked else body
    r = httpx.post(f"{url}/civic/beds", content=content, headers=bearer(token), timeout=10)
    return r.status_code
