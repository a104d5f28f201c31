"""The civic input API: `POST /civic/{module}` with an institution's bearer token.

The body is a JSON list of row objects, as in an import file. Answers: 401 without a valid
token; 403 when the institution may not write the module or a row belongs to another hospital,
pharmacy or market (nothing is written; the refusal is audited); 422 with one
`rows[i]: field: reason` line per problem; 413 for a body over `[api] max_body_bytes`; 200 with
what was inserted, updated or already there. Writes are audited as `api:<institution_id>`;
re-sending the same rows is a no-op.

The token and the module are checked before the body is read: an anonymous client never makes
the collector read, hold or parse its body (the body is read by hand, not declared as a FastAPI
body parameter, which FastAPI would read and parse before any dependency runs).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Engine

from central.api.access import Credentials, caller, unauthorized
from central.civic import MODULES
from central.civic.common import AreaCodes, CivicModule, RawRow
from central.civic.importer import ImportRowsError, audit_denied, validate_rows, write_rows
from central.civic.institutions import Institution

MAX_ROWS = 10_000
_BODY = {"required": True, "description": "a JSON list of row objects (at most 10,000)",
         "content": {"application/json": {"schema": {"type": "array",
                                                     "items": {"type": "object"}}}}}  # fmt: skip


def _invalid(*detail: str) -> HTTPException:
    return HTTPException(422, {"error": "invalid rows", "detail": list(detail)})


def _parse(body: bytes) -> list[Any]:
    try:
        rows = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        raise _invalid(f"body: invalid JSON: {exc}") from None
    if not isinstance(rows, list) or len(rows) > MAX_ROWS:
        raise _invalid(f"body: a list of at most {MAX_ROWS} objects")
    return rows


def _authorize(engine: Engine, credentials: Any, module: str) -> tuple[Institution, CivicModule]:
    who = caller(engine, credentials)
    if who is None:
        raise unauthorized("institution token")
    mod = MODULES.get(module)
    if mod is None:
        raise HTTPException(404, f"unknown module {module!r}: one of {', '.join(MODULES)}")
    if not who.may_write(module):
        reason = f"{who.institution_id} may not write {module}"
        audit_denied(engine, mod, who=f"api:{who.institution_id}", reason=reason, keys=[])
        raise HTTPException(403, reason)
    return who, mod


def _write(engine: Engine, who: Institution, mod: CivicModule, body: bytes,
           areas: Callable[[], AreaCodes]) -> dict[str, Any]:  # fmt: skip
    raws = [RawRow(i, r) for i, r in enumerate(_parse(body))]
    try:
        valid = validate_rows(mod, raws, areas(), where="rows", label=lambda i: f"rows[{i}]")
    except ImportRowsError as exc:
        more = exc.total - len(exc.errors)
        raise _invalid(*exc.errors, *([f"... and {more} more"] if more else [])) from None
    if mod.owner is not None:
        foreign = sorted({str(getattr(r, mod.owner)) for r in valid} - who.owner_ids)
        if foreign:
            reason = f"{who.institution_id} may not write {mod.owner} {', '.join(foreign)}"
            keys = [{k: r.values()[k] for k in mod.key} for r in valid
                    if str(getattr(r, mod.owner)) in foreign]  # fmt: skip
            audit_denied(engine, mod, who=f"api:{who.institution_id}", reason=reason, keys=keys)
            raise HTTPException(403, reason)
    result = write_rows(engine, mod, valid, who=f"api:{who.institution_id}")
    return {"module": mod.name, "schema_version": mod.schema_version, "rows": result.rows,
            "inserted": result.inserted, "updated": result.updated,
            "unchanged": result.unchanged, "stale": result.stale}  # fmt: skip


def civic_router(engine: Engine, areas: Callable[[], AreaCodes]) -> APIRouter:
    """The router to include in central's app; areas gives the current area codes."""
    router = APIRouter(tags=["civic input"])

    @router.post("/civic/{module}", summary="Write civic records of one module (idempotent)",
                 openapi_extra={"requestBody": _BODY})  # fmt: skip
    async def post_rows(module: str, request: Request,
                        credentials: Credentials) -> dict[str, Any]:  # fmt: skip
        # Parsing and database work run in the thread pool, as for a plain `def` endpoint.
        who, mod = await run_in_threadpool(_authorize, engine, credentials, module)
        body = await request.body()  # only now, and bounded by [api] max_body_bytes
        return await run_in_threadpool(_write, engine, who, mod, body, areas)

    return router
