"""The worker while the broker is unreachable, with stand-ins for the Kafka clients.

A commit or a dead-letter publish that fails is retried with backoff (no crash, no offset for
unsaved work), a lost group coordinator shows on /healthz and clears by itself, and nothing in
the loop blocks on the unreachable broker. tests/e2e/test_broker_restart.py does the same with
a real broker that is killed and restarted.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from kafka import TopicPartition
from kafka.errors import (
    CommitFailedError,
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
)

from incidentd.schemas.settings import Settings
from incidentd.worker import runner
from incidentd.worker.parsing import DeadLetter
from incidentd.worker.pipeline import BatchResult
from incidentd.worker.runner import Worker
from tests.support.workers import alert

TP = TopicPartition("dq.alerts", 0)


@dataclass
class Record:
    """What the consumer returns for one record."""

    offset: int
    key: bytes | None
    value: bytes
    topic: str = TP.topic
    partition: int = TP.partition


class Coordinator:
    """kafka-python's group coordinator, as far as the worker asks it."""

    def __init__(self) -> None:
        self.unknown = False

    def coordinator_unknown(self) -> bool:
        return self.unknown


@dataclass
class Consumer:
    """A KafkaConsumer whose commits fail as scripted."""

    commit_errors: list[Exception] = field(default_factory=list)
    poll_errors: list[Exception] = field(default_factory=list)
    assigned: set[TopicPartition] = field(default_factory=lambda: {TP})
    committed: list[dict[TopicPartition, int]] = field(default_factory=list)
    commit_timeouts: list[int | None] = field(default_factory=list)
    paused_now: set[TopicPartition] = field(default_factory=set)
    polls: int = 0
    on_commit: Any = None  # called before each commit attempt
    _coordinator: Coordinator = field(default_factory=Coordinator)

    def poll(self, timeout_ms: int = 0, max_records: int | None = None) -> dict[Any, Any]:
        self.polls += 1
        if self.poll_errors:
            raise self.poll_errors.pop(0)
        time.sleep(timeout_ms / 1000)
        return {}

    def commit(self, offsets: dict[TopicPartition, Any], timeout_ms: int | None = None) -> None:
        self.commit_timeouts.append(timeout_ms)
        if self.on_commit is not None:
            self.on_commit()
        if self.commit_errors:
            raise self.commit_errors.pop(0)
        self.committed.append({tp: meta.offset for tp, meta in offsets.items()})

    def assignment(self) -> set[TopicPartition]:
        return set(self.assigned)

    def pause(self, *tps: TopicPartition) -> None:
        self.paused_now |= set(tps)

    def resume(self, *tps: TopicPartition) -> None:
        self.paused_now -= set(tps)

    def paused(self) -> set[TopicPartition]:
        return set(self.paused_now)

    def seek(self, tp: TopicPartition, offset: int) -> None:
        raise AssertionError("nothing is fetched while paused")


class Future:
    """A producer future that is acknowledged, failed or still in flight."""

    def __init__(self, producer: Producer, error: Exception | None = None) -> None:
        self.producer, self.error = producer, error

    def failed(self) -> bool:
        return self.error is not None and not isinstance(self.error, KafkaTimeoutError)

    def get(self, timeout: float | None = None) -> None:
        if self.producer.down:
            raise KafkaTimeoutError("still in flight")
        if self.error is not None:
            raise self.error


@dataclass
class Producer:
    """A KafkaProducer that holds sends in flight while `down`."""

    down: bool = False
    sent: list[tuple[str, bytes | None, dict[str, bytes]]] = field(default_factory=list)
    refuse_big: int = 0  # values over this many bytes are refused by the "broker"
    max_request: int = 0  # values over this many bytes are refused by send() itself

    def send(self, topic: str, key: bytes | None, value: bytes | None, headers: Any) -> Future:
        if self.max_request and value is not None and len(value) > self.max_request:
            raise MessageSizeTooLargeError("over max_request_size")
        self.sent.append((topic, value, dict(headers)))
        too_big = self.refuse_big and value is not None and len(value) > self.refuse_big
        return Future(self, MessageSizeTooLargeError("too big") if too_big else None)

    def flush(self, timeout: float | None = None) -> None:
        if self.down:
            raise KafkaTimeoutError("flush timed out")


@pytest.fixture
def worker(monkeypatch: pytest.MonkeyPatch) -> Iterator[Worker]:
    """A worker with stand-in clients, fast backoff and a batch that stores fine."""
    monkeypatch.setattr(runner, "KAFKA_ATTEMPT_SECONDS", 0.05)
    settings = Settings(
        kafka_bootstrap_servers="127.0.0.1:1",
        retry_backoff_initial_seconds=0.01,
        retry_backoff_max_seconds=0.04,
    )
    w = Worker(settings, engine=None)  # type: ignore[arg-type]
    w._consumer, w._producer = Consumer(), Producer()
    monkeypatch.setattr(w, "_process", lambda alerts, lineage: BatchResult(stored=len(alerts)))
    yield w


