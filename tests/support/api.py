"""An API under test: a migrated database with spaces, users, lineage and incidents."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from incidentd.api.app import create_app
from incidentd.schemas.lineage import EdgeSpec, LineageDocument, ProductSpec
from incidentd.schemas.settings import Settings
from incidentd.storage.db import make_engine
from incidentd.storage.graphs import GraphCache
from incidentd.storage.lineage import import_document
from incidentd.storage.spaces import INCIDENTS_FEATURE, upsert_space
from incidentd.storage.users import create_user
from incidentd.worker.parsing import parse_alert
from incidentd.worker.pipeline import process_batch

SPACE = "finance"
LINEAGE = LineageDocument(
    products=[
        ProductSpec(id="raw", space=SPACE, name="Raw", owners=["ana@example.com"], tier="high"),
        ProductSpec(
            id="clean", space=SPACE, owners=["ana@example.com"], stewards=["st@example.com"]
        ),
        ProductSpec(id="mart", space=SPACE, owners=["bo@example.com"], tags=["finance"]),
        ProductSpec(id="report", space=SPACE, tier="critical", owners=["cfo@example.com"]),
        ProductSpec(id="island", space=SPACE, owners=["ivy@example.com"]),
    ],
    edges=[
        EdgeSpec(upstream="raw", downstream="clean"),
        EdgeSpec(upstream="clean", downstream="mart"),
        EdgeSpec(upstream="mart", downstream="report"),
    ],
)


@dataclass
class ApiWorld:
    """A client, a token per role, and the engine behind them."""

    client: TestClient
    engine: Engine
    tokens: dict[str, str]
    settings: Settings
    incidents: dict[str, str] = field(default_factory=dict)

    def headers(self, role: str = "editor") -> dict[str, str]:
        """Authorization header of a user with `role` in the finance space."""
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def alerts(self, *bodies: dict[str, Any]) -> None:
        """Correlate alerts as the worker would."""
        batch = [parse_alert(orjson.dumps({**_BASE, **b})) for b in bodies]
        process_batch(self.engine, batch, [], GraphCache(), incidents_topic="t", default_space=None)

    def incident_of(self, product: str) -> str:
        """The open incident holding an alert on `product`."""
        with self.engine.connect() as conn:
            return str(
                conn.execute(
                    text(
                        "SELECT i.id FROM incidents i JOIN alerts a ON a.incident_id = i.id "
                        "WHERE a.product_id = :p AND i.merged_into IS NULL LIMIT 1"
                    ),
                    {"p": product},
                ).scalar_one()
            )


_BASE: dict[str, Any] = {
    "schema_version": 1,
    "space": SPACE,
    "alert_type": "quality_check_failed",
    "severity": "high",
}


def make_world(db_url: str) -> Iterator[ApiWorld]:
    """Spaces `finance` (with incidents) and `plain` (without), users of every role."""
    engine = make_engine(db_url, pool_size=2)
    with engine.begin() as conn:
        upsert_space(conn, SPACE, features=[INCIDENTS_FEATURE])
        upsert_space(conn, "plain", features=[])
        upsert_space(conn, "other", features=[INCIDENTS_FEATURE])
        import_document(conn, LINEAGE)
        tokens = {
            role: create_user(conn, f"{role}@example.com", SPACE, role)
            for role in ("viewer", "editor", "admin")
        }
        tokens["outsider"] = create_user(conn, "out@example.com", "other", "admin")
        create_user(conn, "editor@example.com", "plain", "editor")
    settings = Settings(database_url=db_url, incidents_topic="t")
    with TestClient(create_app(settings)) as client:
        yield ApiWorld(client, engine, tokens, settings)
    engine.dispose()
