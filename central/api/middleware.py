"""The HTTP API's middleware, pure ASGI: the request body limit and the request counters.

BodyLimit refuses a body over the limit before anything reads or parses it: a declared
Content-Length over the limit is answered 413 at once, its body never read; a chunked body is
counted as it streams and refused as soon as it passes the limit. Endpoints authenticate before
they read a body, so an anonymous client can make the collector hold at most one receive
buffer per request, and an authenticated one at most max_bytes.

Neither is a Starlette BaseHTTPMiddleware: that one runs the app in a task group, which wraps
an exception raised while reading the body (the 413) in an ExceptionGroup no handler matches.
"""

from __future__ import annotations

import json
import time

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024  # 10,000 civic rows of ~300 bytes, pretty-printed


class BodyTooLarge(HTTPException):
    """A streamed body passed the limit; the app's exception handler answers 413."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, _detail(max_bytes), headers={"Connection": "close"})


def _detail(max_bytes: int) -> str:
    return f"request body too large: at most {max_bytes} bytes ([api] max_body_bytes)"


class BodyLimit:
    """ASGI middleware: 413 for a request body over max_bytes, before it is read."""

    def __init__(self, app: ASGIApp, max_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse by Content-Length, else count what the app receives."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await _refuse(send, self.max_bytes)  # the body stays unread; the server closes
            return
        seen = 0
        started = False

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except Exception as exc:  # normally the app's handler has answered 413 already
            if started or not _too_large(exc):
                raise
            await _refuse(send, self.max_bytes)


def _too_large(exc: BaseException) -> bool:
    # A task group between here and the endpoint (a BaseHTTPMiddleware) wraps it in a group.
    if isinstance(exc, BaseExceptionGroup):
        return all(_too_large(e) for e in exc.exceptions)
    return isinstance(exc, BodyTooLarge)


class RequestCounter:
    """ASGI middleware: requests by (route, method, status) and seconds by route, for /metrics."""

    def __init__(self, app: ASGIApp, requests: dict[tuple[str, str, int], int],
                 seconds: dict[str, float]) -> None:  # fmt: skip
        self.app = app
        self.requests = requests
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve, then count under the matched route's template (the path for unmatched)."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        status = 500  # an exception that escapes becomes ServerErrorMiddleware's 500

        async def noted(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, noted)
        finally:
            # The router sets scope["route"] in place; templates keep the label set small.
            route = getattr(scope.get("route"), "path", "unmatched")
            key = (route, scope["method"], status)
            self.requests[key] = self.requests.get(key, 0) + 1
            self.seconds[route] = self.seconds.get(route, 0.0) + time.perf_counter() - t0


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the HTTP server has refused a malformed one already
    return None


async def _refuse(send: Send, max_bytes: int) -> None:
    body = json.dumps({"detail": _detail(max_bytes)}).encode()
    await send({"type": "http.response.start", "status": 413, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        (b"connection", b"close")]})  # fmt: skip
    await send({"type": "http.response.body", "body": body})
