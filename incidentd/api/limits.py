"""Request-body limits, enforced while the body is read (CONTRACT §10).

Every route accepts at most `INCIDENTD_MAX_BODY_BYTES` (1 MiB by default) unless its endpoint
is decorated with `@body_limit(n)`. `BodyLimitMiddleware` refuses a request whose
`Content-Length` is too large before reading a byte of it, and counts a streamed (chunked) body
as it arrives, answering 413 the moment it passes the limit; the endpoint never sees the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from incidentd.api.replies import json_reply

KIB = 1024
MIB = 1024 * KIB
DEFAULT_BODY_LIMIT = 1 * MIB
"""The limit of a route without `@body_limit` (setting `INCIDENTD_MAX_BODY_BYTES`)."""

_ATTRIBUTE = "__incidentd_body_limit__"
F = TypeVar("F", bound=Callable[..., Any])


def body_limit(max_bytes: int) -> Callable[[F], F]:
    """Give one endpoint its own body limit (put it below the route decorator)."""

    def mark(endpoint: F) -> F:
        setattr(endpoint, _ATTRIBUTE, max_bytes)
        return endpoint

    return mark


def route_limit(scope: Scope, default: int) -> int:
    """The body limit of the endpoint that routing put into `scope` (else the default)."""
    return int(getattr(scope.get("endpoint"), _ATTRIBUTE, default))


def too_large(limit: int) -> dict[str, str]:
    """The body of a 413 answer."""
    return {"detail": f"request body exceeds this route's limit of {limit} bytes"}


class BodyLimitMiddleware:
    """Refuse bodies over the route's limit: by `Content-Length`, or while streaming.

    The route is known only once the router has run, which is before the endpoint first asks
    for the body: the limit is looked up then, in the scope the router filled in.
    """

    def __init__(self, app: ASGIApp, default_limit: int = DEFAULT_BODY_LIMIT) -> None:
        self.app = app
        self.default_limit = default_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await _Guarded(self.app, self.default_limit, send).run(scope, receive)


def _content_length(scope: Scope) -> int | None:
    """The declared length; None when absent or not a number (the server rejects those)."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() else None
    return None


class _Guarded:
    """One request whose body is counted; past the limit the app sees a disconnect."""

    def __init__(self, app: ASGIApp, default_limit: int, send: Send) -> None:
        self.app, self.default_limit, self.send = app, default_limit, send
        self.limit: int | None = None
        self.received = 0
        self.started = False
        self.refused = False

    async def run(self, scope: Scope, receive: Receive) -> None:
        async def counted() -> Message:
            if self.limit is None:
                self.limit = route_limit(scope, self.default_limit)
                declared = _content_length(scope)
                if declared is not None and declared > self.limit:
                    await self._refuse()
            if self.refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                self.received += len(message.get("body", b""))
                if self.received > self.limit:
                    await self._refuse()
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if self.refused:
                return  # the 413 has been sent; whatever the app says after it is dropped
            if message["type"] == "http.response.start":
                self.started = True
            await self.send(message)

        try:
            await self.app(scope, counted, guarded_send)
        except Exception:
            if not self.refused:
                raise

    async def _refuse(self) -> None:
        if not self.started and not self.refused:
            assert self.limit is not None
            await json_reply(self.send, 413, too_large(self.limit), close=True)
        self.refused = True
