"""OpenLineage `dataQualityAssertions` end to end: a RunEvent on the lineage topic adds its
lineage and fires its failed assertions, a later run posted to `/api/v1/lineage` recovers
them, and a worker turns both into one incident that resolves itself."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from incidentd.api.app import create_app
from incidentd.schemas.lineage import LineageDocument, ProductSpec
from incidentd.schemas.settings import Settings
from incidentd.storage.users import create_user
from tests.support.services import TopicSet
from tests.support.spaces import space_engine
from tests.support.wait import wait_until
from tests.support.workers import WorkerProcess, produce

SPACE = "shop"
LINEAGE = LineageDocument(
    products=[ProductSpec(id="orders_clean", space=SPACE, datasets=["warehouse/orders_clean"])]
)


@pytest.fixture
def settings(migrated_db: str, kafka_bootstrap: str, topics: TopicSet) -> Settings:
    """A worker's settings on this test's database and topics."""
    return Settings(
        database_url=migrated_db,
        kafka_bootstrap_servers=kafka_bootstrap,
        alerts_topic=topics.alerts,
        incidents_topic=topics.incidents,
        dlq_topic=topics.dlq,
        lineage_topic=topics.lineage,
        consumer_group=topics.group,
        max_poll_interval_ms=5000,
        session_timeout_ms=5000,
        heartbeat_interval_ms=1500,
        lineage_refresh_seconds=0.5,
        metrics_port=0,
    )


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    """Space `shop` where `orders_clean` claims the dataset `warehouse/orders_clean`."""
    assert settings.database_url
    with space_engine(settings.database_url, [SPACE], LINEAGE) as eng:
        yield eng


def run_event(run_id: str, minute: int, not_null_passes: bool) -> dict[str, Any]:
    """A job reading `orders_clean` with two assertions on it, writing `orders_mart`."""
    return {
        "eventType": "COMPLETE",
        "eventTime": f"2026-02-27T14:{minute:02d}:00Z",
        "run": {"runId": run_id},
        "job": {"namespace": "dbt", "name": "shop.orders_mart"},
        "inputs": [
            {
                "namespace": "warehouse",
                "name": "orders_clean",
                "inputFacets": {
                    "dataQualityAssertions": {
                        "_producer": "https://github.com/OpenLineage/OpenLineage",
                        "_schemaURL": "https://openlineage.io/spec/facets/1-0-1/DataQualityAssertionsDatasetFacet.json",
                        "assertions": [
                            {"assertion": "not_null", "success": not_null_passes, "column": "id"},
                            {"assertion": "unique", "success": True, "column": "id"},
                        ],
                    }
                },
            }
        ],
        "outputs": [{"namespace": "warehouse", "name": "orders_mart"}],
        "producer": "https://github.com/OpenLineage/OpenLineage/tree/1.54.0/integration/dbt",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
    }


def state(engine: Engine) -> tuple[list[Any], list[Any], list[Any]]:
    """(edges, alerts, incidents) as stored."""
    with engine.connect() as conn:
        edges = conn.execute(text("SELECT upstream, downstream FROM edges")).fetchall()
        alerts = conn.execute(
            text("SELECT product_id, status, incident_id FROM alerts ORDER BY occurred_at, status")
        ).fetchall()
        incidents = conn.execute(
            text("SELECT id, status, root_product_id, alert_count FROM incidents")
        ).fetchall()
    return [tuple(e) for e in edges], [tuple(a) for a in alerts], [tuple(i) for i in incidents]


def test_assertions_on_the_topic_fire_and_a_posted_run_recovers(
    worker: WorkerProcess, engine: Engine, settings: Settings
) -> None:
    assert settings.kafka_bootstrap_servers
    failing = run_event("run-1", 0, not_null_passes=False)
    produce(
        settings.kafka_bootstrap_servers, settings.lineage_topic, [(None, orjson.dumps(failing))]
    )
    wait_until(
        lambda: len(state(engine)[2]) == 1,
        timeout=60,
        message=lambda: f"no incident from the assertions: {state(engine)}\n{worker.log_text()}",
    )
    edges, alerts, [incident] = state(engine)
    assert ("orders_clean", "warehouse/orders_mart") in edges
    assert sorted((a[0], a[1]) for a in alerts) == [
        ("orders_clean", "firing"),
        ("orders_clean", "resolved"),
    ]
    assert (incident[1], incident[2], incident[3]) == ("open", "orders_clean", 1)

    with engine.begin() as conn:
        token = create_user(conn, "ol@example.com", SPACE, "editor")
    api_settings = settings.model_copy(update={"kafka_bootstrap_servers": None})
    with TestClient(create_app(api_settings)) as api:
        answer = api.post(
            "/api/v1/lineage",
            json=run_event("run-2", 30, not_null_passes=True),
            headers={"Authorization": f"Bearer {token}"},
        )
    assert answer.status_code == 201, answer.text
    assert answer.json()["alerts_queued"] == 2
    wait_until(
        lambda: state(engine)[2][0][1] == "resolved",
        timeout=60,
        message=lambda: f"the passing run did not resolve the incident: {state(engine)}",
    )
    assert len(state(engine)[1]) == 4
