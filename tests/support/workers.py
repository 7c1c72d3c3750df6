"""Real `incidentd worker` processes and Kafka readers for end-to-end tests."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from incidentd.app.embedded import free_port
from incidentd.schemas.alert import alert_key
from tests.support.services import BrokerService, TopicSet


def worker_env(
    db_url: str,
    bootstrap: str,
    topics: TopicSet,
    *,
    broker: BrokerService | None = None,
    **extra: str,
) -> dict[str, str]:
    """Environment of a worker wired to this test's database and topics.

    The producer is idempotent only on a `broker` that supports it (Apache Kafka, not Tansu,
    the default broker of the tests).
    """
    idempotent = broker is not None and broker.idempotent_producer
    env = dict(os.environ)
    env.update(
        {
            "INCIDENTD_DATABASE_URL": db_url,
            "INCIDENTD_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "INCIDENTD_ALERTS_TOPIC": topics.alerts,
            "INCIDENTD_INCIDENTS_TOPIC": topics.incidents,
            "INCIDENTD_DLQ_TOPIC": topics.dlq,
            "INCIDENTD_LINEAGE_TOPIC": topics.lineage,
            "INCIDENTD_CONSUMER_GROUP": topics.group,
            "INCIDENTD_MAX_POLL_INTERVAL_MS": "5000",
            "INCIDENTD_SESSION_TIMEOUT_MS": "5000",
            "INCIDENTD_HEARTBEAT_INTERVAL_MS": "1500",
            "INCIDENTD_LINEAGE_REFRESH_SECONDS": "0.5",
            "INCIDENTD_LOG_FORMAT": "json",
            "INCIDENTD_PRODUCER_IDEMPOTENCE": "true" if idempotent else "false",
        }
    )
    env.update(extra)
    return env


@dataclass
class WorkerProcess:
    """One `incidentd worker` subprocess with its log file and metrics port."""

    env: dict[str, str]
    log_path: Path
    metrics_port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        """Launch the worker."""
        env = dict(self.env, INCIDENTD_METRICS_PORT=str(self.metrics_port))
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "incidentd.app.cli", "worker"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        return self

    def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait; returns the exit code."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        """SIGKILL: a crash at an arbitrary point."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def log_text(self) -> str:
        """What the worker logged."""
        return self.log_path.read_text(errors="replace")


@contextmanager
def worker_running(
    db_url: str,
    bootstrap: str,
    topics: TopicSet,
    log_dir: Path,
    *,
    broker: BrokerService | None = None,
    **extra: str,
) -> Iterator[WorkerProcess]:
    """One started worker wired to this test's database and topics; killed on exit."""
    env = worker_env(db_url, bootstrap, topics, broker=broker, **extra)
    proc = WorkerProcess(env, log_dir / "worker.log")
    proc.start()
    try:
        yield proc
    finally:
        proc.kill()


@contextmanager
def workers_running(
    env: dict[str, str], log_dir: Path, count: int
) -> Iterator[list[WorkerProcess]]:
    """`count` started workers (logs `workerN.log`); each in the list, later ones too, is killed
    on exit."""
    procs = [WorkerProcess(env, log_dir / f"worker{i}.log").start() for i in range(count)]
    try:
        yield procs
    finally:
        for proc in procs:
            proc.kill()


def produce(bootstrap: str, topic: str, records: Iterable[tuple[bytes | None, bytes]]) -> int:
    """Publish records and wait for the broker to take them all."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    count = 0
    for key, value in records:
        producer.send(topic, key=key, value=value)
        count += 1
    producer.flush()
    producer.close()
    return count


def produce_to_partitions(bootstrap: str, topic: str, records: Iterable[tuple[int, bytes]]) -> None:
    """Publish (partition, value) records, unkeyed, and wait for the broker to take them."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    for partition, value in records:
        producer.send(topic, value=value, partition=partition)
    producer.flush()
    producer.close()


class TopicReader:
    """Reads every record of a topic from the beginning, without a consumer group."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        parts = self.consumer.partitions_for_topic(topic) or set()
        self.consumer.assign([TopicPartition(topic, p) for p in sorted(parts)])
        self.consumer.seek_to_beginning()
        self.records: list[Any] = []

    def poll(self) -> list[Any]:
        """Fetch what arrived; returns all records read so far."""
        for batch in self.consumer.poll(timeout_ms=200).values():
            self.records.extend(batch)
        return self.records

    def json(self) -> list[dict[str, Any]]:
        """Values of all records read so far, parsed."""
        return [orjson.loads(r.value) for r in self.records]

    def close(self) -> None:
        """Close the consumer."""
        self.consumer.close()


def alert(
    alert_id: str,
    product: str,
    minute: int,
    *,
    space: str = "shop",
    status: str = "firing",
    severity: str = "high",
    fingerprint: str | None = None,
    base: str = "2026-02-27T14:00:00+00:00",
) -> tuple[bytes, bytes]:
    """A (key, value) alert record at `base` + `minute` minutes."""
    from datetime import datetime, timedelta

    at = datetime.fromisoformat(base) + timedelta(minutes=minute)
    body: dict[str, Any] = {
        "schema_version": 1,
        "alert_id": alert_id,
        "space": space,
        "product_id": product,
        "alert_type": "quality_check_failed",
        "status": status,
        "severity": severity,
        "occurred_at": at.isoformat().replace("+00:00", "Z"),
        "title": f"check failed on {product}",
    }
    if fingerprint:
        body["fingerprint"] = fingerprint
    return alert_key(space), orjson.dumps(body)


def latest_by_incident(events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """What a consumer keeping the highest version of each incident's events ends with."""
    latest: dict[str, dict[str, Any]] = {}
    for event in events:
        seen = latest.get(event["incident_id"])
        if seen is None or event["incident"]["version"] > seen["incident"]["version"]:
            latest[event["incident_id"]] = event
    return latest


def metric(port: int, name: str) -> float:
    """Sum of a Prometheus metric's samples on a worker (-1 while it does not answer)."""
    body = scrape(port)
    if body is None:
        return -1.0  # not listening yet
    pattern = re.compile(rf"^{re.escape(name)}(?:{{[^}}]*}})? (\S+)$", re.M)
    return sum(float(v) for v in pattern.findall(body))


def scrape(port: int) -> str | None:
    """A worker's /metrics text; None while it is not listening."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            return str(resp.read().decode())
    except OSError:
        return None


def owned_partitions(port: int, topic: str) -> set[int]:
    """The partitions of `topic` a worker reports lag for: those assigned to it."""
    pattern = re.compile(
        rf'^incidentd_consumer_lag{{partition="(\d+)",topic="{re.escape(topic)}"}} ', re.M
    )
    return {int(p) for p in pattern.findall(scrape(port) or "")}


def now_ms() -> float:
    """Wall clock in milliseconds (for throughput figures)."""
    return time.time() * 1000