def batch(first: int = 0, count: int = 3) -> dict[TopicPartition, list[Any]]:
    """`count` valid alert records from offset `first`."""
    records = []
    for offset in range(first, first + count):
        key, value = alert(f"a{offset}", "orders", minute=offset)
        records.append(Record(offset, key, value))
    return {TP: records}


def retries(w: Worker, stage: str) -> float:
    return w.metrics.registry.get_sample_value("incidentd_retries_total", {"stage": stage}) or 0


def test_a_commit_is_retried_until_the_broker_is_back(worker: Worker) -> None:
    consumer = worker._consumer
    consumer.commit_errors = [KafkaConnectionError("refused"), KafkaTimeoutError("no answer")]
    seen: list[dict[str, str]] = []
    consumer.on_commit = lambda: seen.append(worker.health.problems())
    worker._handle(batch())
    assert consumer.committed == [{TP: 3}]
    assert seen[1:] == [{"commit": "KafkaConnectionError"}, {"commit": "KafkaTimeoutError"}]
    assert worker.health.problems() == {}
    assert retries(worker, "commit") == 2
    assert consumer.paused_now == set()  # held paused between attempts, resumed after
    assert consumer.polls > 0  # kept polling (to stay in, or rejoin, the group) meanwhile
    assert all(t is not None and t <= 50 for t in consumer.commit_timeouts)  # bounded attempts


def test_a_commit_is_given_up_when_the_partitions_moved_on(worker: Worker) -> None:
    consumer = worker._consumer
    consumer.commit_errors = [KafkaConnectionError("refused")] * 100

    def rebalanced() -> None:
        consumer.assigned = {TopicPartition(TP.topic, 1)}

    consumer.on_commit = rebalanced
    worker._handle(batch())
    assert consumer.committed == []  # the new owner replays; stored alerts are skipped
    assert worker.health.problems() == {}  # nothing waits any more: ready again


def test_a_group_that_moved_on_is_not_retried(worker: Worker) -> None:
    consumer = worker._consumer
    consumer.commit_errors = [CommitFailedError("rebalanced")]
    worker._handle(batch())
    assert consumer.commit_timeouts == [50]
    assert retries(worker, "commit") == 0
    assert worker.health.problems() == {}


def test_stopping_while_the_broker_is_down_commits_nothing(worker: Worker) -> None:
    consumer = worker._consumer
    consumer.commit_errors = [KafkaConnectionError("refused")] * 100
    consumer.on_commit = worker.stop
    worker._handle(batch())
    assert consumer.committed == []
    assert len(consumer.commit_timeouts) == 1


def test_an_unreachable_coordinator_shows_after_a_grace_and_clears(worker: Worker) -> None:
    coordinator = worker._consumer._coordinator
    worker._check_broker()
    assert worker.health.problems() == {}
    coordinator.unknown = True
    worker._check_broker()
    assert worker.health.problems() == {}  # a coordinator moving between brokers is no outage
    worker._coordinator_seen_at -= runner.COORDINATOR_LOST_GRACE_SECONDS + 0.1
    worker._check_broker()
    assert worker.health.problems() == {"kafka": "group coordinator unreachable"}
    coordinator.unknown = False
    worker._check_broker()
    assert worker.health.problems() == {}


def test_a_client_without_the_coordinator_check_is_taken_as_connected(worker: Worker) -> None:
    del worker._consumer._coordinator
    worker._coordinator_seen_at -= 60
    worker._check_broker()
    assert worker.health.problems() == {}


def test_a_failing_poll_while_holding_a_batch_does_not_escape(worker: Worker) -> None:
    consumer = worker._consumer
    consumer.poll_errors = [KafkaError("broken"), KafkaError("broken")]
    consumer.commit_errors = [KafkaConnectionError("refused")]
    worker._handle(batch())
    assert consumer.committed == [{TP: 3}]
    assert "main_loop" not in worker.health.problems()


def dead(offset: int, value: bytes) -> DeadLetter:
    return DeadLetter(TP.topic, 0, offset, None, value, "broken", "invalid_json")


def test_dead_letters_in_flight_are_waited_for_not_sent_twice(worker: Worker) -> None:
    producer = worker._producer
    producer.down = True
    attempts = {"n": 0}
    original = producer.flush

    def flush(timeout: float | None = None) -> None:
        attempts["n"] += 1
        if attempts["n"] == 3:  # two attempts time out, then the broker answers
            producer.down = False
        original(timeout)

    producer.flush = flush  # type: ignore[method-assign]
    letters = [dead(1, b"x"), dead(2, b"y")]
    assert worker._dead_letter(letters, batch())
    assert [value for _, value, _ in producer.sent] == [b"x", b"y"]
    assert retries(worker, "dlq") == 2
    assert worker.health.problems() == {}
    counted = worker.metrics.registry.get_sample_value(
        "incidentd_dead_letters_total", {"error_type": "invalid_json"}
    )
    assert counted == 2


