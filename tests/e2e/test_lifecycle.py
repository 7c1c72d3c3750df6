"""The life cycle through Kafka and a real worker: recoveries and the times of the problem."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, text

from incidentd.schemas.lineage import EdgeSpec, LineageDocument, ProductSpec
from incidentd.storage.incident_queries import IncidentFilter
from incidentd.storage.insights import incident_summary
from tests.support.services import TopicSet
from tests.support.spaces import space_engine
from tests.support.wait import wait_until
from tests.support.workers import WorkerProcess, alert, produce

SPACES = ("shop", "live", "backlog")
LINEAGE = LineageDocument(
    products=[
        ProductSpec(id="raw_orders", space="shop"),
        ProductSpec(id="orders_clean", space="shop"),
        ProductSpec(id="revenue_mart", space="shop"),
    ],
    edges=[
        EdgeSpec(upstream="raw_orders", downstream="orders_clean"),
        EdgeSpec(upstream="orders_clean", downstream="revenue_mart"),
    ],
)
BASE = "2026-02-27T14:00:00+00:00"
MART_CHECK = "shop/revenue_mart/not_null_amount"


@pytest.fixture
def engine(migrated_db: str) -> Iterator[Engine]:
    """The database with the spaces and the shop's lineage."""
    with space_engine(migrated_db, SPACES, LINEAGE, pool_size=1) as engine:
        yield engine


def _incidents(engine: Engine, space: str) -> list[Any]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                text(
                    "SELECT id, status, products, first_alert_at, resolved_at, cleared_by, "
                    "alert_count FROM incidents WHERE space = :s AND merged_into IS NULL "
                    "ORDER BY first_alert_at"
                ),
                {"s": space},
            )
        )


def _at(minute: int, base: str = BASE) -> datetime:
    return datetime.fromisoformat(base) + timedelta(minutes=minute)


def test_two_incidents_sharing_a_failing_check_both_resolve_on_one_recovery(
    worker: WorkerProcess, engine: Engine, kafka_bootstrap: str, topics: TopicSet
) -> None:
    # The mart check fails in two cascades 8 h apart (the window is 6 h): two incidents.
    produce(
        kafka_bootstrap,
        topics.alerts,
        [
            alert("c1", "orders_clean", 0, fingerprint="shop/orders_clean/fresh"),
            alert("m1", "revenue_mart", 5, fingerprint=MART_CHECK),
            alert("r2", "raw_orders", 480, fingerprint="shop/raw_orders/rows"),
            alert("m2", "revenue_mart", 485, fingerprint=MART_CHECK),
        ],
    )
    wait_until(
        lambda: len(_incidents(engine, "shop")) == 2,
        timeout=60,
        message=lambda: f"{_incidents(engine, 'shop')}\n{worker.log_text()}",
    )
    recoveries = [
        alert(
            "c1-ok", "orders_clean", 500, status="resolved", fingerprint="shop/orders_clean/fresh"
        ),
        alert("r2-ok", "raw_orders", 505, status="resolved", fingerprint="shop/raw_orders/rows"),
        alert("m-ok", "revenue_mart", 540, status="resolved", fingerprint=MART_CHECK),
    ]
    produce(kafka_bootstrap, topics.alerts, recoveries)

    def both_resolved() -> bool:
        return all(i.status == "resolved" for i in _incidents(engine, "shop"))

    wait_until(
        both_resolved,
        timeout=60,
        message=lambda: f"{_incidents(engine, 'shop')}\n{worker.log_text()}",
    )
    first, second = _incidents(engine, "shop")
    assert sorted(first.products) == ["orders_clean", "revenue_mart"]
    assert sorted(second.products) == ["raw_orders", "revenue_mart"]
    for incident in (first, second):
        assert incident.resolved_at == _at(540), "resolved when the mart check passed again"
    # the one recovery is stored with the newer incident; the older lists it as clearing it
    assert (first.cleared_by, second.cleared_by) == (["m-ok"], [])
    assert (first.alert_count, second.alert_count) == (3, 4)


def _stream(space: str, base: str) -> list[tuple[bytes, bytes]]:
    """Two problems: 90 min (10 min apart failures) and 150 min until the checks pass again."""
    return [
        alert(f"{space}-a1", "p1", 0, space=space, base=base),
        alert(f"{space}-a2", "p1", 10, space=space, base=base),
        alert(f"{space}-b1", "p2", 30, space=space, base=base),
        alert(f"{space}-a3", "p1", 90, space=space, base=base, status="resolved"),
        alert(f"{space}-b2", "p2", 180, space=space, base=base, status="resolved"),
    ]


def test_a_backlog_replayed_a_month_later_gives_the_same_mttr_as_live(
    worker: WorkerProcess, engine: Engine, kafka_bootstrap: str, topics: TopicSet
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    live = (now - timedelta(hours=4)).isoformat()
    month_ago = (now - timedelta(days=30, hours=4)).isoformat()
    produce(kafka_bootstrap, topics.alerts, _stream("live", live) + _stream("backlog", month_ago))

    def settled() -> bool:
        return all(
            [i.status for i in _incidents(engine, s)] == ["resolved", "resolved"]
            for s in ("live", "backlog")
        )

    wait_until(settled, timeout=60, message=worker.log_text)
    for space, base in (("live", live), ("backlog", month_ago)):
        a, b = _incidents(engine, space)
        assert (a.first_alert_at, a.resolved_at) == (_at(0, base), _at(90, base))
        assert (b.first_alert_at, b.resolved_at) == (_at(30, base), _at(180, base))
    with engine.connect() as conn:
        figures = {
            space: incident_summary(
                conn,
                space,
                IncidentFilter(from_time=end - timedelta(days=7), to_time=end),
            )
            for space, end in (("live", now), ("backlog", now - timedelta(days=29)))
        }
    for summary in figures.values():
        assert (summary.total, summary.closed, summary.mttr_hours) == (2, 2, 2.0)
