"""The API tests' tokens (operator data needs the read scope) and a real HTTP server."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Engine

from central.civic.institutions import add_institution

_ids = itertools.count()


def reader_token(engine: Engine, name: str = "ops") -> str:
    """A new token with the read scope (as `siaga central institution add ID --read` issues)."""
    return add_institution(engine, f"{name}-{next(_ids)}", "Operator", modules=(), reader=True)


def bearer(token: str) -> dict[str, str]:
    """The Authorization header of a token."""
    return {"Authorization": f"Bearer {token}"}


def reader_headers(engine: Engine) -> dict[str, str]:
    """Headers carrying a new read token."""
    return bearer(reader_token(engine))


@contextlib.contextmanager
def serving(app: Any) -> Iterator[str]:
    """The app on a real HTTP server (central's ApiServer: uvicorn on a loopback port)."""
    from central.service import ApiServer

    server = ApiServer(app, "127.0.0.1", 0)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()
