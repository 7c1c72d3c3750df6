"""Producing alert records, draining a topic raw, and watching incident events."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import orjson
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from bench.streams import Record

FETCH_MAX_BYTES = 64 * 1024 * 1024
PARTITION_FETCH_BYTES = 8 * 1024 * 1024
MAX_POLL_RECORDS = 2000
"""The worker's consumer settings (incidentd/worker/source.py `open_source`)."""
MAX_WATCH_SECONDS = 3600.0
"""An event watcher stops by itself after this long, whatever happens to its phase."""


def _producer(bootstrap: str, linger_ms: int = 5) -> KafkaProducer:
    return KafkaProducer(
        bootstrap_servers=bootstrap,
        linger_ms=linger_ms,
        batch_size=256 * 1024,
        max_request_size=8 * 1024 * 1024,
        client_id="incidentd-bench",
    )


@dataclass(frozen=True, slots=True)
class Produced:
    """When a bulk publish started (epoch seconds) and how long it took until acknowledged."""

    started_at: float
    seconds: float
    records: int

    @property
    def per_second(self) -> float:
        """Records acknowledged per second."""
        return self.records / self.seconds if self.seconds > 0 else 0.0


def produce(bootstrap: str, topic: str, records: Sequence[Record]) -> Produced:
    """Publish every record as fast as the client can, and wait for the acknowledgements."""
    producer = _producer(bootstrap)
    try:
        started_at, started = time.time(), time.perf_counter()
        for record in records:
            producer.send(topic, key=record.key, value=record.value)
        producer.flush(timeout=300)
        return Produced(started_at, time.perf_counter() - started, len(records))
    finally:
        producer.close(timeout=10)


def produce_warmup(
    bootstrap: str, topic: str, *, partitions: int, space: str, product: str, round_: int
) -> None:
    """One recovery per partition for a check that never failed: stored, but opens nothing."""
    producer = _producer(bootstrap, linger_ms=0)
    try:
        for partition in range(partitions):
            body = {
                "schema_version": 1,
                "alert_id": f"warmup-{round_}-{partition}",
                "space": space,
                "product_id": product,
                "alert_type": "warmup",
                "status": "resolved",
                "severity": "info",
                "occurred_at": "2026-01-01T00:00:00Z",
                "fingerprint": f"warmup/{round_}/{partition}",
            }
            producer.send(topic, value=orjson.dumps(body), partition=partition)
        producer.flush(timeout=60)
    finally:
        producer.close(timeout=10)


def produce_paced(
    bootstrap: str, topic: str, records: Sequence[Record], rate: float
) -> dict[str, float]:
    """Publish at `rate` records/s in 10 ms ticks; returns alert id -> epoch send time."""
    producer = _producer(bootstrap, linger_ms=0)
    sent: dict[str, float] = {}
    tick = 0.01
    per_tick = max(1, round(rate * tick))
    started = time.perf_counter()
    try:
        for index in range(0, len(records), per_tick):
            due = started + (index / per_tick) * tick
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            now = time.time()
            for record in records[index : index + per_tick]:
                if record.alert_id is not None:
                    sent.setdefault(record.alert_id, now)
                producer.send(topic, key=record.key, value=record.value)
        producer.flush(timeout=120)
    finally:
        producer.close(timeout=10)
    return sent


@dataclass(frozen=True, slots=True)
class Drained:
    """How fast a bare consumer read a topic."""

    records: int
    seconds: float
    per_second: float


def drain_raw(bootstrap: str, topic: str, expected: int, timeout: float) -> Drained:
    """Read `expected` records with the worker's fetch settings, doing nothing with them.

    The partitions are assigned rather than subscribed: a group join (which waits for the
    rebalance timeout on Tansu) is not part of the drain. The clock starts at the first poll,
    once the consumer knows the topic's partitions.
    """
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        client_id="incidentd-bench-raw",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=MAX_POLL_RECORDS,
        fetch_max_bytes=FETCH_MAX_BYTES,
        max_partition_fetch_bytes=PARTITION_FETCH_BYTES,
    )
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        consumer.assign([TopicPartition(topic, p) for p in sorted(partitions)])
        consumer.seek_to_beginning()
        started = time.perf_counter()
        deadline = time.monotonic() + timeout
        seen = 0
        while seen < expected and time.monotonic() < deadline:
            polled = consumer.poll(timeout_ms=200, max_records=MAX_POLL_RECORDS)
            seen += sum(len(batch) for batch in polled.values())
        seconds = time.perf_counter() - started
        if seen < expected:
            raise TimeoutError(f"raw consumer read {seen} of {expected} records in {timeout} s")
        return Drained(seen, seconds, seen / seconds if seconds > 0 else 0.0)
    finally:
        consumer.close(autocommit=False)


class EventWatcher:
    """Reads an incidents topic from the beginning in a thread; notes when each alert appears."""

    def __init__(self, bootstrap: str, topic: str, partitions: int) -> None:
        self.first_seen: dict[str, float] = {}
        self.events = 0
        self._consumer = KafkaConsumer(
            bootstrap_servers=bootstrap,
            enable_auto_commit=False,
            client_id="incidentd-bench-watch",
            fetch_max_wait_ms=20,
        )
        self._consumer.assign([TopicPartition(topic, p) for p in range(partitions)])
        self._consumer.seek_to_beginning()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="event-watcher", daemon=True)

    def __enter__(self) -> EventWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)
        self._consumer.close()

    def count(self) -> int:
        """Events read so far."""
        with self._lock:
            return self.events

    def _run(self) -> None:
        deadline = time.monotonic() + MAX_WATCH_SECONDS
        while not self._stop.is_set() and time.monotonic() < deadline:
            polled = self._consumer.poll(timeout_ms=100)
            now = time.time()
            for batch in polled.values():
                for record in batch:
                    event = orjson.loads(record.value)
                    for alert_id in event.get("alert_ids", ()):
                        self.first_seen.setdefault(alert_id, now)
                    with self._lock:
                        self.events += 1
