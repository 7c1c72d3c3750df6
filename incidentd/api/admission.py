"""Who gets in, before any work is done: the caller's token, then a free request slot.

FastAPI reads a request's body before it solves dependencies, so checking the token in a
dependency would let an anonymous client make the server read (and hold) any body. Here the
token is checked from the headers alone, in a short transaction of its own, before the route
runs or a byte of the body is read; the route finds the caller in `request.state.principal`.
The web UI (`/ui/…`, its own cookie sign-in) and the probes are left to themselves.
"""

from __future__ import annotations

from collections.abc import Callable

import anyio
from starlette.types import ASGIApp, Receive, Scope, Send

from incidentd.api.replies import json_reply
from incidentd.storage.users import Principal

PUBLIC_PATHS = frozenset(
    {"/healthz", "/metrics", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
)
"""Paths answered without a token (the UI under `/ui` signs in with a cookie)."""
UI_PREFIX = "/ui"
PRINCIPAL = "principal"
"""Key of the authenticated caller in the ASGI scope's `state`."""

Authenticator = Callable[[str], Principal | None]
"""`authenticate(token)` -> the caller, or None for an unknown, expired or revoked token."""


def is_public(path: str) -> bool:
    """Whether `path` is answered without a bearer token."""
    return path in PUBLIC_PATHS or path == UI_PREFIX or path.startswith(UI_PREFIX + "/")


def bearer_token(scope: Scope) -> str | None:
    """The token of an `Authorization: Bearer …` header, if any."""
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, rest = value.decode("latin-1").strip().partition(" ")
            token: str = rest.strip()
            if scheme.lower() == "bearer" and token:
                return token
            return None
    return None


async def _unauthorized(send: Send, detail: str) -> None:
    await json_reply(
        send, 401, {"detail": detail}, headers={"WWW-Authenticate": "Bearer"}, close=True
    )


class AuthMiddleware:
    """401 before any work for a request without a valid bearer token."""

    def __init__(self, app: ASGIApp, authenticator: Callable[[Scope], Authenticator]) -> None:
        self.app = app
        self.authenticator = authenticator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or is_public(scope["path"]):
            await self.app(scope, receive, send)
            return
        token = bearer_token(scope)
        if token is None:
            await _unauthorized(send, "missing bearer token")
            return
        if len(token) > 512:
            await _unauthorized(send, "invalid, expired or revoked token")
            return
        found = await anyio.to_thread.run_sync(self.authenticator(scope), token)
        if found is None:
            await _unauthorized(send, "invalid, expired or revoked token")
            return
        scope.setdefault("state", {})[PRINCIPAL] = found
        await self.app(scope, receive, send)


UNLIMITED_PATHS = frozenset({"/healthz", "/metrics"})
"""Probes never queue behind requests: a busy server must not look dead to its orchestrator."""


class OverloadMiddleware:
    """At most `slots` requests at work; a request waits `wait_seconds` for one, else 503.

    The slots match the request threads and the database pool (setting `api_concurrency`), so
    a request that got a slot never waits for a thread or a connection; one that did not is
    told at once (JSON 503 with `Retry-After`) instead of hanging until a pool timeout.
    """

    def __init__(self, app: ASGIApp, slots: int, wait_seconds: float) -> None:
        self.app = app
        self.slots = slots
        self.wait_seconds = wait_seconds
        self._semaphore: anyio.Semaphore | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in UNLIMITED_PATHS:
            await self.app(scope, receive, send)
            return
        if self._semaphore is None:
            self._semaphore = anyio.Semaphore(self.slots)
        semaphore = self._semaphore
        acquired = False
        with anyio.move_on_after(self.wait_seconds):
            await semaphore.acquire()
            acquired = True
        if not acquired:
            await json_reply(
                send,
                503,
                {"detail": "the server is busy; retry after the time in Retry-After (seconds)"},
                headers={"Retry-After": "1"},
            )
            return
        try:
            await self.app(scope, receive, send)
        finally:
            semaphore.release()
