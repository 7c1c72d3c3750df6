"""`incidentd_consumer_lag` is Kafka's own consumer lag: end offset minus committed offset.

Checked on Apache Kafka only: Tansu reports a wrong high watermark (the last batch's base
offset + 1), so no lag computed from it can be right there. KEDA's Kafka scaler and
kafka-consumer-groups compute lag from the same two offsets, so the workers scale on it.
"""

from __future__ import annotations

import re
import urllib.request
from pathlib import Path

from kafka import KafkaConsumer, TopicPartition
from kafka.admin import KafkaAdminClient
from sqlalchemy import text

from incidentd.storage.db import make_engine
from incidentd.storage.spaces import lock_spaces, upsert_space
from tests.support.apache_kafka import ApacheKafka
from tests.support.services import TopicSet
from tests.support.wait import wait_until
from tests.support.workers import WorkerProcess, alert, produce, worker_env

SPACE = "lagging"
FIRST, SECOND = 40, 60  # alerts before and while the worker is held up


def worker_lag(port: int, topic: str) -> dict[int, int]:
    """The worker's `incidentd_consumer_lag` per partition of `topic`."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            body = resp.read().decode()
    except OSError:
        return {}
    found: dict[int, int] = {}
    for labels, value in re.findall(r"^incidentd_consumer_lag\{([^}]*)\} (\S+)$", body, re.M):
        pairs = dict(re.findall(r'(\w+)="([^"]*)"', labels))
        if pairs.get("topic") == topic:
            found[int(pairs["partition"])] = int(float(value))
    return found


def kafka_lag(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    """Kafka's own lag per partition: end offset minus the group's committed offset."""
    parts = [TopicPartition(topic, p) for p in range(4)]
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        committed = admin.list_group_offsets({group: parts})[group]
        ends = consumer.end_offsets(parts)
    finally:
        admin.close()
        consumer.close()
    done = {tp.partition: max(0, meta.offset) for tp, meta in committed.items()}
    return {tp.partition: end - done.get(tp.partition, 0) for tp, end in ends.items()}


def records(start: int, count: int) -> list[tuple[bytes, bytes]]:
    """Alerts of one space (so of one partition: incidentd keys alerts by space)."""
    return [alert(f"lag-{i}", f"product_{i % 5}", i, space=SPACE) for i in range(start, count)]


def test_lag_metric_matches_kafkas_committed_and_end_offsets(
    migrated_db: str, apache_kafka: ApacheKafka, tmp_path: Path
) -> None:
    topics = TopicSet.unique()
    apache_kafka.create_topics(topics.names)
    bootstrap = apache_kafka.bootstrap_servers
    engine = make_engine(migrated_db, pool_size=2)
    with engine.begin() as conn:
        upsert_space(conn, SPACE)
    env = worker_env(
        migrated_db, bootstrap, topics, broker=apache_kafka, INCIDENTD_BATCH_MAX_RECORDS="20"
    )

    def stored() -> int:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM alerts")).scalar_one())

    def lags_agree(worker: WorkerProcess, total: int) -> bool:
        # A partition the worker has no end offset for yet (never fetched) is not reported.
        ours = worker_lag(worker.metrics_port, topics.alerts)
        theirs = kafka_lag(bootstrap, topics.group, topics.alerts)
        return (
            sum(theirs.values()) == total
            and bool(ours)
            and all(ours.get(p, 0) == n for p, n in theirs.items())
            and all(theirs.get(p) == n for p, n in ours.items())
        )

    first = WorkerProcess(env, tmp_path / "first.log").start()
    try:
        produce(bootstrap, topics.alerts, records(0, FIRST))
        wait_until(lambda: stored() == FIRST, timeout=60, message=first.log_text)
        wait_until(lambda: lags_agree(first, 0), timeout=30, message=first.log_text)
        assert first.terminate() == 0
    finally:
        first.kill()

    # The space is locked, as another worker correlating it would: the next worker reads a
    # batch and holds it, uncommitted. Kafka counts it as lag; so must the metric.
    with engine.connect() as holder:
        transaction = holder.begin()
        lock_spaces(holder, {SPACE})
        produce(bootstrap, topics.alerts, records(FIRST, FIRST + SECOND))
        second = WorkerProcess(env, tmp_path / "second.log").start()
        try:
            wait_until(
                lambda: lags_agree(second, SECOND),
                timeout=60,
                message=lambda: (
                    f"worker {worker_lag(second.metrics_port, topics.alerts)} vs Kafka "
                    f"{kafka_lag(bootstrap, topics.group, topics.alerts)}\n{second.log_text()}"
                ),
            )
            assert stored() == FIRST
            transaction.rollback()
            wait_until(lambda: stored() == FIRST + SECOND, timeout=60, message=second.log_text)
            wait_until(lambda: lags_agree(second, 0), timeout=30, message=second.log_text)
        finally:
            second.kill()
    engine.dispose()
