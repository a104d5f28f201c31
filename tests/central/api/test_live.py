"""GET /live/public and /live/ops over a real HTTP server: the public stream carries area
summaries only (never a camera's, never an alert), the operations stream needs a read token and
adds alerts as open / resolve events from the alerts table; each summary pass comes once."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from central.api.app import ApiContext, create_app
from central.api.live import alert_changes
from central.areas import CameraRegistry
from central.rules.alerts import AlertStore
from central.rules.evaluate import AlertDecision
from central.store.engine import make_engine
from central.store.migrations import migrate
from central.summaries import Summary, SummaryBoard
from tests.central.api_fixtures import reader_headers, serving

WAIT_S = 10.0


def payload(level: str, code: str, people: int) -> dict[str, Any]:
    return {"schema": "siaga.summary/1", "level": level, "code": code, "name": code,
            "computed_at": datetime.now(UTC).isoformat(), "periods": {"recent": {
                "people_seen": people}}}  # fmt: skip


def board_pass(board: SummaryBoard, people: int, kel_people: int | None = None) -> None:
    board.update([
        Summary("city", "", payload("city", "33.74", people)),
        Summary("kecamatan", "33.74.01", payload("kecamatan", "33.74.01", people)),
        Summary("kelurahan", "33.74.01.1001", payload("kelurahan", "33.74.01.1001",
                                                      kel_people or people)),
        Summary("camera", "box1/cam1", {**payload("camera", "box1/cam1", people),
                                        "agent_id": "box1", "camera_id": "cam1"}),
    ], computed_at=datetime.now(UTC), pass_s=0.0)  # fmt: skip


class Events:
    """Reads one SSE stream in a thread; events as (name, data)."""

    def __init__(self, url: str, headers: dict[str, str] | None = None) -> None:
        self.events: list[tuple[str, Any]] = []
        self.status: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(url, headers or {}), daemon=True)
        self._thread.start()

    def _run(self, url: str, headers: dict[str, str]) -> None:
        # The server stops under the stream at the end of a test.
        with contextlib.suppress(httpx.HTTPError):
            self._read(url, headers)

    def _read(self, url: str, headers: dict[str, str]) -> None:
        with httpx.stream("GET", url, headers=headers, timeout=WAIT_S) as r:
            self.status = r.status_code
            name = None
            for line in r.iter_lines():
                if self._stop.is_set():
                    return
                if line.startswith("event: "):
                    name = line[7:]
                elif line.startswith("data: ") and name:
                    self.events.append((name, json.loads(line[6:])))

    def wait(self, cond: Any, what: str) -> None:
        deadline = time.monotonic() + WAIT_S
        while not cond(self.events):
            assert time.monotonic() < deadline, f"timed out waiting for {what}: {self.events}"
            time.sleep(0.02)

    def close(self) -> None:
        self._stop.set()


@pytest.fixture
def ctx(tmp_path: Any) -> Iterator[ApiContext]:
    engine = make_engine(f"sqlite:///{tmp_path / 'c.sqlite3'}")
    migrate(engine)
    yield ApiContext(engine=engine, board=SummaryBoard(), cameras=CameraRegistry())
    engine.dispose()


def summaries(events: list[tuple[str, Any]]) -> list[tuple[str, str]]:
    return [(d["level"], d["code"]) for n, d in events if n == "summary"]


def test_public_stream_has_areas_only(ctx: ApiContext) -> None:
    board_pass(ctx.board, 10)
    AlertStore(ctx.engine).apply(
        [AlertDecision("ppkm_level", "33.74.01", "warn", "level 3", {})], datetime.now(UTC)
    )
    with serving(create_app(ctx)) as url:
        ev = Events(f"{url}/live/public")
        try:
            ev.wait(lambda e: len(summaries(e)) == 3, "the three area summaries")
            assert ev.status == 200
            assert sorted(summaries(ev.events)) == [
                ("city", "33.74"),
                ("kecamatan", "33.74.01"),
                ("kelurahan", "33.74.01.1001"),
            ]
            # A new pass: its area summaries come, once, with the new figures.
            board_pass(ctx.board, 10, kel_people=11)
            ev.wait(lambda e: len(summaries(e)) == 6, "the next pass")
            time.sleep(0.6)  # two more polls: nothing else arrives
            assert len(summaries(ev.events)) == 6
            kel = [d for n, d in ev.events if n == "summary" and d["level"] == "kelurahan"]
            assert [k["periods"]["recent"]["people_seen"] for k in kel] == [10, 11]
            assert not [n for n, _ in ev.events if n not in ("hello", "summary")]
        finally:
            ev.close()


def test_ops_stream_needs_a_token_and_carries_alerts(ctx: ApiContext) -> None:
    board_pass(ctx.board, 10)
    store = AlertStore(ctx.engine)
    with serving(create_app(ctx)) as url:
        assert httpx.get(f"{url}/live/ops", timeout=WAIT_S).status_code == 401
        ev = Events(f"{url}/live/ops", reader_headers(ctx.engine))
        try:
            ev.wait(lambda e: len(summaries(e)) == 3, "the area summaries")
            assert ("camera", "box1/cam1") not in summaries(ev.events)
            opened = store.apply([AlertDecision("ppkm_level", "33.74.01", "warn", "level 3",
                                                {"level": 3})], datetime.now(UTC))  # fmt: skip
            ev.wait(lambda e: any(n == "alert" for n, _ in e), "the alert")
            alert = next(d for n, d in ev.events if n == "alert")
            assert alert["event"] == "open" and alert["id"] == opened[0].id
            assert alert["schema"] == "siaga.alert/1" and alert["action"] == "apply PPKM measures"
            store.apply([], datetime.now(UTC))
            ev.wait(lambda e: [d["event"] for n, d in e if n == "alert"] == ["open", "resolve"],
                    "the resolve event")  # fmt: skip
        finally:
            ev.close()


def test_alert_changes() -> None:
    a = {"id": 1, "rule": "r", "action": "x", "area_code": "k", "severity": "warn",
         "state": "open", "reason": "why", "figures": {}, "first_seen": "t0", "last_seen": "t0",
         "resolved_at": None}  # fmt: skip
    assert [e["event"] for e in alert_changes(None, {1: a})] == ["open"]
    assert alert_changes({1: a}, {1: a}) == []
    assert [e["event"] for e in alert_changes({1: a}, {1: {**a, "last_seen": "t1"}})] == ["update"]
    gone = {**a, "state": "resolved", "resolved_at": "t2"}
    assert [e["event"] for e in alert_changes({1: a}, {1: gone})] == ["resolve"]
    assert alert_changes(None, {1: gone}) == []  # a new stream hears nothing of the resolved
