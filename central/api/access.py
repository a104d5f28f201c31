"""Who may read what over the HTTP API: the city's published figures for everyone, operator
data only with a token.

Public (no token): `/healthz` (its status only), `/summaries/{city,kecamatan,kelurahan}[/…]`,
`/areas`, `/reports/…`, `/opendata/…`, `/kota` (the city page: civic aggregates), `/docs`,
`/openapi.json` — what the city publishes anyway.
Operator (a token with the read scope: `siaga central institution add ID --name N --read`):
`/agents`, `/cameras` (names, coordinates, health), `/summaries/camera[/…]`, `/windows` (raw
counts), `/gaps`, `/alerts` (recommended operations, per hospital and pharmacy figures),
`/metrics`, and `/healthz`'s full body. Without a token or with an unknown or revoked one: 401;
a valid token without the read scope (a hospital's civic input token): 403.

`[api] open_reads = true` opens every GET again, for an API reachable only from a trusted
network. Writing (`POST /civic/{module}`) always needs an institution token for the module.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import HTTPException, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine

from central.civic.institutions import Institution, authenticate

BEARER = HTTPBearer(
    auto_error=False,  # our own 401/403 with a reason (and open_reads) instead of FastAPI's
    description="an institution token (`siaga central institution add`); operator endpoints "
    "need one issued with --read",
)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)]


def caller(engine: Engine, credentials: HTTPAuthorizationCredentials | None) -> Institution | None:
    """The institution whose unrevoked token came as `Authorization: Bearer …`, or None."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        return None
    token = credentials.credentials.strip()
    return authenticate(engine, token) if token else None


def unauthorized(what: str) -> HTTPException:
    """401 asking for a bearer token."""
    return HTTPException(401, f"a valid {what} is required (Authorization: Bearer)",
                         headers={"WWW-Authenticate": "Bearer"})  # fmt: skip


@dataclass(frozen=True)
class ReadAccess:
    """The read policy of one app: open to all (a trusted LAN) or operator data by token."""

    engine: Engine
    open_reads: bool = False

    def may_read(self, credentials: HTTPAuthorizationCredentials | None) -> bool:
        """Whether these credentials see operator data (no exception: for partial answers)."""
        if self.open_reads:
            return True
        who = caller(self.engine, credentials)
        return who is not None and who.reader

    def check(self, credentials: HTTPAuthorizationCredentials | None) -> None:
        """Raise 401 (no valid token) or 403 (a token without the read scope)."""
        if self.open_reads:
            return
        who = caller(self.engine, credentials)
        if who is None:
            raise unauthorized("token with the read scope")
        if not who.reader:
            raise HTTPException(403, f"{who.institution_id} may not read operator data "
                                "(its token has no read scope)")  # fmt: skip

    def dependency(self) -> Callable[..., None]:
        """A FastAPI dependency enforcing check (for routes and routers)."""

        def operator_token(credentials: Credentials) -> None:
            self.check(credentials)

        return operator_token
