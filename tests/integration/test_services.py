"""The test services are real: a per-test database, a per-test set of topics, outages."""

from __future__ import annotations

import sys

import psutil
import psycopg
import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient

from incidentd.app.embedded import (
    BrokerProcess,
    EmbeddedBroker,
    EmbeddedPostgres,
    ServiceError,
    to_libpq_url,
)
from tests.support.services import BrokerService, TopicSet, fast_tmp_dir
from tests.support.wait import wait_until

RECORDS = 100


def _processes_mentioning(text: str) -> list[str]:
    """Command lines of live processes whose arguments mention `text`."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if text in cmdline:
            found.append(cmdline)
    return found


def test_each_test_gets_an_empty_database(db_url: str) -> None:
    with psycopg.connect(to_libpq_url(db_url)) as conn:
        assert conn.execute("select 1").fetchone() == (1,)
        row = conn.execute("select current_database()").fetchone()
        assert row is not None
        assert row[0].startswith("t_")
        tables = conn.execute("select count(*) from pg_tables where schemaname = 'public'")
        assert tables.fetchone() == (0,)


def test_records_round_trip_through_a_consumer_group(
    broker: BrokerService, topics: TopicSet
) -> None:
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap_servers, linger_ms=5)
    for i in range(RECORDS):
        producer.send(topics.alerts, key=f"k{i % 7}".encode(), value=str(i).encode())
    producer.flush(timeout=10)
    producer.close()

    consumer = KafkaConsumer(
        topics.alerts,
        bootstrap_servers=broker.bootstrap_servers,
        group_id=topics.group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_poll_interval_ms=5000,
        session_timeout_ms=5000,
        heartbeat_interval_ms=1500,
    )
    received: list[int] = []

    def all_received() -> bool:
        for batch in consumer.poll(timeout_ms=200).values():
            received.extend(int(record.value) for record in batch)
        return len(received) >= RECORDS

    try:
        wait_until(all_received, timeout=30, message=lambda: f"got {len(received)}/{RECORDS}")
        consumer.commit()
        partitions = [TopicPartition(topics.alerts, p) for p in range(4)]
        committed = sum(consumer.committed(tp) or 0 for tp in partitions)
    finally:
        consumer.close()
    assert sorted(received) == list(range(RECORDS))
    assert committed == RECORDS


def test_embedded_postgres_survives_a_stop_and_start() -> None:
    with EmbeddedPostgres(base_dir=fast_tmp_dir()) as pg:
        url = to_libpq_url(pg.create_database("outage"))
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("create table t (x int); insert into t values (42)")
        pg.stop()
        assert not pg.is_running
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(url, connect_timeout=2)
        pg.start()
        with psycopg.connect(url) as conn:
            assert conn.execute("select x from t").fetchall() == [(42,)]
        assert pg.url == pg.url_for("postgres")
    assert _processes_mentioning(str(pg.data_dir)) == []
    assert not pg.socket_dir.exists()


def test_embedded_broker_restarts_on_the_same_port_without_its_data() -> None:
    with EmbeddedBroker() as broker:
        broker.create_topics(["kept-nowhere"], partitions=2)
        bootstrap = broker.bootstrap_servers
        broker.restart()
        assert broker.bootstrap_servers == bootstrap
        with KafkaAdminClient(bootstrap_servers=bootstrap) as admin:
            assert "kept-nowhere" not in admin.list_topics()
        broker.create_topics(["kept-nowhere"], partitions=2)
    assert _processes_mentioning(bootstrap) == []


class _SilentBroker(BrokerProcess):
    """A process that runs but never speaks Kafka."""

    label = "Silent"

    def _command(self) -> list[str]:
        code = "import time; print('listening nowhere', flush=True); time.sleep(120)"
        return [sys.executable, "-c", code]


def test_a_broker_that_never_answers_is_killed_and_reported_with_its_log() -> None:
    broker = _SilentBroker(start_timeout=1.5)
    with pytest.raises(ServiceError) as caught:
        broker.start()
    assert f"Silent on {broker.bootstrap_servers} not ready" in str(caught.value)
    assert "exit code None" in str(caught.value)  # still running when given up on
    assert "listening nowhere" in str(caught.value)  # its log
    assert _processes_mentioning("listening nowhere") == []
    run_dir = broker.log_path.parent
    broker.close()
    assert not run_dir.exists()
    with pytest.raises(ServiceError, match="_SilentBroker is closed"):
        broker.start()
