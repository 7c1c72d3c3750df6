"""A real worker between a real broker and a real PostgreSQL, on each broker of the matrix."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import text

from incidentd.schemas.lineage import EdgeSpec, LineageDocument, ProductSpec
from incidentd.storage.db import make_engine
from tests.support.services import BrokerService, TopicSet
from tests.support.spaces import with_spaces
from tests.support.wait import wait_until
from tests.support.workers import (
    TopicReader,
    WorkerProcess,
    alert,
    latest_by_incident,
    metric,
    produce,
    worker_running,
)

SPACE = "shop"
LINEAGE = LineageDocument(
    products=[
        ProductSpec(id="raw_orders", space=SPACE, owners=["ana@example.com"], tier="high"),
        ProductSpec(id="orders_clean", space=SPACE, owners=["ana@example.com"]),
        ProductSpec(id="revenue_mart", space=SPACE, owners=["bo@example.com"]),
        ProductSpec(id="exec_dashboard", space=SPACE, tier="critical"),
        ProductSpec(id="customer_ltv", space=SPACE),
        ProductSpec(id="payments_raw", space=SPACE),
        ProductSpec(id="payments_clean", space=SPACE),
        ProductSpec(id="inventory", space=SPACE, tier="low"),
    ],
    edges=[
        EdgeSpec(upstream="raw_orders", downstream="orders_clean"),
        EdgeSpec(upstream="orders_clean", downstream="revenue_mart"),
        EdgeSpec(upstream="revenue_mart", downstream="exec_dashboard"),
        EdgeSpec(upstream="orders_clean", downstream="customer_ltv"),
        EdgeSpec(upstream="payments_raw", downstream="payments_clean"),
    ],
)

GOOD = [
    alert("a1", "raw_orders", 0),
    alert("a2", "orders_clean", 5, severity="critical"),
    alert("a3", "revenue_mart", 10, severity="medium"),
    alert("a4", "payments_clean", 2, severity="low"),
    alert("a5", "inventory", 30, severity="info"),
]
BAD = [
    (b"x", b"{not json"),
    (b"x", orjson.dumps({"schema_version": 1, "alert_id": "m1", "space": SPACE})),
    (b"x", orjson.dumps({"schema_version": 2, "alert_id": "m2"})),
    (
        b"x",
        orjson.dumps(
            {
                "schema_version": 1,
                "alert_id": "m3",
                "space": SPACE,
                "product_id": "p",
                "alert_type": "t",
                "severity": "high",
                "occurred_at": "2026-02-27T14:00:00",
            }
        ),
    ),
]


@pytest.fixture
def shop_db(migrated_db: str) -> str:
    """A database with the shop space and its lineage."""
    return with_spaces(migrated_db, [SPACE], LINEAGE)


@pytest.fixture
def kafka_bootstrap(matrix_broker: BrokerService) -> str:
    """This module's tests run on each broker of the matrix (Tansu and Apache Kafka)."""
    return matrix_broker.bootstrap_servers


@pytest.fixture
def topics(matrix_topics: TopicSet) -> TopicSet:
    """Topics on the matrix's broker."""
    return matrix_topics


@pytest.fixture
def worker(
    shop_db: str, matrix_broker: BrokerService, topics: TopicSet, tmp_path: Path
) -> Iterator[WorkerProcess]:
    """One running worker; killed at the end if the test did not stop it."""
    bootstrap = matrix_broker.bootstrap_servers
    with worker_running(shop_db, bootstrap, topics, tmp_path, broker=matrix_broker) as proc:
        yield proc


