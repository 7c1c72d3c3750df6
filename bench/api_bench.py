"""`python -m bench api`: the HTTP API under many clients, next to a trivial endpoint.

A fresh database gets a space with lineage, an editor and two open incidents; `incidentd api`
serves it on loopback with its default settings; `clients` clients send a mix of reads and
writes at full speed (a closed loop, so the server is driven to and past its capacity) for
`seconds`, while another process asks `/healthz` (the trivial endpoint: no database work on
the request path) every 50 ms. The table gives requests/s, p50 and p99 per endpoint and the
statuses seen (503 = overload answered at once, with Retry-After).
"""

from __future__ import annotations

import os
import tempfile
import uuid
from itertools import pairwise
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import text

from bench.api_load import mixed_plan, run_load
from bench.api_server import serve
from incidentd.app.embedded import EmbeddedPostgres, create_database, drop_database
from incidentd.schemas.lineage import EdgeSpec, LineageDocument, ProductSpec
from incidentd.storage.db import make_engine, migrate
from incidentd.storage.graphs import GraphCache
from incidentd.storage.lineage import import_document
from incidentd.storage.spaces import INCIDENTS_FEATURE, upsert_space
from incidentd.storage.users import create_user
from incidentd.worker.parsing import parse_alert
from incidentd.worker.pipeline import process_batch

SPACE = "finance"
_CHAIN = ["raw", "clean", "mart", "report"]


def _seed(url: str) -> tuple[str, list[str]]:
    """The space, its lineage, an editor's token and two open incidents."""
    engine = make_engine(url, pool_size=1)
    try:
        with engine.begin() as conn:
            upsert_space(conn, SPACE, features=[INCIDENTS_FEATURE])
            products = [ProductSpec(id=p, space=SPACE) for p in [*_CHAIN, "island"]]
            edges = [EdgeSpec(upstream=u, downstream=d) for u, d in pairwise(_CHAIN)]
            import_document(conn, LineageDocument(products=products, edges=edges))
            token = create_user(conn, "bench@example.com", SPACE, "editor")
        alerts = [
            parse_alert(
                orjson.dumps(
                    {
                        "schema_version": 1,
                        "alert_id": f"a-{product}",
                        "space": SPACE,
                        "product_id": product,
                        "alert_type": "quality_check_failed",
                        "severity": "high",
                        "occurred_at": "2026-02-27T14:00:00Z",
                    }
                )
            )
            for product in ("raw", "island")
        ]
        process_batch(engine, alerts, [], GraphCache(), incidents_topic="t", default_space=None)
        with engine.connect() as conn:
            incidents = [str(i) for i in conn.execute(text("SELECT id FROM incidents")).scalars()]
    finally:
        engine.dispose()
    return token, incidents


def api_bench(*, clients: int, seconds: float) -> dict[str, Any]:
    """Run the phase on embedded PostgreSQL (or INCIDENTD_DATABASE_URL's server)."""
    admin = os.environ.get("INCIDENTD_DATABASE_URL", "")
    embedded = None if admin else EmbeddedPostgres()
    if embedded is not None:
        embedded.start()
        admin = embedded.url
    name = f"bench_api_{uuid.uuid4().hex[:8]}"
    try:
        url = create_database(admin, name)
        migrate(url)
        token, incidents = _seed(url)
        with tempfile.TemporaryDirectory() as tmp, serve(url, Path(tmp) / "api.log") as server:
            result = run_load(
                server.base_url,
                {"Authorization": f"Bearer {token}"},
                mixed_plan(SPACE, incidents),
                clients=clients,
                seconds=seconds,
            )
    finally:
        drop_database(admin, name)
        if embedded is not None:
            embedded.close()
    return {
        "clients": clients,
        "seconds": round(result.seconds, 1),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
        "slowest_ms": round(1000 * result.slowest(), 1),
        "endpoints": result.table(),
    }
