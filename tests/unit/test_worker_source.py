"""The Kafka source adapter: what it asks kafka-python and how it turns the answers into
`Partition`s, offsets and `BrokerError`s. The only tests that stand in for kafka-python's
consumer (the loop's tests fake `Source` itself; the e2e tests run the real client)."""

from __future__ import annotations

from typing import Any, NamedTuple

import pytest
from kafka import TopicPartition
from kafka.errors import (
    CommitFailedError,
    KafkaConnectionError,
    KafkaTimeoutError,
    UnsupportedCodecError,
)

from incidentd.schemas.settings import Settings
from incidentd.worker import broker as broker_module
from incidentd.worker import source as source_module
from incidentd.worker.broker import BrokerError, open_producer
from incidentd.worker.source import KafkaSource, Partition, Reader, open_source

TP = TopicPartition("dq.alerts", 0)


class Rec(NamedTuple):
    """A consumed record, as far as the adapter reads it."""

    offset: int


class Coordinator:
    """kafka-python's group coordinator, as far as the adapter asks it."""

    def __init__(self) -> None:
        self.unknown = False

    def coordinator_unknown(self) -> bool:
        return self.unknown


class Consumer:
    """A KafkaConsumer as far as the adapter uses it."""

    def __init__(self) -> None:
        self.poll_errors: list[Exception] = []
        self.closed = False
        self.commit_errors: list[Exception] = []
        self.committed: list[tuple[dict[Any, Any], int | None]] = []
        self.asked_positions: list[int | None] = []
        self.paused_now: set[TopicPartition] = set()
        self._coordinator = Coordinator()

    def poll(self, timeout_ms: int = 0, max_records: int | None = None) -> dict[Any, Any]:
        if timeout_ms < 0:
            raise KafkaConnectionError("refused")
        if self.poll_errors:
            raise self.poll_errors.pop(0)
        return {TP: [Rec(2), Rec(3)]}

    def close(self, autocommit: bool = True) -> None:
        self.closed = True

    def commit(self, offsets: dict[Any, Any], timeout_ms: int | None = None) -> None:
        if self.commit_errors:
            raise self.commit_errors.pop(0)
        self.committed.append(({tp: m.offset for tp, m in offsets.items()}, timeout_ms))

    def assignment(self) -> set[TopicPartition]:
        return {TP, TopicPartition("dq.alerts", 1)}

    def pause(self, *tps: TopicPartition) -> None:
        self.paused_now |= set(tps)

    def paused(self) -> set[TopicPartition]:
        return set(self.paused_now)

    def resume(self, *tps: TopicPartition) -> None:
        self.paused_now -= set(tps)

    def highwater(self, tp: TopicPartition) -> int | None:
        return 10 if tp.partition == 0 else None

    def position(self, tp: TopicPartition, timeout_ms: int | None = None) -> int | None:
        self.asked_positions.append(timeout_ms)
        return 4


def test_polled_records_come_keyed_by_plain_partitions() -> None:
    polled = KafkaSource(Consumer()).poll(100, 5)
    assert polled == {Partition("dq.alerts", 0): [Rec(2), Rec(3)]}
    assert type(next(iter(polled))) is Partition


def test_a_failed_poll_is_a_broker_error_named_after_the_client_failure() -> None:
    with pytest.raises(BrokerError) as caught:
        KafkaSource(Consumer()).poll(-1)
    assert caught.value.kind == "KafkaConnectionError"


def test_commits_are_bounded_attempts_of_next_offsets() -> None:
    consumer = Consumer()
    KafkaSource(consumer, attempt_seconds=0.05).commit({Partition("dq.alerts", 0): 7})
    assert consumer.committed == [({TP: 7}, 50)]


def test_a_commit_the_broker_did_not_take_is_a_broker_error() -> None:
    consumer = Consumer()
    consumer.commit_errors = [KafkaTimeoutError("no answer")]
    with pytest.raises(BrokerError) as caught:
        KafkaSource(consumer).commit({Partition("dq.alerts", 0): 7})
    assert caught.value.kind == "KafkaTimeoutError"


def test_a_group_that_moved_on_is_not_an_error() -> None:
    consumer = Consumer()
    consumer.commit_errors = [CommitFailedError("rebalanced")]
    KafkaSource(consumer).commit({Partition("dq.alerts", 0): 7})  # the new owner replays
    assert consumer.committed == []


def test_pause_and_resume_cover_every_assigned_partition() -> None:
    consumer = Consumer()
    source = KafkaSource(consumer)
    source.pause()
    assert consumer.paused_now == consumer.assignment()
    source.resume()
    assert consumer.paused_now == set()


def test_the_coordinator_check_reads_the_client_and_defaults_to_known() -> None:
    consumer = Consumer()
    source = KafkaSource(consumer)
    assert source.coordinator_known()
    consumer._coordinator.unknown = True
    assert not source.coordinator_known()
    del consumer._coordinator  # a client without that private method
    assert source.coordinator_known()


