"""Institutions that use the HTTP API with their own bearer token: civic writers and readers.

A token is shown once when the institution is added and stored only as its SHA-256 (tokens are
32 random bytes, so a plain hash is enough: there is nothing to guess). An institution may write
the civic modules it was given and, for modules with an owner column, only its own ids' records.
One given the read scope (`api:read`, stored beside the module names) may also read the
operator endpoints of the API (agents, cameras, raw windows, gaps, alerts, metrics): a
dashboard, an operator's script or Prometheus. The same table, CLI and revocation serve both.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, insert, select, update

from central.store import schema

TOKEN_BYTES = 32
# A scope, not a module: kept in the modules column so that no schema change is needed; no
# module can be named like it (module names are plain words).
READ_SCOPE = "api:read"


@dataclass(frozen=True, slots=True)
class Institution:
    """Who a token belongs to, what it may write and whether it may read operator data."""

    institution_id: str
    name: str
    modules: frozenset[str]
    owner_ids: frozenset[str]
    reader: bool = False

    def may_write(self, module: str) -> bool:
        """Whether this institution writes that module at all."""
        return module in self.modules


def token_hash(token: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def add_institution(
    engine: Engine, institution_id: str, name: str, *, modules: Iterable[str],
    owner_ids: Iterable[str] = (), reader: bool = False,
) -> str:  # fmt: skip
    """Register an institution; returns its new token (the only time it is seen in clear)."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    scopes = set(modules) | ({READ_SCOPE} if reader else set())
    with engine.begin() as conn:
        conn.execute(insert(schema.civic_institutions).values(
            institution_id=institution_id, name=name, token_sha256=token_hash(token),
            modules=json.dumps(sorted(scopes)), owner_ids=json.dumps(sorted(set(owner_ids))),
            created_at=datetime.now(UTC), revoked=False,
        ))  # fmt: skip
    return token


def revoke_institution(engine: Engine, institution_id: str) -> bool:
    """Revoke an institution's token; False when there is no such institution."""
    t = schema.civic_institutions
    with engine.begin() as conn:
        done = conn.execute(
            update(t).where(t.c.institution_id == institution_id).values(revoked=True)
        )
    return bool(done.rowcount)


def authenticate(engine: Engine, token: str) -> Institution | None:
    """The institution holding an unrevoked token, or None."""
    t = schema.civic_institutions
    q = select(t.c.institution_id, t.c.name, t.c.modules, t.c.owner_ids).where(
        t.c.token_sha256 == token_hash(token), t.c.revoked.is_(False)
    )
    with engine.connect() as conn:
        row = conn.execute(q).first()
    if row is None:
        return None
    scopes = frozenset(json.loads(row.modules))
    return Institution(row.institution_id, row.name, scopes - {READ_SCOPE},
                       frozenset(json.loads(row.owner_ids)),
                       reader=READ_SCOPE in scopes)  # fmt: skip
