"""Central's HTTP API for decisions: alerts, daily reports and open data files.

- GET /alerts: stored decision-rule alerts, newest first, filtered by state, area, rule and
  first/last seen time;
- GET /reports/{date}?format=json|csv|html: the daily report as written (siaga-report-D.*);
- GET /opendata/{date}.csv|.json: the day's per-kelurahan open data file;
  GET /opendata/datadictionary.json: its fields, types and units.

Reports and open data are served from the folders the service writes them to (a day not yet
written answers 404 with the command that builds it).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query
from fastapi.params import Depends
from fastapi.responses import FileResponse
from sqlalchemy import Engine, or_, select

from central.api.params import ApiDay, ApiTime
from central.contract import AlertRecord
from central.rules.evaluate import ACTIONS
from central.store import schema
from siaga.timeutil import iso

MEDIA = {"json": "application/json", "csv": "text/csv; charset=utf-8",
         "html": "text/html; charset=utf-8"}  # fmt: skip


def alert_json(r: Any) -> dict[str, Any]:
    """One stored alert as the API shows it."""
    return {
        "id": r["id"], "rule": r["rule"], "action": ACTIONS.get(r["rule"], r["rule"]),
        "area_code": r["area_code"], "severity": r["severity"], "state": r["state"],
        "reason": r["reason"], "figures": json.loads(r["figures"]),
        "first_seen": iso(r["first_seen"]), "last_seen": iso(r["last_seen"]),
        "resolved_at": iso(r["resolved_at"]), "published_at": iso(r["published_at"]),
        "publish_pending": r["pending_event"],
    }  # fmt: skip


def _file(folder: Path | None, name: str, media: str, what: str, cmd: str) -> FileResponse:
    if folder is None:
        raise HTTPException(503, f"{what} are not configured")
    path = folder / name
    if not path.is_file():
        raise HTTPException(404, f"no {name} in {what} (`{cmd}` builds it)")
    # The HTML report opens in the browser (the dashboard links to it); data files download.
    shown = "inline" if media.startswith("text/html") else "attachment"
    return FileResponse(path, media_type=media, filename=name, content_disposition_type=shown)


def decisions_router(engine: Engine, report_dir: Path | None, opendata_dir: Path | None, *,
                     alerts_guard: Sequence[Depends] = ()) -> APIRouter:  # fmt: skip
    """GET /alerts (behind alerts_guard), /reports/{date}, /opendata/{date}.{csv,json}."""
    router = APIRouter()

    @router.get("/alerts", summary="Decision-rule alerts (newest first), with their figures",
                dependencies=list(alerts_guard), response_model=list[AlertRecord])  # fmt: skip
    def alerts(
        state: Annotated[Literal["open", "resolved", "all"], Query()] = "open",
        area: Annotated[str | None, Query(max_length=80, description="area_code")] = None,
        rule: Annotated[str | None, Query(pattern=r"^[a-z_]{1,64}$")] = None,
        since: Annotated[
            ApiTime | None,
            Query(description="only alerts seen (first_seen or last_seen) at or after this"),
        ] = None,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    ) -> list[dict[str, Any]]:
        a = schema.alerts.c
        q = select(schema.alerts).order_by(a.id.desc()).limit(limit)
        if state != "all":
            q = q.where(a.state == state)
        if area is not None:
            q = q.where(a.area_code == area)
        if rule is not None:
            q = q.where(a.rule == rule)
        if since is not None:
            t = since.astimezone(UTC)
            q = q.where(or_(a.last_seen >= t, a.resolved_at >= t))
        with engine.connect() as conn:
            return [alert_json(r) for r in conn.execute(q).mappings()]

    @router.get("/reports/{day}", summary="The daily report of one day (JSON, CSV or HTML)")
    def report(
        day: ApiDay, format: Annotated[Literal["json", "csv", "html"], Query()] = "json"
    ) -> FileResponse:
        name = f"siaga-report-{day.isoformat()}.{format}"
        return _file(report_dir, name, MEDIA[format], "reports",
                     f"siaga central report --date {day}")  # fmt: skip

    @router.get("/opendata/datadictionary.json", summary="Open data fields, types and units")
    def dictionary() -> FileResponse:
        return _file(opendata_dir, "datadictionary.json", MEDIA["json"], "open data",
                     "siaga central opendata --date D")  # fmt: skip

    @router.get("/opendata/{day}.{fmt}", summary="One day's per-kelurahan open data (CSV/JSON)")
    def opendata(day: ApiDay, fmt: Literal["csv", "json"]) -> FileResponse:
        name = f"kelurahan-daily-{day.isoformat()}.{fmt}"
        return _file(opendata_dir, name, MEDIA[fmt], "open data",
                     f"siaga central opendata --date {day}")  # fmt: skip

    return router
