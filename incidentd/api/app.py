"""The FastAPI application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.exc import DataError

from incidentd.api import ui
from incidentd.api.deps import AppState
from incidentd.api.routes import catalog, incidents, insights, intake, lineage, notify
from incidentd.schemas.settings import Settings
from incidentd.storage.db import make_engine
from incidentd.storage.graphs import GraphCache


def create_app(settings: Settings) -> FastAPI:
    """Build the app; the engine is created at start-up and disposed at shutdown."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not settings.database_url:
            raise RuntimeError("INCIDENTD_DATABASE_URL is not set")
        engine = make_engine(settings.database_url, pool_size=10)
        app.state.incidentd = AppState(settings, engine, GraphCache())
        try:
            yield
        finally:
            engine.dispose()

    app = FastAPI(
        title="incidentd",
        version="1.0",
        description="Correlated data-quality incidents with their blast radius.",
        lifespan=lifespan,
    )
    app.include_router(notify.router)
    app.include_router(insights.router)  # before incidents: /incidents/summary is no id
    app.include_router(incidents.router)
    app.include_router(catalog.router)
    app.include_router(lineage.router)
    app.include_router(intake.router)  # after insights: POST /alerts/search is no tool
    ui.install(app)  # the web UI under /ui/ (routes, static files, HTML errors)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": e.get("type")}
            for e in exc.errors()
        ]
        summary = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in problems)
        return JSONResponse(status_code=422, content={"detail": summary, "errors": problems})

    @app.exception_handler(DataError)
    async def _unstorable(request: Request, exc: DataError) -> JSONResponse:
        # The database refused a value the models let through (a NUL character, a number
        # out of range): the request is at fault, not the server.
        reason = str(exc.orig).splitlines()[0] if exc.orig else "invalid value"
        return JSONResponse(status_code=422, content={"detail": f"value not accepted: {reason}"})

    @app.get("/healthz", include_in_schema=False)
    def healthz(request: Request) -> Response:
        try:
            with request.app.state.incidentd.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception:
            return PlainTextResponse("database unreachable\n", status_code=503)
        return PlainTextResponse("ok\n")

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app
