"""Stand-ins for the worker's Kafka side in unit tests of its loop: a `Source` whose polls and
commits fail as scripted, and a producer that holds sends in flight while `down`."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kafka.errors import KafkaTimeoutError, MessageSizeTooLargeError

from incidentd.worker.broker import BrokerError
from incidentd.worker.source import Partition, Polled, Record
from tests.support.workers import alert

TP = Partition("dq.alerts", 0)


@dataclass
class FakeRecord:
    """What the source returns for one record."""

    offset: int
    key: bytes | None
    value: bytes | None
    topic: str = TP.topic
    partition: int = TP.partition


def broker_down(kind: str = "KafkaConnectionError") -> BrokerError:
    """The error a source raises while the broker does not answer."""
    return BrokerError(kind, "no broker")


@dataclass
class FakeSource:
    """A `Source` whose polls and commits fail as scripted."""

    commit_errors: list[Exception] = field(default_factory=list)
    poll_errors: list[Exception] = field(default_factory=list)
    assigned: set[Partition] = field(default_factory=lambda: {TP})
    committed: list[dict[Partition, int]] = field(default_factory=list)
    commits_tried: int = 0
    paused_now: set[Partition] = field(default_factory=set)
    polls: int = 0
    on_commit: Any = None  # called before each commit attempt
    coordinator_lost: bool = False
    closed: bool = False
    rewound: int = 0

    def poll(self, timeout_ms: int, max_records: int | None = None) -> Polled:
        self.polls += 1
        if self.poll_errors:
            raise self.poll_errors.pop(0)
        time.sleep(timeout_ms / 1000)
        return {}

    def commit(self, offsets: Mapping[Partition, int]) -> None:
        self.commits_tried += 1
        if self.on_commit is not None:
            self.on_commit()
        if self.commit_errors:
            raise self.commit_errors.pop(0)
        self.committed.append(dict(offsets))

    def assignment(self) -> set[Partition]:
        return set(self.assigned)

    def pause(self) -> None:
        self.paused_now |= self.assigned

    def resume(self) -> None:
        self.paused_now = set()

    def seek(self, tp: Partition, offset: int) -> None:
        raise AssertionError("nothing is fetched while paused")

    def rewind(self) -> None:
        self.rewound += 1

    def coordinator_known(self) -> bool:
        return not self.coordinator_lost

    def lag(self) -> dict[Partition, int]:
        return {}

    def close(self) -> None:
        self.closed = True


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
    closed: int = 0

    def send(self, topic: str, key: bytes | None, value: bytes | None, headers: Any) -> Future:
        if self.max_request and value is not None and len(value) > self.max_request:
            raise MessageSizeTooLargeError("over max_request_size")
        self.sent.append((topic, value, dict(headers)))
        too_big = self.refuse_big and value is not None and len(value) > self.refuse_big
        return Future(self, MessageSizeTooLargeError("too big") if too_big else None)

    def flush(self, timeout: float | None = None) -> None:
        if self.down:
            raise KafkaTimeoutError("flush timed out")

    def close(self, timeout: float = 0) -> None:
        self.closed += 1


def batch(first: int = 0, count: int = 3) -> dict[Partition, list[Record]]:
    """`count` valid alert records from offset `first`."""
    records: list[Record] = []
    for offset in range(first, first + count):
        key, value = alert(f"a{offset}", "orders", minute=offset)
        records.append(FakeRecord(offset, key, value))
    return {TP: records}
