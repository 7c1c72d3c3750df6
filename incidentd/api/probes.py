"""`/healthz` and `/metrics`, and the answers given when the server itself is short of means.

The health check has a database connection and a thread of its own and runs in the
background; `/healthz` answers from its last finding in microseconds while every request slot
is busy: a liveness probe must never wait behind load.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import anyio
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from incidentd.storage.db import make_engine

HEALTH_TIMEOUT_SECONDS = 2.0
CHECK_EVERY_SECONDS = 1.0
STALE_SECONDS = 5.0
RETRY_AFTER_SECONDS = 1


@dataclass(slots=True)
class HealthCheck:
    """The database as last seen by a check that runs every second on a connection of its own.

    `/healthz` answers from that finding, so it never waits for a thread, a connection or the
    database; a finding older than `STALE_SECONDS` counts as a failure.
    """

    engine: Engine
    limiter: anyio.CapacityLimiter
    healthy: bool = False
    checked_at: float = 0.0

    @classmethod
    def open(cls, database_url: str) -> HealthCheck:
        """Call inside the event loop (the limiter belongs to it)."""
        engine = make_engine(database_url, pool_size=1, max_overflow=0, pool_timeout=1.0)
        return cls(engine, anyio.CapacityLimiter(1))

    def ping(self) -> None:
        """Raise when the database does not answer."""
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    async def check(self) -> None:
        """Ping once (in the check's own thread) and record the finding."""
        healthy = False
        with anyio.move_on_after(HEALTH_TIMEOUT_SECONDS):
            try:
                await anyio.to_thread.run_sync(
                    self.ping, limiter=self.limiter, abandon_on_cancel=True
                )
                healthy = True
            except Exception:
                healthy = False
        self.healthy, self.checked_at = healthy, time.monotonic()

    async def watch(self) -> None:
        """Check every `CHECK_EVERY_SECONDS` until cancelled."""
        while True:
            await self.check()
            await anyio.sleep(CHECK_EVERY_SECONDS)

    def ok(self) -> bool:
        """Whether the last check passed and is recent."""
        return self.healthy and time.monotonic() - self.checked_at < STALE_SECONDS


def busy() -> JSONResponse:
    """The answer to a request that found no free slot, thread or connection."""
    return JSONResponse(
        status_code=503,
        content={"detail": "the server is busy; retry after the time in Retry-After (seconds)"},
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def install(app: FastAPI) -> None:
    """Add the probes and the 503 answers for an exhausted pool or an unreachable database."""

    @app.get("/healthz", include_in_schema=False)
    async def healthz(request: Request) -> Response:
        check: HealthCheck = request.app.state.health
        if check.ok():
            return PlainTextResponse("ok\n")
        return PlainTextResponse("database unreachable\n", status_code=503)

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.exception_handler(PoolTimeoutError)
    async def _no_connection(request: Request, exc: PoolTimeoutError) -> JSONResponse:
        return busy()

    @app.exception_handler(OperationalError)
    async def _database_down(request: Request, exc: OperationalError) -> JSONResponse:
        return JSONResponse(
            status_code=503,
            content={"detail": "the database is unavailable; retry later"},
            headers={"Retry-After": str(RETRY_AFTER_SECONDS * 5)},
        )
