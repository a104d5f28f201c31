"""The civic input API: `POST /civic/{module}` with an institution's bearer token.

The body is a JSON list of row objects, as in an import file. Answers: 401 without a valid
token; 403 when the institution may not write the module or a row belongs to another hospital,
pharmacy or market (nothing is written; the refusal is audited); 422 with one
`rows[i]: field: reason` line per problem; 200 with what was inserted, updated or already there.
Writes are audited as `api:<institution_id>`; re-sending the same rows is a no-op.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, HTTPException
from sqlalchemy import Engine

from central.civic import MODULES
from central.civic.common import AreaCodes, RawRow
from central.civic.importer import ImportRowsError, audit_denied, validate_rows, write_rows
from central.civic.institutions import Institution, authenticate

MAX_ROWS = 10_000


def _institution(engine: Engine, authorization: str | None) -> Institution:
    scheme, _, token = (authorization or "").partition(" ")
    who = authenticate(engine, token.strip()) if scheme.lower() == "bearer" and token else None
    if who is None:
        raise HTTPException(401, "a valid institution token is required (Authorization: Bearer)",
                            headers={"WWW-Authenticate": "Bearer"})  # fmt: skip
    return who


def civic_router(engine: Engine, areas: Callable[[], AreaCodes]) -> APIRouter:
    """The router to include in central's app; areas gives the current area codes."""
    router = APIRouter(tags=["civic input"])

    @router.post("/civic/{module}", summary="Write civic records of one module (idempotent)")
    def post_rows(
        module: str,
        rows: Annotated[Any, Body(description="a JSON list of row objects")],
        authorization: Annotated[str | None, Header()] = None,
    ) -> dict[str, Any]:
        who = _institution(engine, authorization)
        mod = MODULES.get(module)
        if mod is None:
            raise HTTPException(404, f"unknown module {module!r}: one of {', '.join(MODULES)}")
        if not who.may_write(module):
            reason = f"{who.institution_id} may not write {module}"
            audit_denied(engine, mod, who=f"api:{who.institution_id}", reason=reason, keys=[])
            raise HTTPException(403, reason)
        if not isinstance(rows, list) or len(rows) > MAX_ROWS:
            raise HTTPException(
                422,
                {
                    "error": "invalid rows",
                    "detail": [f"body: a list of at most {MAX_ROWS} objects"],
                },
            )
        raws = [RawRow(i, r) for i, r in enumerate(rows)]
        try:
            valid = validate_rows(mod, raws, areas(), where="rows", label=lambda i: f"rows[{i}]")
        except ImportRowsError as exc:
            detail = exc.errors + ([f"... and {exc.total - len(exc.errors)} more"]
                                   if exc.total > len(exc.errors) else [])  # fmt: skip
            raise HTTPException(422, {"error": "invalid rows", "detail": detail}) from None
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

    return router
