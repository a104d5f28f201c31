"""Central's HTTP API: raw count windows by time range, a JSON page or a streamed CSV."""

from __future__ import annotations

import base64
import csv
import io
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Response
from fastapi.responses import JSONResponse, StreamingResponse
from sqlalchemy import ColumnElement, Engine, Select, and_, or_, select

from central.api.params import ApiTime, plausible_year
from central.store import schema
from siaga.timeutil import iso
from siaga.wire import ID_PATTERN, KELURAHAN_PATTERN

MAX_RANGE = timedelta(days=31)
MAX_JSON_ROWS = 10_000


_COLS = list(schema.counts.c)


def windows_router(engine: Engine) -> APIRouter:
    """GET /windows (raw counts: central/api/app.py includes it behind the operator token)."""
    router = APIRouter()

    @router.get("/windows", summary="Raw count windows by time range (JSON page or streamed CSV)")
    def windows(
        from_: Annotated[
            ApiTime | None,
            Query(alias="from", description="window_end after this (default: to - 1 h)"),
        ] = None,
        to: Annotated[
            ApiTime | None, Query(description="window_end at or before this (default: now)")
        ] = None,
        kelurahan: Annotated[str | None, Query(pattern=KELURAHAN_PATTERN)] = None,
        agent_id: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
        camera_id: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
        format: Annotated[Literal["json", "csv"], Query()] = "json",
        limit: Annotated[
            int, Query(ge=1, le=100_000, description="rows per page (JSON: at most 10,000)")
        ] = 1000,
        cursor: Annotated[
            str | None, Query(max_length=300, description="next_cursor of the previous page")
        ] = None,
    ) -> Response:
        end = to or datetime.now(UTC)
        start = from_ or end - timedelta(hours=1)
        if start >= end:
            raise HTTPException(400, "'from' must be before 'to'")
        if end - start > MAX_RANGE:
            raise HTTPException(400, f"range too long: at most {MAX_RANGE.days} days per request")
        filters = {"kelurahan_code": kelurahan, "agent_id": agent_id, "camera_id": camera_id}
        return windows_response(engine, start=start, end=end, filters=filters, fmt=format,
                                limit=limit, cursor=cursor)  # fmt: skip

    return router


def _encode_cursor(window_end: datetime, agent_id: str, epoch: str, seq: int) -> str:
    raw = f"{window_end.astimezone(UTC).isoformat()}|{agent_id}|{seq}|{epoch}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str, str, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        end, agent, seq, *rest = raw.split("|")
        if len(rest) > 1:
            raise ValueError("too many parts")
        t = datetime.fromisoformat(end)
        if t.tzinfo is None:
            raise ValueError("naive time")
        if not plausible_year(t.year):  # near year 1 or 9999 it cannot even be compared
            raise ValueError("time out of range")
        return t, agent, rest[0] if rest else "", int(seq)  # before epochs: 3 parts
    except (ValueError, UnicodeDecodeError):
        raise HTTPException(400, "invalid cursor: pass next_cursor unchanged") from None


def _after(cursor: tuple[datetime, str, str, int]) -> ColumnElement[bool]:
    # Keyset paging on (window_end, agent_id, epoch, seq), spelled out (no row values in old
    # SQLite).
    c, (t, a, e, s) = schema.counts.c, cursor
    same_agent = and_(c.agent_id == a, or_(c.epoch > e, and_(c.epoch == e, c.seq > s)))
    same_end = and_(c.window_end == t, or_(c.agent_id > a, same_agent))
    return or_(c.window_end > t, same_end)


def windows_query(
    start: datetime, end: datetime, filters: Mapping[str, str | None], cursor: str | None
) -> Select[Any]:
    """Windows with start < window_end <= end matching filters, in keyset order."""
    c = schema.counts.c
    q = select(*_COLS).where(c.window_end > start, c.window_end <= end)
    for col, value in filters.items():
        if value is not None:
            q = q.where(c[col] == value)
    if cursor:
        q = q.where(_after(_decode_cursor(cursor)))
    return q.order_by(c.window_end, c.agent_id, c.epoch, c.seq)


def _row_json(row: Any) -> dict[str, Any]:
    return {k: iso(v) if isinstance(v, datetime) else v for k, v in row._mapping.items()}


def windows_response(
    engine: Engine, *, start: datetime, end: datetime, filters: Mapping[str, str | None],
    fmt: str, limit: int, cursor: str | None,
) -> Response:  # fmt: skip
    """A JSON page (with next_cursor) or a CSV stream (next cursor in X-Next-Cursor)."""
    q = windows_query(start, end, filters, cursor)
    if fmt == "json":
        if limit > MAX_JSON_ROWS:
            raise HTTPException(400, f"limit: at most {MAX_JSON_ROWS} rows per JSON page")
        with engine.connect() as conn:
            rows = conn.execute(q.limit(limit + 1)).all()
        more = len(rows) > limit
        last = rows[limit - 1] if more else None
        nxt = _encode_cursor(last.window_end, last.agent_id, last.epoch, last.seq) if last else None
        return JSONResponse({
            "from": iso(start), "to": iso(end), "count": min(len(rows), limit),
            "next_cursor": nxt, "windows": [_row_json(r) for r in rows[:limit]],
        })  # fmt: skip
    with engine.connect() as conn:
        edge = conn.execute(q.offset(limit - 1).limit(2)).all()
    headers = {"Content-Disposition": "attachment; filename=windows.csv"}
    if len(edge) == 2:
        e = edge[0]
        headers["X-Next-Cursor"] = _encode_cursor(e.window_end, e.agent_id, e.epoch, e.seq)
    return StreamingResponse(_csv_rows(engine, q.limit(limit)), media_type="text/csv",
                             headers=headers)  # fmt: skip


def _csv_rows(engine: Engine, q: Select[Any]) -> Iterator[str]:
    buf = io.StringIO()
    out = csv.writer(buf)
    out.writerow([col.name for col in _COLS])
    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=1000).execute(q)
        for part in result.partitions():
            for row in part:
                out.writerow([iso(v) if isinstance(v, datetime) else v for v in row])
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue()
