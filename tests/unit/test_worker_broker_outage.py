"""The worker while the broker is unreachable, with stand-ins for the Kafka clients.

A commit or a dead-letter publish that fails is retried with backoff (no crash, no offset for
unsaved work), a lost group coordinator shows on /healthz and clears by itself, and nothing in
the loop blocks on the unreachable broker. tests/e2e/test_broker_restart.py does the same with
a real broker that is killed and restarted.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from incidentd.schemas.settings import Settings
from incidentd.worker import runner
from incidentd.worker.broker import BrokerError
from incidentd.worker.parsing import DeadLetter
from incidentd.worker.pipeline import BatchResult
from incidentd.worker.runner import Worker
from incidentd.worker.source import Partition
from tests.support.fake_source import (
    TP,
    FakeRecord,
    FakeSource,
    Producer,
    batch,
    broker_down,
)


@pytest.fixture
def worker(monkeypatch: pytest.MonkeyPatch) -> Iterator[Worker]:
    """A worker with stand-in clients, fast backoff and a batch that stores fine."""
    monkeypatch.setattr(runner, "KAFKA_ATTEMPT_SECONDS", 0.05)
    settings = Settings(
        kafka_bootstrap_servers="127.0.0.1:1",
        retry_backoff_initial_seconds=0.01,
        retry_backoff_max_seconds=0.04,
        metrics_port=0,  # run() must not bind the shared default port 9464 on a busy machine
    )
    w = Worker(settings, engine=None)  # type: ignore[arg-type]
    w._source, w._producer = FakeSource(), Producer()
    monkeypatch.setattr(w, "_process", lambda alerts, lineage: BatchResult(stored=len(alerts)))
    yield w


def source_of(w: Worker) -> FakeSource:
    assert isinstance(w._source, FakeSource)
    return w._source


def producer_of(w: Worker) -> Producer:
    assert isinstance(w._producer, Producer)
    return w._producer


def retries(w: Worker, stage: str) -> float:
    return w.metrics.registry.get_sample_value("incidentd_retries_total", {"stage": stage}) or 0


def test_a_commit_is_retried_until_the_broker_is_back(worker: Worker) -> None:
    source = source_of(worker)
    source.commit_errors = [broker_down("KafkaConnectionError"), broker_down("KafkaTimeoutError")]
    seen: list[dict[str, str]] = []
    source.on_commit = lambda: seen.append(worker.health.problems())
    worker._handle(batch())
    assert source.committed == [{TP: 3}]
    assert seen[1:] == [{"commit": "KafkaConnectionError"}, {"commit": "KafkaTimeoutError"}]
    assert worker.health.problems() == {}
    assert retries(worker, "commit") == 2
    assert source.paused_now == set()  # held paused between attempts, resumed after
    assert source.polls > 0  # kept polling (to stay in, or rejoin, the group) meanwhile


def test_a_commit_is_given_up_when_the_partitions_moved_on(worker: Worker) -> None:
    source = source_of(worker)
    source.commit_errors = [broker_down()] * 100

    def rebalanced() -> None:
        source.assigned = {Partition(TP.topic, 1)}

    source.on_commit = rebalanced
    worker._handle(batch())
    assert source.committed == []  # the new owner replays; stored alerts are skipped
    assert worker.health.problems() == {}  # nothing waits any more: ready again


def test_stopping_while_the_broker_is_down_commits_nothing(worker: Worker) -> None:
    source = source_of(worker)
    source.commit_errors = [broker_down()] * 100
    source.on_commit = worker.stop
    worker._handle(batch())
    assert source.committed == []
    assert source.commits_tried == 1


def test_an_unreachable_coordinator_shows_after_a_grace_and_clears(worker: Worker) -> None:
    source = source_of(worker)
    worker._check_broker()
    assert worker.health.problems() == {}
    source.coordinator_lost = True
    worker._check_broker()
    assert worker.health.problems() == {}  # a coordinator moving between brokers is no outage
    worker._coordinator_seen_at -= runner.COORDINATOR_LOST_GRACE_SECONDS + 0.1
    worker._check_broker()
    assert worker.health.problems() == {"kafka": "group coordinator unreachable"}
    source.coordinator_lost = False
    worker._check_broker()
    assert worker.health.problems() == {}


def test_a_failing_poll_while_holding_a_batch_does_not_escape(worker: Worker) -> None:
    source = source_of(worker)
    source.poll_errors = [broker_down("KafkaError"), broker_down("KafkaError")]
    source.commit_errors = [broker_down()]
    worker._handle(batch())
    assert source.committed == [{TP: 3}]
    assert "main_loop" not in worker.health.problems()


def dead(offset: int, value: bytes) -> DeadLetter:
    return DeadLetter(TP.topic, 0, offset, None, value, "broken", "invalid_json")


def test_dead_letters_in_flight_are_waited_for_not_sent_twice(worker: Worker) -> None:
    producer = producer_of(worker)
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
    producer = producer_of(worker)
    producer.refuse_big = 10
    assert worker._dead_letter([dead(1, b"z" * 50), dead(2, b"small")], batch())
    values = [(value, headers.get("value_dropped_bytes")) for _, value, headers in producer.sent]
    assert values == [(b"z" * 50, None), (b"small", None), (None, b"50")]


def test_a_dead_letter_over_the_producer_limit_is_sent_without_its_bytes(worker: Worker) -> None:
    producer = producer_of(worker)
    producer.max_request = 10
    assert worker._dead_letter([dead(1, b"z" * 50)], batch())
    assert [(value, headers.get("value_dropped_bytes")) for _, value, headers in producer.sent] == [
        (None, b"50")
    ]


def test_dead_letters_are_not_committed_past_when_the_batch_is_given_up(worker: Worker) -> None:
    producer, source = producer_of(worker), source_of(worker)
    producer.down = True
    attempts = {"n": 0}
    original = producer.flush

    def flush(timeout: float | None = None) -> None:
        attempts["n"] += 1
        if attempts["n"] == 2:
            source.assigned = set()  # the partitions moved on meanwhile
        original(timeout)

    producer.flush = flush  # type: ignore[method-assign]
    records = batch()
    records[TP].append(FakeRecord(3, None, b"{not json"))
    worker._handle(records)
    assert source.committed == []
    assert worker.health.problems() == {}


def test_lag_of_partitions_that_moved_away_is_no_longer_reported(worker: Worker) -> None:
    source = source_of(worker)
    other = Partition(TP.topic, 1)
    source.assigned = {TP, other}
    source.lag = lambda: {TP: 5, other: 7}  # type: ignore[method-assign]
    worker._update_lag()
    source.assigned = {TP}
    source.lag = lambda: {TP: 4}  # type: ignore[method-assign]
    worker._update_lag()

    def lag(partition: str) -> float | None:
        labels = {"topic": TP.topic, "partition": partition}
        return worker.metrics.registry.get_sample_value("incidentd_consumer_lag", labels)

    assert (lag("0"), lag("1")) == (4, None)


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
    worker._source = worker._producer = None
    failures = [BrokerError("KafkaTimeoutError", "Unable to bootstrap")] * 2
    seen: list[dict[str, str]] = []
    producer, source = Producer(), FakeSource()

    def open_producer(settings: Settings) -> Producer:
        seen.append(worker.health.problems())
        if failures:
            raise failures.pop(0)
        return producer

    monkeypatch.setattr(runner, "open_producer", open_producer)
    monkeypatch.setattr(runner, "open_source", lambda settings: source)
    monkeypatch.setattr(runner, "OutboxRelay", Relay)
    looped = []
    monkeypatch.setattr(worker, "_loop", lambda: looped.append(worker.health.problems()))
    worker.run()
    assert seen == [{}, {"kafka": "KafkaTimeoutError"}, {"kafka": "KafkaTimeoutError"}]
    assert looped == [{}]  # connected: ready, and consuming
    assert retries(worker, "connect") == 2
    assert producer.closed == 1
    assert source.closed


def test_a_worker_stopped_before_the_broker_answers_exits_cleanly(
    worker: Worker, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker._source = worker._producer = None

    def open_producer(settings: Settings) -> Producer:
        worker.stop()
        raise BrokerError("KafkaTimeoutError", "Unable to bootstrap")

    monkeypatch.setattr(runner, "open_producer", open_producer)
    monkeypatch.setattr(worker, "_loop", lambda: pytest.fail("no loop without a broker"))
    worker.run()
    assert worker._producer is None
    assert worker._source is None
