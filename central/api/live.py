"""Live figures over HTTP: server-sent events for a dashboard that cannot reach the broker.

The dashboard prefers MQTT over WebSockets (the retained summary topics, the alerts topic); where
no WebSocket listener is configured or reachable it reads these streams instead, with the same
payloads, so the page has one code path for both:

- GET /live/public (anyone): `summary` events with the kelurahan, kecamatan and city summaries
  (the `siaga.summary/1` payloads the API's /summaries/{level} serves to everyone) — never camera
  summaries, never alerts;
- GET /live/ops (read token): the same plus `alert` events shaped as the `siaga.alert/1` messages
  of the alerts topic (event open / update / resolve), from the alerts table.

A stream sends every area summary when it opens and again after each summary pass (the board's
pass counter, checked every POLL_S), as central republishes every retained summary each pass;
alerts are read once per POLL_S for all streams together (AlertsWatch).
A comment line every HEARTBEAT_S keeps proxies from closing an idle stream; a stream ends after
STREAM_MAX_S (the browser reconnects at once), so that a stopping server is never held up by
one for long.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from sqlalchemy import Engine, or_, select

from central.api.access import ReadAccess
from central.api.civic import alert_json
from central.rules.alerts import ALERT_SCHEMA
from central.store import schema
from central.summaries import SummaryBoard

POLL_S = 0.25
HEARTBEAT_S = 15.0
STREAM_MAX_S = 300.0
RETRY_MS = 1000
PUBLIC_LEVELS = ("city", "kecamatan", "kelurahan")
RESOLVED_KEPT = timedelta(hours=1)  # resolved alerts a new stream still hears about


def sse(event: str, data: Any) -> str:
    """One server-sent event (data as one line of JSON)."""
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


class AlertsWatch:
    """Open and recently resolved alerts, read at most once per POLL_S for every stream."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._lock = threading.Lock()
        self._at = -1.0
        self._alerts: dict[int, dict[str, Any]] = {}

    def snapshot(self) -> dict[int, dict[str, Any]]:
        """id → alert (as GET /alerts shows it), refreshed when older than POLL_S."""
        with self._lock:
            if time.monotonic() - self._at >= POLL_S:
                a = schema.alerts.c
                since = datetime.now(UTC) - RESOLVED_KEPT
                q = select(schema.alerts).where(or_(a.state == "open", a.resolved_at >= since))
                with self.engine.connect() as conn:
                    self._alerts = {int(r["id"]): alert_json(r)
                                    for r in conn.execute(q).mappings()}  # fmt: skip
                self._at = time.monotonic()
            return self._alerts


def alert_event(a: dict[str, Any], event: str) -> dict[str, Any]:
    """A stored alert as the `siaga.alert/1` message of the alerts topic."""
    keys = ("id", "rule", "action", "area_code", "severity", "state", "reason", "figures",
            "first_seen", "last_seen", "resolved_at")  # fmt: skip
    return {"schema": ALERT_SCHEMA, "event": event, **{k: a[k] for k in keys}}


def alert_changes(
    before: dict[int, dict[str, Any]] | None, now: dict[int, dict[str, Any]]
) -> list[dict[str, Any]]:
    """Events taking a stream from `before` (None: a new stream) to `now`."""
    out = []
    for i, a in sorted(now.items()):
        old = None if before is None else before.get(i)
        if a["state"] == "resolved":
            if old is not None and old["state"] == "open":
                out.append(alert_event(a, "resolve"))
        elif old is None:
            out.append(alert_event(a, "open"))
        elif (old["last_seen"], old["severity"], old["reason"]) != (
            a["last_seen"],
            a["severity"],
            a["reason"],
        ):
            out.append(alert_event(a, "update"))
    return out


async def _stream(request: Request, board: SummaryBoard,
                  alerts: AlertsWatch | None) -> AsyncIterator[str]:  # fmt: skip
    passes = -1
    seen: dict[int, dict[str, Any]] | None = None
    started = beat = time.monotonic()
    yield f"retry: {RETRY_MS}\n: siaga live\n\n"
    yield sse("hello", {"view": "ops" if alerts else "public", "passes": board.passes})
    while time.monotonic() - started < STREAM_MAX_S:
        if await request.is_disconnected():
            return
        if board.passes != passes:
            passes = board.passes
            for level in PUBLIC_LEVELS:
                for s in board.of_level(level):
                    yield sse("summary", s.payload)
        if alerts is not None:
            now = await run_in_threadpool(alerts.snapshot)
            for event in alert_changes(seen, now):
                yield sse("alert", event)
            seen = now
        if time.monotonic() - beat >= HEARTBEAT_S:
            beat = time.monotonic()
            yield ": heartbeat\n\n"
        await asyncio.sleep(POLL_S)


def live_router(engine: Engine, board: SummaryBoard, access: ReadAccess) -> APIRouter:
    """GET /live/public and /live/ops (read token)."""
    router = APIRouter(tags=["live"])
    watch = AlertsWatch(engine)
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}  # nginx: do not buffer

    @router.get("/live/public", summary="Area summaries as server-sent events (public)")
    def public(request: Request) -> StreamingResponse:
        return StreamingResponse(_stream(request, board, None), media_type="text/event-stream",
                                 headers=headers)  # fmt: skip

    @router.get("/live/ops", summary="Area summaries and alerts as server-sent events",
                dependencies=[Depends(access.dependency())])  # fmt: skip
    def ops(request: Request) -> StreamingResponse:
        return StreamingResponse(_stream(request, board, watch), media_type="text/event-stream",
                                 headers=headers)  # fmt: skip

    return router