def test_lag_never_waits_for_a_position_the_coordinator_would_give() -> None:
    consumer = Consumer()
    assert KafkaSource(consumer).lag() == {Partition("dq.alerts", 0): 6}
    assert consumer.asked_positions == [0]


def test_lag_counts_from_the_committed_offset_not_from_what_was_read() -> None:
    consumer = Consumer()  # end offset 10; records 2 and 3 polled; position 4
    source = KafkaSource(consumer)
    source.poll(100)
    assert source.lag() == {Partition("dq.alerts", 0): 8}  # read, not committed: still lag
    source.commit({Partition("dq.alerts", 0): 4})
    assert source.lag() == {Partition("dq.alerts", 0): 6}
    assert consumer.asked_positions == []


def test_a_consumer_whose_poll_failed_is_replaced_at_the_next_poll() -> None:
    broken, fresh = Consumer(), Consumer()
    broken.poll_errors = [UnsupportedCodecError("Libraries for lz4 compression codec not found")]
    made = [fresh]
    source = KafkaSource(broken, reopen=made.pop)
    with pytest.raises(BrokerError) as caught:
        source.poll(100)
    assert caught.value.kind == "UnsupportedCodecError"
    assert not broken.closed  # replaced only when polled again
    assert source.poll(100) == {Partition("dq.alerts", 0): [Rec(2), Rec(3)]}
    assert broken.closed
    assert made == []


def test_a_consumer_that_cannot_be_replaced_yet_is_tried_again() -> None:
    broken, fresh = Consumer(), Consumer()
    broken.poll_errors = [UnsupportedCodecError("lz4")]

    def reopen() -> Consumer:
        if not broken.poll_errors:  # the first attempt: no broker answers
            broken.poll_errors.append(KafkaTimeoutError("bootstrap"))
            raise BrokerError("KafkaTimeoutError", "Unable to bootstrap")
        return fresh

    source = KafkaSource(broken, reopen=reopen)
    with pytest.raises(BrokerError):
        source.poll(100)
    with pytest.raises(BrokerError) as caught:
        source.poll(100)
    assert caught.value.kind == "KafkaTimeoutError"
    assert not broken.closed  # kept until a new consumer exists
    assert source.poll(100)
    assert broken.closed


def test_the_producer_is_idempotent_as_set_and_a_bootstrap_failure_is_a_broker_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    configs: list[dict[str, Any]] = []

    def producer(**config: Any) -> None:
        configs.append(config)
        raise KafkaTimeoutError("Unable to bootstrap")

    monkeypatch.setattr(broker_module, "KafkaProducer", producer)
    for idempotence in (True, False):
        with pytest.raises(BrokerError) as caught:
            open_producer(
                Settings(kafka_bootstrap_servers="127.0.0.1:1", producer_idempotence=idempotence)
            )
        assert caught.value.kind == "KafkaTimeoutError"
    assert [c["enable_idempotence"] for c in configs] == [True, False]
    assert Settings().producer_idempotence  # on by default: Apache Kafka supports it


def test_the_tools_reader_speaks_plain_partitions_and_next_offsets() -> None:
    consumer = Consumer()
    reader = Reader(consumer)
    assert reader.poll(100) == {Partition("dq.alerts", 0): [Rec(2), Rec(3)]}
    assert reader.assignment() == {Partition("dq.alerts", 0), Partition("dq.alerts", 1)}
    reader.commit({Partition("dq.alerts", 0): 4})
    assert consumer.committed == [({TP: 4}, None)]
    reader.pause(Partition("dq.alerts", 1))
    assert consumer.paused_now == {TopicPartition("dq.alerts", 1)}


def test_the_tools_reader_reports_a_group_that_moved_on_as_a_broker_error() -> None:
    consumer = Consumer()
    consumer.commit_errors = [CommitFailedError("rebalanced")]
    with pytest.raises(BrokerError) as caught:
        Reader(consumer).commit({Partition("dq.alerts", 0): 4})  # the replay must not go on
    assert caught.value.kind == "CommitFailedError"
    with pytest.raises(BrokerError):
        Reader(consumer).poll(-1)


def test_the_consumer_asks_the_broker_to_hold_a_fetch_only_as_long_as_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    configs: list[dict[str, Any]] = []

    def consumer(**config: Any) -> None:
        configs.append(config)
        raise KafkaTimeoutError("Unable to bootstrap")

    monkeypatch.setattr(source_module, "KafkaConsumer", consumer)
    for wait in (None, 250):
        extra = {} if wait is None else {"fetch_max_wait_ms": wait}
        with pytest.raises(BrokerError):
            open_source(Settings(kafka_bootstrap_servers="127.0.0.1:1", **extra))
    assert [c["fetch_max_wait_ms"] for c in configs] == [Settings().fetch_max_wait_ms, 250]
    # Not kafka-python's 500 ms: Tansu holds a fetch that long even when records come meanwhile.
    assert Settings().fetch_max_wait_ms <= 100
