"""`dataQualityAssertions` facets of OpenLineage RunEvents become alerts in the transaction of
the event's lineage, at `POST /api/v1/lineage` and in the worker's batch; an unusable facet
leaves neither lineage nor alerts behind."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from sqlalchemy import text

from incidentd.storage.graphs import GraphCache
from incidentd.worker.parsing import DeadLetter
from incidentd.worker.pipeline import LineageRecord, process_batch
from tests.support.api import SPACE, ApiWorld


@pytest.fixture
def world(api: ApiWorld) -> ApiWorld:
    """The API world with `clean` claiming `warehouse/orders_clean`."""
    with api.engine.begin() as conn:
        conn.execute(
            text("UPDATE products SET datasets = '{warehouse/orders_clean}' WHERE id = 'clean'")
        )
    return api


def run_event(assertions: Any, run_id: str = "run-1") -> dict[str, Any]:
    """A dbt-like job reading `orders_clean` (with the assertions) and writing `orders_mart`."""
    return {
        "eventType": "COMPLETE",
        "eventTime": "2026-02-27T14:00:00Z",
        "run": {"runId": run_id},
        "job": {"namespace": "dbt", "name": "shop.orders_mart"},
        "inputs": [
            {
                "namespace": "warehouse",
                "name": "orders_clean",
                "inputFacets": {"dataQualityAssertions": {"assertions": assertions}},
            }
        ],
        "outputs": [{"namespace": "warehouse", "name": "orders_mart"}],
    }


CHECKS = [
    {"assertion": "not_null", "success": False, "column": "customer_id"},
    {"assertion": "unique", "success": True, "column": "order_id"},
]


def outbox(world: ApiWorld) -> list[tuple[str, dict[str, Any]]]:
    """(key, alert) of every queued message."""
    with world.engine.connect() as conn:
        rows = conn.execute(text("SELECT key, payload FROM outbox ORDER BY id")).fetchall()
    return [(r.key, orjson.loads(bytes(r.payload))) for r in rows]


def edges(world: ApiWorld) -> set[tuple[str, str]]:
    """The finance space's edges."""
    with world.engine.connect() as conn:
        rows = conn.execute(text("SELECT upstream, downstream FROM edges")).fetchall()
    return {(r.upstream, r.downstream) for r in rows}


def test_posted_assertions_are_queued_with_the_lineage(world: ApiWorld) -> None:
    answer = world.client.post("/api/v1/lineage", json=run_event(CHECKS), headers=world.headers())
    assert answer.status_code == 201, answer.text
    report = answer.json()
    assert (report["edges_added"], report["alerts_queued"]) == (1, 2)
    assert report["unresolved_targets"] == []
    assert ("clean", "warehouse/orders_mart") in edges(world)
    queued = outbox(world)
    assert [(k, a["product_id"], a["status"]) for k, a in queued] == [
        (SPACE, "clean", "firing"),
        (SPACE, "clean", "resolved"),
    ]


def test_an_unusable_assertion_is_rejected_alone(world: ApiWorld) -> None:
    checks = [*CHECKS, {"assertion": "no_success_field"}]
    answer = world.client.post("/api/v1/lineage", json=run_event(checks), headers=world.headers())
    assert answer.status_code == 201, answer.text
    report = answer.json()
    assert report["alerts_queued"] == 2 and report["edges_added"] == 1
    [rejected] = report["alerts_rejected"]
    assert rejected.startswith("inputs[0].inputFacets.dataQualityAssertions.assertions[2]: ")
    assert len(outbox(world)) == 2


def test_an_event_whose_checks_cannot_be_read_leaves_no_lineage_and_no_alerts(
    world: ApiWorld,
) -> None:
    before = edges(world)
    event = run_event(CHECKS)
    del event["eventTime"]
    answer = world.client.post("/api/v1/lineage", json=event, headers=world.headers())
    assert answer.status_code == 422
    assert answer.json()["detail"].startswith("unusable dataQualityAssertions: ")
    assert edges(world) == before
    assert outbox(world) == []


def test_an_event_without_assertions_queues_nothing(world: ApiWorld) -> None:
    event = run_event(CHECKS)
    del event["inputs"][0]["inputFacets"]
    answer = world.client.post("/api/v1/lineage", json=event, headers=world.headers())
    assert answer.status_code == 201 and answer.json()["alerts_queued"] == 0
    assert outbox(world) == []


def _record(event: Any, offset: int) -> LineageRecord:
    origin = DeadLetter("lineage", 0, offset, None, orjson.dumps(event), "", "invalid_lineage")
    return LineageRecord(event, origin)


def test_the_worker_queues_assertions_in_the_batch_and_dead_letters_a_bad_facet(
    world: ApiWorld,
) -> None:
    good = run_event(CHECKS, "run-good")
    bad = run_event(CHECKS, "run-bad")
    del bad["eventTime"]
    bad["outputs"] = [{"namespace": "warehouse", "name": "never_linked"}]
    result = process_batch(
        world.engine,
        [],
        [_record(good, 1), _record(bad, 2)],
        GraphCache(),
        incidents_topic="incidents",
        default_space=None,
        alerts_topic="alerts",
    )
    assert [(d.offset, d.error_type) for d in result.dead_letters] == [(2, "invalid_lineage")]
    assert "eventTime" in result.dead_letters[0].error
    assert ("clean", "warehouse/orders_mart") in edges(world)
    assert ("clean", "warehouse/never_linked") not in edges(world)
    with world.engine.connect() as conn:
        rows = conn.execute(text("SELECT topic, key FROM outbox ORDER BY id")).fetchall()
    assert [tuple(r) for r in rows] == [("alerts", SPACE), ("alerts", SPACE)]
