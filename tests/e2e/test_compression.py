"""Alerts compressed with every codec Kafka defines reach the database through a real worker.

Producers other than incidentd's compress: librdkafka (confluent-kafka, and so Vector, Fluent
Bit and many monitors) on the embedded broker, and the Java client's own producer (Kafka's
console producer) on Apache Kafka. One test per codec and producer.
"""

from __future__ import annotations

import os
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import orjson
import psutil
import pytest
from sqlalchemy import text

from incidentd.storage.db import make_engine
from incidentd.storage.spaces import upsert_space
from tests.support.apache_kafka import ApacheKafka, stored_batches
from tests.support.services import BrokerService, TopicSet
from tests.support.wait import wait_until
from tests.support.workers import WorkerProcess, alert, metric, worker_env

CODECS = ("gzip", "snappy", "lz4", "zstd")
ALERTS = 60
SPACE = "codecs"


def alerts(codec: str) -> list[tuple[bytes, bytes]]:
    """Alert records of one codec's test, spread over several keys (so several partitions)."""
    return [alert(f"{codec}-{i}", f"product_{i % 7}", i, space=SPACE) for i in range(ALERTS)]


def produce_with_librdkafka(
    bootstrap: str, topic: str, records: Sequence[tuple[bytes, bytes]], codec: str
) -> None:
    """Publish with librdkafka (confluent-kafka), batched and compressed with `codec`."""
    from confluent_kafka import Producer

    producer = Producer(
        {"bootstrap.servers": bootstrap, "compression.type": codec, "linger.ms": 50}
    )
    for key, value in records:
        producer.produce(topic, key=key, value=value)
    assert producer.flush(60) == 0, "librdkafka could not deliver every record"


def produce_with_java(
    kafka: ApacheKafka, topic: str, records: Sequence[tuple[bytes, bytes]], codec: str
) -> None:
    """Publish with the Java client's producer (Kafka's console producer), compressed."""
    lines = b"".join(key + b"\t" + value + b"\n" for key, value in records)
    command = kafka.java(
        "org.apache.kafka.tools.ConsoleProducer",
        "--bootstrap-server",
        kafka.bootstrap_servers,
        "--topic",
        topic,
        "--compression-codec",
        codec,
        "--reader-property",
        "parse.key=true",
        "--command-property",
        "linger.ms=100",
    )
    done = subprocess.run(command, input=lines, capture_output=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-3000:]


@pytest.fixture
def codec_db(migrated_db: str) -> str:
    """A database with the space the alerts name."""
    engine = make_engine(migrated_db, pool_size=1)
    with engine.begin() as conn:
        upsert_space(conn, SPACE)
    engine.dispose()
    return migrated_db


@contextmanager
def running_worker(
    db_url: str, broker: BrokerService, topics: TopicSet, tmp_path: Path
) -> Iterator[WorkerProcess]:
    """A worker on `broker`, killed at the end."""
    env = worker_env(db_url, broker.bootstrap_servers, topics)
    proc = WorkerProcess(env, tmp_path / "worker.log").start()
    try:
        yield proc
    finally:
        proc.kill()


def assert_all_stored(
    db_url: str,
    records: Sequence[tuple[bytes, bytes]],
    worker: WorkerProcess,
    broker_log: Callable[[], str] = str,
) -> None:
    """Every alert produced is stored once, none dead-lettered."""
    expected = {orjson.loads(value)["alert_id"] for _, value in records}
    engine = make_engine(db_url, pool_size=1)

    def stored() -> set[str]:
        with engine.connect() as conn:
            return {a for (a,) in conn.execute(text("SELECT alert_id FROM alerts"))}

    try:
        wait_until(
            lambda: stored() == expected,
            timeout=60,
            message=lambda: (
                f"{len(stored())} of {len(expected)} stored\n{worker.log_text()[-3000:]}"
                f"\n--- broker ---\n{broker_log()}"
            ),
        )
    finally:
        engine.dispose()
    assert "poll.failed" not in worker.log_text()


@pytest.mark.parametrize("codec", CODECS)
def test_librdkafka_compressed_alerts_are_stored(
    codec: str, codec_db: str, broker: BrokerService, topics: TopicSet, tmp_path: Path
) -> None:
    records = alerts(codec)
    produce_with_librdkafka(broker.bootstrap_servers, topics.alerts, records, codec)
    with running_worker(codec_db, broker, topics, tmp_path) as worker:
        assert_all_stored(codec_db, records, worker)


@pytest.mark.parametrize("codec", CODECS)
def test_java_client_compressed_alerts_are_stored_on_apache_kafka(
    codec: str, codec_db: str, apache_kafka: ApacheKafka, tmp_path: Path
) -> None:
    topics = TopicSet.unique()
    apache_kafka.create_topics(topics.names)
    records = alerts(codec)
    produce_with_java(apache_kafka, topics.alerts, records, codec)
    assert {b.codec for b in stored_batches(apache_kafka, topics.alerts)} == {codec}
    with running_worker(codec_db, apache_kafka, topics, tmp_path) as worker:
        assert_all_stored(codec_db, records, worker, apache_kafka.log_tail)


def test_a_worker_that_cannot_read_a_codec_says_it_is_failing(
    codec_db: str, broker: BrokerService, topics: TopicSet, tmp_path: Path
) -> None:
    # A worker without the lz4 library (as every worker was before it became a dependency):
    # it cannot read the batches, must say so, and must not spin.
    hidden = tmp_path / "no-lz4" / "lz4"
    hidden.mkdir(parents=True)
    (hidden / "__init__.py").write_text('raise ImportError("lz4 hidden by the test")\n')
    path = os.pathsep.join(p for p in (str(hidden.parent), os.environ.get("PYTHONPATH")) if p)
    env = worker_env(
        codec_db,
        broker.bootstrap_servers,
        topics,
        PYTHONPATH=path,
        INCIDENTD_RETRY_BACKOFF_MAX_SECONDS="2",
    )
    produce_with_librdkafka(broker.bootstrap_servers, topics.alerts, alerts("lz4"), "lz4")
    worker = WorkerProcess(env, tmp_path / "worker.log").start()
    try:
        wait_until(
            lambda: "poll: " in health_text(worker.metrics_port),
            timeout=90,
            message=lambda: f"{health_text(worker.metrics_port)}\n{worker.log_text()[-3000:]}",
        )
        assert metric(worker.metrics_port, "incidentd_poll_failures_total") >= 3
        assert metric(worker.metrics_port, "incidentd_ready") == 0
        assert '"event": "poll.failing"' in worker.log_text()
        assert worker.proc is not None
        process = psutil.Process(worker.proc.pid)
        cpu_before, wall_before = sum(process.cpu_times()[:2]), time.monotonic()
        wait_until(lambda: time.monotonic() - wall_before >= 3, timeout=10, interval=0.5)
        cpu_share = (sum(process.cpu_times()[:2]) - cpu_before) / (time.monotonic() - wall_before)
        assert cpu_share < 0.5, f"busy loop while polls fail: {cpu_share:.0%} of a core"
        assert "poll: " in health_text(worker.metrics_port)  # still failing, still saying so
    finally:
        worker.kill()


def health_text(port: int) -> str:
    """What /healthz answers (status and body), or why it did not."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
            return f"{resp.status} {resp.read().decode()}"
    except urllib.error.HTTPError as exc:
        return f"{exc.code} {exc.read().decode()}"
    except OSError as exc:
        return f"unreachable: {exc}"
