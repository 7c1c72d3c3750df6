"""The FastAPI application."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import anyio
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError
from starlette.types import Scope

from incidentd.api import errors, probes, ui
from incidentd.api.admission import Authenticator, AuthMiddleware, OverloadMiddleware
from incidentd.api.deps import AppState
from incidentd.api.limits import BodyLimitMiddleware
from incidentd.api.query_check import reject_unknown_query
from incidentd.api.routes import (
    backend,
    catalog,
    incidents,
    insights,
    intake,
    lineage,
    notify,
    subscriptions,
    tokens,
)
from incidentd.schemas.settings import Settings
from incidentd.storage.db import make_engine
from incidentd.storage.graphs import GraphCache
from incidentd.storage.users import authenticate_token

_GIL_SWITCH_SECONDS = 0.001
_SPARE_THREADS = 2
"""Threads beyond the request slots, for `/metrics`, which does not queue for a slot."""


def _authenticator(scope: Scope) -> Authenticator:
    state: AppState = scope["app"].state.incidentd
    return partial(authenticate_token, state.engine)


def create_app(settings: Settings) -> FastAPI:
    """Build the app; the engine is created at start-up and disposed at shutdown."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not settings.database_url:
            raise RuntimeError("INCIDENTD_DATABASE_URL is not set")
        slots = settings.api_concurrency
        # One slot = one thread = one connection: a request at work never waits for either.
        engine = make_engine(
            settings.database_url, pool_size=slots, pool_timeout=settings.api_queue_seconds
        )
        anyio.to_thread.current_default_thread_limiter().total_tokens = slots + _SPARE_THREADS
        # The event loop admits, refuses and probes; with request threads holding the GIL for
        # the default 5 ms each, a probe would wait tens of milliseconds for its turn.
        sys.setswitchinterval(_GIL_SWITCH_SECONDS)
        app.state.incidentd = AppState(settings, engine, GraphCache())
        health = app.state.health = probes.HealthCheck.open(settings.database_url)
        await health.check()  # ready as soon as the app is: /healthz answers ok at once
        watcher = asyncio.create_task(health.watch())
        try:
            yield
        finally:
            watcher.cancel()
            engine.dispose()
            health.engine.dispose()

    app = FastAPI(
        title="incidentd",
        version="1.0",
        description="Correlated data-quality incidents with their blast radius.",
        lifespan=lifespan,
        dependencies=[Depends(reject_unknown_query)],  # every route, added now or later
    )
    # Added last = runs first: a free slot, then the caller, then the body limit.
    app.add_middleware(BodyLimitMiddleware, default_limit=settings.max_body_bytes)
    app.add_middleware(AuthMiddleware, authenticator=_authenticator)
    app.add_middleware(
        OverloadMiddleware,
        slots=settings.api_concurrency,
        wait_seconds=settings.api_queue_seconds,
    )
    app.include_router(notify.router)
    app.include_router(subscriptions.router)
    app.include_router(tokens.router)
    app.include_router(insights.router)  # before incidents: /incidents/summary is no id
    app.include_router(incidents.router)
    app.include_router(catalog.router)
    app.include_router(lineage.router)
    app.include_router(intake.router)  # after insights: POST /alerts/search is no tool
    app.include_router(backend.router)  # /api/backend/{tenant}: the asset-incident API
    errors.install(app)  # domain errors -> answers; error bodies in /openapi.json
    ui.install(app)  # the web UI under /ui/ (routes, static files, HTML errors)
    probes.install(app)  # /healthz, /metrics, 503 for an exhausted pool or a database down

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": e.get("type")}
            for e in exc.errors()
        ]
        summary = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in problems)
        summary += _content_type_hint(request, problems)
        return JSONResponse(status_code=422, content={"detail": summary, "errors": problems})

    @app.exception_handler(DataError)
    async def _unstorable(request: Request, exc: DataError) -> JSONResponse:
        # The database refused a value the models let through (a NUL character, a number
        # out of range): the request is at fault, not the server.
        reason = str(exc.orig).splitlines()[0] if exc.orig else "invalid value"
        return JSONResponse(status_code=422, content={"detail": f"value not accepted: {reason}"})

    return app


def _content_type_hint(request: Request, problems: list[dict[str, Any]]) -> str:
    """Why a body was no object: it was not sent as JSON (`curl -d` sends a form)."""
    sent = request.headers.get("content-type", "")
    unread = any(p["loc"] == ["body"] and p["type"] == "model_attributes_type" for p in problems)
    if not unread or "json" in sent.lower():
        return ""
    return f" (send the body as JSON with Content-Type: application/json, not '{sent[:100]}')"
