"""The intake path on real PostgreSQL: products resolved from the catalog, alerts validated and
queued in the outbox keyed by space, a document queued whole or not at all."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine, text

from incidentd.intake.base import IntakeError, ProductRef
from incidentd.schemas.lineage import LineageDocument, ProductSpec
from incidentd.storage.intake import IntakeMetrics, ingest, ingest_events, load_products
from tests.support.intake import ChecksSource
from tests.support.spaces import space_engine

SPACE = "shop"
TOPIC = "alerts-topic"


CATALOG = LineageDocument(
    products=[
        ProductSpec(
            id="orders",
            space=SPACE,
            datasets=["model.shop.orders", "duckdb://warehouse/main.orders"],
        ),
        ProductSpec(id="customers", space=SPACE),
        ProductSpec(id="payments", space="elsewhere", datasets=["model.shop.pay"]),
    ]
)


@pytest.fixture
def engine(migrated_db: str) -> Iterator[Engine]:
    """A catalog: `orders` claims a dbt node and a relation, `customers` claims nothing."""
    with space_engine(migrated_db, [SPACE, "elsewhere"], CATALOG) as eng:
        yield eng


def _outbox(engine: Engine) -> list[tuple[str, str, dict[str, Any]]]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT topic, key, payload FROM outbox ORDER BY id")).fetchall()
    return [(r.topic, r.key, orjson.loads(bytes(r.payload))) for r in rows]


def test_the_resolver_prefers_a_claimed_dataset_then_an_id_of_the_space(engine: Engine) -> None:
    with engine.connect() as conn:
        products = load_products(conn, SPACE)
    assert products.resolve("model.shop.orders") == ProductRef(SPACE, "orders")
    assert products.resolve("duckdb://warehouse/main.orders") == ProductRef(SPACE, "orders")
    assert products.resolve("customers") == ProductRef(SPACE, "customers")
    assert products.resolve("model.shop.pay") is None  # claimed by another space
    assert products.resolve("model.shop.unknown") is None


def test_valid_alerts_are_queued_keyed_by_space_and_rejections_say_why(engine: Engine) -> None:
    registry = CollectorRegistry()
    document = {
        "checks": [
            {"target": "model.shop.orders"},
            {"status": "firing"},
            {"target": "customers", "severity": "catastrophic"},
            {"target": "model.shop.new_thing", "status": "resolved"},
        ]
    }
    with engine.begin() as conn:
        result = ingest(
            conn,
            ChecksSource(),
            document,
            space=SPACE,
            topic=TOPIC,
            metrics=IntakeMetrics(registry),
        )
    assert [a.product_id for a in result.alerts] == ["orders", "model.shop.new_thing"]
    assert [r.item for r in result.rejected] == ["checks[1]", "chk-2"]
    assert "severity" in result.rejected[1].reason
    assert result.unresolved == ["model.shop.new_thing"]
    queued = _outbox(engine)
    assert [(t, k) for t, k, _ in queued] == [(TOPIC, SPACE), (TOPIC, SPACE)]
    assert [p["alert_id"] for _, _, p in queued] == ["chk-0", "chk-3"]
    assert queued[1][2]["status"] == "resolved"
    sample = registry.get_sample_value
    assert sample("incidentd_intake_alerts_accepted_total", {"source": "checks"}) == 2
    assert sample("incidentd_intake_items_rejected_total", {"source": "checks"}) == 2
    assert sample("incidentd_intake_unresolved_targets_total", {"source": "checks"}) == 1


def test_an_unusable_document_queues_nothing(engine: Engine) -> None:
    with pytest.raises(IntakeError, match="no 'checks'"), engine.begin() as conn:
        ingest(conn, ChecksSource(), {"nope": []}, space=SPACE, topic=TOPIC)
    assert _outbox(engine) == []


def test_a_dry_run_maps_without_queueing(engine: Engine) -> None:
    with engine.begin() as conn:
        result = ingest(
            conn,
            ChecksSource(),
            {"checks": [{"target": "customers"}]},
            space=SPACE,
            topic=TOPIC,
            dry_run=True,
        )
    assert [a.alert_id for a in result.alerts] == ["chk-0"]
    assert _outbox(engine) == []


def test_alert_events_must_be_of_the_space_and_unknown_products_are_reported(
    engine: Engine,
) -> None:
    base = {
        "schema_version": 1,
        "alert_type": "freshness",
        "severity": "HIGH",
        "occurred_at": "2026-02-27T14:00:00+01:00",
    }
    items: list[Any] = [
        {**base, "alert_id": "a1", "product_id": "orders", "extra": {"kept": True}},
        {**base, "alert_id": "a2", "product_id": "orders", "space": "elsewhere"},
        "not an object",
        {**base, "alert_id": "a3", "product_id": "ghost", "space": SPACE},
        {**base, "alert_id": "a4", "product_id": "bad\u0000id"},
    ]
    with engine.begin() as conn:
        result = ingest_events(conn, items, space=SPACE, topic=TOPIC)
    assert [a.alert_id for a in result.alerts] == ["a1", "a3"]
    reasons = {r.item: r.reason for r in result.rejected}
    assert reasons["[1] a2"] == "alert is of space 'elsewhere', not 'shop'"
    assert reasons["[2]"] == "an alert event must be a JSON object"
    assert "NUL" in reasons["[4] a4"]
    assert result.unresolved == ["ghost"]
    queued = _outbox(engine)
    assert [p["alert_id"] for _, _, p in queued] == ["a1", "a3"]
    assert queued[0][2]["extra"] == {"kept": True}
    assert queued[0][2]["severity"] == "high"
    assert queued[0][2]["occurred_at"] == "2026-02-27T13:00:00Z"
