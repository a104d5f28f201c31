"""Central's HTTP API: quarantined count windows (central/store/quarantine.py), newest first.

Operator data like /windows: which box sent what that could not be true, and why. The figures
never include these windows; this is where they can be seen.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy import Engine

from central.ingest.plausibility import QUARANTINE_REASONS
from central.store import quarantine
from siaga.wire import ID_PATTERN

MAX_ROWS = 1000
_REASON_PATTERN = "^(" + "|".join(QUARANTINE_REASONS) + ")$"


def quarantine_router(engine: Engine) -> APIRouter:
    """GET /quarantine."""
    router = APIRouter()

    @router.get("/quarantine", summary="Quarantined count windows with their reasons, newest first")
    def quarantined(
        limit: Annotated[int, Query(ge=1, le=MAX_ROWS)] = 100,
        agent_id: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
        reason: Annotated[str | None, Query(pattern=_REASON_PATTERN)] = None,
    ) -> Any:
        rows = quarantine.recent(engine, limit=limit, agent_id=agent_id, reason=reason)
        return {"totals": quarantine.totals(engine), "count": len(rows), "windows": rows}

    return router