def test_a_dead_letter_the_dlq_refuses_is_sent_without_its_bytes_once(worker: Worker) -> None:
    producer = worker._producer
    producer.refuse_big = 10
    assert worker._dead_letter([dead(1, b"z" * 50), dead(2, b"small")], batch())
    values = [(value, headers.get("value_dropped_bytes")) for _, value, headers in producer.sent]
    assert values == [(b"z" * 50, None), (b"small", None), (None, b"50")]


def test_a_dead_letter_over_the_producer_limit_is_sent_without_its_bytes(worker: Worker) -> None:
    producer = worker._producer
    producer.max_request = 10
    assert worker._dead_letter([dead(1, b"z" * 50)], batch())
    assert [(value, headers.get("value_dropped_bytes")) for _, value, headers in producer.sent] == [
        (None, b"50")
    ]


def test_dead_letters_are_not_committed_past_when_the_batch_is_given_up(worker: Worker) -> None:
    producer, consumer = worker._producer, worker._consumer
    producer.down = True
    attempts = {"n": 0}
    original = producer.flush

    def flush(timeout: float | None = None) -> None:
        attempts["n"] += 1
        if attempts["n"] == 2:
            consumer.assigned = set()  # the partitions moved on meanwhile
        original(timeout)

    producer.flush = flush  # type: ignore[method-assign]
    records = batch()
    records[TP].append(Record(3, None, b"{not json"))
    worker._handle(records)
    assert consumer.committed == []
    assert worker.health.problems() == {}


def test_lag_never_waits_for_a_position_the_coordinator_would_give(worker: Worker) -> None:
    asked: list[int | None] = []

    class Lagging(Consumer):
        def highwater(self, tp: TopicPartition) -> int:
            return 10

        def position(self, tp: TopicPartition, timeout_ms: int | None = None) -> int | None:
            asked.append(timeout_ms)
            return None  # not known yet: to be fetched from an unreachable coordinator

    worker._consumer = Lagging()
    worker._update_lag()
    assert asked == [0]
    assert (
        worker.metrics.registry.get_sample_value(
            "incidentd_consumer_lag", {"topic": TP.topic, "partition": "0"}
        )
        is None
    )


class Relay:
    """The outbox relay, doing nothing."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.started = self.stopped = False

    def start(self) -> None:
        self.started = True

    def stop(self, timeout: float = 0) -> None:
        self.stopped = True


def test_a_worker_started_while_the_broker_is_down_waits_for_it(
    worker: Worker, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker._consumer = worker._producer = None
    failures = [KafkaTimeoutError("Unable to bootstrap")] * 2
    seen: list[dict[str, str]] = []

    def producer(**config: Any) -> Producer:
        seen.append(worker.health.problems())
        if failures:
            raise failures.pop(0)
        assert config["enable_idempotence"] is False
        return Producer()

    class Subscribing(Consumer):
        def subscribe(self, topics: list[str]) -> None:
            self.topics = topics

        def close(self, autocommit: bool = True) -> None:
            self.closed = True

    producer_close = []
    monkeypatch.setattr(Producer, "close", lambda self, timeout=0: producer_close.append(1), False)
    monkeypatch.setattr(runner, "KafkaProducer", producer)
    monkeypatch.setattr(runner, "KafkaConsumer", lambda **config: Subscribing())
    monkeypatch.setattr(runner, "OutboxRelay", Relay)
    looped = []
    monkeypatch.setattr(worker, "_loop", lambda: looped.append(worker.health.problems()))
    worker.run()
    assert seen == [{}, {"kafka": "KafkaTimeoutError"}, {"kafka": "KafkaTimeoutError"}]
    assert looped == [{}]  # connected: ready, and consuming
    assert retries(worker, "connect") == 2
    assert producer_close == [1]
    assert worker._consumer.closed


def test_a_worker_stopped_before_the_broker_answers_exits_cleanly(
    worker: Worker, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker._consumer = worker._producer = None

    def producer(**config: Any) -> Producer:
        worker.stop()
        raise KafkaTimeoutError("Unable to bootstrap")

    monkeypatch.setattr(runner, "KafkaProducer", producer)
    monkeypatch.setattr(worker, "_loop", lambda: pytest.fail("no loop without a broker"))
    worker.run()
    assert worker._producer is None
    assert worker._consumer is None