def test_alerts_become_incidents_with_blast_radius(
    worker: WorkerProcess, kafka_bootstrap: str, topics: TopicSet, shop_db: str
) -> None:
    produce(kafka_bootstrap, topics.alerts, GOOD + BAD)
    incidents = TopicReader(kafka_bootstrap, topics.incidents)
    dlq = TopicReader(kafka_bootstrap, topics.dlq)

    def settled() -> bool:
        final = latest_by_incident(incidents.poll() and incidents.json())
        return sum(e["incident"]["alert_count"] for e in final.values()) == 5

    wait_until(
        settled, timeout=60, message=lambda: f"events: {incidents.json()}\n{worker.log_text()}"
    )
    final = {
        tuple(e["incident"]["products"]): e["incident"]
        for e in latest_by_incident(incidents.json()).values()
    }
    assert set(final) == {
        ("orders_clean", "raw_orders", "revenue_mart"),
        ("payments_clean",),
        ("inventory",),
    }
    orders = final[("orders_clean", "raw_orders", "revenue_mart")]
    assert orders["root_product_id"] == "raw_orders"
    assert orders["blast_radius_snapshot"] == sorted(
        ["raw_orders", "orders_clean", "revenue_mart", "exec_dashboard", "customer_ltv"]
    )
    assert orders["impact"] == "HIGH"  # exec_dashboard is critical-tier
    assert orders["severity"] == "critical"
    assert orders["alert_count"] == 3
    assert orders["suspected_upstream"] == []
    payments = final[("payments_clean",)]
    assert payments["suspected_upstream"] == ["payments_raw"]
    assert payments["impact"] == "LOW"
    assert final[("inventory",)]["severity"] == "info"
    for event in incidents.json():
        assert event["schema_version"] == 1
        assert event["event_type"].startswith("incident.")
        assert event["space"] == SPACE

    wait_until(lambda: len(dlq.poll()) >= len(BAD), timeout=30, message="dead letters missing")
    by_offset = {int(dict(r.headers)["source_offset"]): r for r in dlq.records}
    assert len(by_offset) == len(BAD)
    for record in dlq.records:
        headers = {k: v.decode() for k, v in record.headers}
        assert set(headers) >= {
            "error",
            "error_type",
            "source_topic",
            "source_partition",
            "source_offset",
        }
        assert headers["source_topic"] == topics.alerts
        assert record.value in {v for _, v in BAD}  # the original bytes, unchanged
    kinds = sorted(dict(r.headers)["error_type"].decode() for r in dlq.records)
    assert kinds == ["invalid_alert", "invalid_alert", "invalid_json", "unsupported_schema_version"]
    incidents.close()
    dlq.close()


def test_redelivery_of_the_whole_stream_changes_nothing(
    worker: WorkerProcess, kafka_bootstrap: str, topics: TopicSet, shop_db: str
) -> None:
    produce(kafka_bootstrap, topics.alerts, GOOD)
    wait_until(
        lambda: metric(worker.metrics_port, "incidentd_alerts_processed_total") == 5, timeout=60
    )
    engine = make_engine(shop_db, pool_size=1)

    def snapshot() -> list[tuple[Any, ...]]:
        with engine.connect() as conn:
            return [
                tuple(r)
                for r in conn.execute(
                    text(
                        "SELECT id, version, alert_count, products, blast_radius "
                        "FROM incidents ORDER BY id"
                    )
                )
            ]

    wait_until(lambda: _outbox_empty(engine), timeout=30)
    before = snapshot()
    produce(kafka_bootstrap, topics.alerts, GOOD)
    wait_until(
        lambda: metric(worker.metrics_port, "incidentd_alerts_duplicate_total") == 5, timeout=60
    )
    assert snapshot() == before
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM alerts")).scalar() == 5
        assert conn.execute(text("SELECT count(*) FROM outbox")).scalar() == len(before)
    engine.dispose()


def _outbox_empty(engine: Any) -> bool:
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM outbox WHERE sent_at IS NULL")).scalar() == 0


def test_sigterm_stops_cleanly(
    worker: WorkerProcess, kafka_bootstrap: str, topics: TopicSet
) -> None:
    produce(kafka_bootstrap, topics.alerts, GOOD)
    wait_until(
        lambda: metric(worker.metrics_port, "incidentd_alerts_processed_total") == 5, timeout=60
    )
    assert worker.terminate(timeout=30) == 0
    assert "worker.stopped" in worker.log_text()
