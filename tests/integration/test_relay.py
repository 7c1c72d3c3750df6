"""The outbox relay against real PostgreSQL and a real broker: order, marking, purging."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kafka import KafkaProducer
from sqlalchemy import Engine, text

from incidentd.storage.db import make_engine
from incidentd.storage.outbox import Message, enqueue
from incidentd.worker.metrics import Health, WorkerMetrics
from incidentd.worker.relay import OutboxRelay
from tests.support.services import TopicSet
from tests.support.wait import wait_until
from tests.support.workers import TopicReader


@pytest.fixture
def engine(migrated_db: str) -> Iterator[Engine]:
    eng = make_engine(migrated_db, pool_size=2)
    yield eng
    eng.dispose()


@pytest.fixture
def relay(engine: Engine, kafka_bootstrap: str) -> Iterator[tuple[OutboxRelay, WorkerMetrics]]:
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    metrics = WorkerMetrics()
    relay = OutboxRelay(engine, producer, metrics, Health(), batch=2, interval=0.02)
    yield relay, metrics
    relay.stop(timeout=10)
    producer.close(timeout=10)


def _unsent(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(text("SELECT count(*) FROM outbox WHERE sent_at IS NULL")).scalar_one()
        )


def test_relay_publishes_in_order_marks_sent_and_purges_only_old_sent_rows(
    engine: Engine,
    relay: tuple[OutboxRelay, WorkerMetrics],
    kafka_bootstrap: str,
    topics: TopicSet,
) -> None:
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO outbox (topic, key, payload, sent_at) VALUES "
                "(:t, 'old', 'x', now() - interval '2 days'), "
                "(:t, 'recent', 'y', now() - interval '2 hours')"
            ),
            {"t": topics.incidents},
        )
        enqueue(conn, [Message(topics.incidents, "k", f"m{i}".encode()) for i in range(5)])
    service, metrics = relay
    service.start()
    wait_until(lambda: _unsent(engine) == 0, timeout=30, message="outbox not drained")

    reader = TopicReader(kafka_bootstrap, topics.incidents)
    wait_until(lambda: len(reader.poll()) >= 5, timeout=30, message="events not published")
    assert [r.value.decode() for r in reader.records] == [f"m{i}" for i in range(5)]
    reader.close()

    with engine.connect() as conn:
        keys = [r[0] for r in conn.execute(text("SELECT key FROM outbox ORDER BY id"))]
    assert "old" not in keys  # sent more than a day ago: purged
    assert keys[0] == "recent"  # sent two hours ago: kept for inspection
    assert metrics.events_published._value.get() == 5
