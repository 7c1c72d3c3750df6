"""incidentd's door to Kafka for consuming: the worker's consumer behind a small typed
`Source`, and the `Reader` of the tools (DLQ replay, the demo).

With `incidentd.worker.broker` (producers, admin, error mapping) it is the only module that
imports the Kafka client. The loop sees `Source` (poll, commit, pause, resume, assignment,
seek, coordinator_known, lag), plain `Partition`s and `Record`s, and `BrokerError` for anything
the broker did not take; tests fake `Source`, not kafka-python.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, Protocol

import structlog
from kafka import KafkaConsumer, TopicPartition
from kafka.errors import CommitFailedError, KafkaError
from kafka.structs import OffsetAndMetadata

from incidentd.schemas.settings import Settings
from incidentd.worker.broker import KAFKA_ATTEMPT_SECONDS, broker_error, broker_errors

log = structlog.get_logger(__name__)


class Partition(NamedTuple):
    """A topic partition."""

    topic: str
    partition: int


class Record(Protocol):
    """One consumed record, as far as the worker reads it."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...


Polled = dict[Partition, list[Record]]


class StoredRecord(Record, Protocol):
    """A consumed record with what the tools read besides: its timestamp and headers."""

    @property
    def timestamp(self) -> int | None: ...
    @property
    def headers(self) -> list[tuple[str, bytes | None]] | None: ...


class Source(Protocol):
    """A consumer-group member's view of its partitions."""

    def poll(self, timeout_ms: int, max_records: int | None = None) -> Polled:
        """Records of the assigned, unpaused partitions; raises BrokerError."""
        ...

    def commit(self, offsets: Mapping[Partition, int]) -> None:
        """Commit next-offsets; raises BrokerError (a group that moved on is not an error)."""
        ...

    def assignment(self) -> set[Partition]:
        """The partitions assigned now."""
        ...

    def pause(self) -> None:
        """Pause every assigned partition (a poll then only keeps the membership)."""
        ...

    def resume(self) -> None:
        """Resume every paused partition."""
        ...

    def seek(self, tp: Partition, offset: int) -> None:
        """Fetch `tp` again from `offset`."""
        ...

    def rewind(self) -> None:
        """Seek every assigned partition back to its committed offset (read records again)."""
        ...

    def coordinator_known(self) -> bool:
        """Whether the group coordinator is reachable."""
        ...

    def lag(self) -> dict[Partition, int]:
        """Records behind the end, for the partitions whose position and end are known."""
        ...

    def close(self) -> None:
        """Leave the group without committing."""
        ...


class KafkaSource:
    """`Source` over kafka-python's `KafkaConsumer`.

    With `reopen`, a consumer whose poll failed is replaced by a new one (`reopen()`) at the
    next poll: kafka-python cannot go on after failing to read a fetched batch (an unknown
    codec, a corrupt batch): the batch stays first in line and every later poll spins on it
    without returning. The new consumer rejoins the group and fetches from the committed
    offsets, so a failure that lasts fails again, and the loop sees polling keep failing.
    """

    def __init__(
        self,
        consumer: Any,
        attempt_seconds: float = KAFKA_ATTEMPT_SECONDS,
        reopen: Callable[[], Any] | None = None,
    ) -> None:
        self._consumer = consumer
        self._attempt_ms = int(attempt_seconds * 1000)
        self._reopen = reopen
        self._broken = False
        # Per assigned partition, the group's committed offset as far as this member knows:
        # what it committed, else where it started reading (the committed offset it resumed at).
        self._committed: dict[Partition, int] = {}

    def poll(self, timeout_ms: int, max_records: int | None = None) -> Polled:
        if self._broken and self._reopen is not None:
            self._replace_consumer(self._reopen)
        try:
            polled = self._consumer.poll(timeout_ms=timeout_ms, max_records=max_records)
        except KafkaError as exc:
            self._broken = True
            raise broker_error(exc) from exc
        out: Polled = {}
        for tp, records in polled.items():
            part = Partition(tp.topic, tp.partition)
            out[part] = records
            if records:
                self._committed.setdefault(part, records[0].offset)
        return out

    def _replace_consumer(self, reopen: Callable[[], Any]) -> None:
        """Leave the group with the broken consumer and join it with a new one."""
        consumer = reopen()  # raises BrokerError while no broker answers: try again next poll
        self._consumer.close(autocommit=False)
        log.warning("kafka.consumer_replaced", reason="the last poll failed")
        self._consumer, self._broken = consumer, False
        self._committed.clear()

    def commit(self, offsets: Mapping[Partition, int]) -> None:
        meta = {TopicPartition(*tp): OffsetAndMetadata(o, "", -1) for tp, o in offsets.items()}
        try:
            self._consumer.commit(meta, timeout_ms=self._attempt_ms)
        except CommitFailedError as exc:
            # The group moved on; the new owner replays from the last commit (idempotent).
            log.warning("commit.failed", error=str(exc)[:300])
            return
        except KafkaError as exc:
            raise broker_error(exc) from exc
        self._committed.update(offsets)

    def assignment(self) -> set[Partition]:
        return {Partition(tp.topic, tp.partition) for tp in self._consumer.assignment()}

    def pause(self) -> None:
        self._consumer.pause(*self._consumer.assignment())

    def resume(self) -> None:
        self._consumer.resume(*self._consumer.paused())

    def seek(self, tp: Partition, offset: int) -> None:
        self._consumer.seek(TopicPartition(*tp), offset)

    def rewind(self) -> None:
        """Seek every assigned partition back to the group's committed offset, as known."""
        assigned = {Partition(tp.topic, tp.partition) for tp in self._consumer.assignment()}
        for part, offset in self._committed.items():
            if part in assigned:
                self.seek(part, offset)

    def coordinator_known(self) -> bool:
        """A poll does not fail while no broker answers, it returns nothing, and kafka-python
        has no public call for this: ask its coordinator (kafka-python is pinned; a client
        without that method reports the coordinator as known)."""
        coordinator = getattr(self._consumer, "_coordinator", None)
        check = getattr(coordinator, "coordinator_unknown", None)
        return not check() if callable(check) else True

    def lag(self) -> dict[Partition, int]:
        """Kafka's own consumer lag (what kafka-consumer-groups and KEDA report): the end
        offset minus the group's committed offset, so records read but not yet committed
        (a batch in hand, or waiting out a failure) still count."""
        lags: dict[Partition, int] = {}
        assigned = {Partition(tp.topic, tp.partition): tp for tp in self._consumer.assignment()}
        self._committed = {p: o for p, o in self._committed.items() if p in assigned}
        for part, tp in assigned.items():
            high = self._consumer.highwater(tp)
            if high is None:
                continue
            committed = self._committed.get(part)
            if committed is None:
                # Nothing read yet: the position is still the committed offset it resumes at.
                # timeout 0: a position still to be fetched from an unreachable coordinator
                # must not block the loop; it is reported once known.
                committed = self._consumer.position(tp, timeout_ms=0)
            if committed is not None:
                lags[part] = max(0, high - committed)
        return lags

    def close(self) -> None:
        self._consumer.close(autocommit=False)


def open_source(settings: Settings) -> KafkaSource:
    """Join the consumer group on the alerts and lineage topics; raises BrokerError."""
    return KafkaSource(_join(settings), reopen=lambda: _join(settings))


def _join(settings: Settings) -> Any:
    """A consumer subscribed to the alerts and lineage topics; raises BrokerError."""
    s = settings
    try:
        consumer = KafkaConsumer(
            bootstrap_servers=s.kafka_bootstrap_servers,
            group_id=s.consumer_group,
            client_id="incidentd-worker",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=s.batch_max_records,
            max_poll_interval_ms=s.max_poll_interval_ms,
            session_timeout_ms=s.session_timeout_ms,
            heartbeat_interval_ms=s.heartbeat_interval_ms,
            # How long the broker may hold a fetch that finds nothing. Apache Kafka answers as
            # soon as records arrive; Tansu does not, so with kafka-python's 500 ms a sparse
            # stream waited up to ~250 ms per record to be fetched (Tansu, 100 records/s: p50
            # 125 ms with 500, 28 ms with 100).
            fetch_max_wait_ms=s.fetch_max_wait_ms,
            fetch_max_bytes=64 * 1024 * 1024,
            max_partition_fetch_bytes=8 * 1024 * 1024,
        )
    except KafkaError as exc:  # kafka-python gives up bootstrapping after 30 s
        raise broker_error(exc) from exc
    consumer.subscribe([s.alerts_topic, s.lineage_topic])
    return consumer


class Reader:
    """A consumer of the tools (DLQ replay, the demo) over kafka-python's `KafkaConsumer`:
    `Partition`s and `StoredRecord`s in, next-offsets out, and `BrokerError` for anything the
    broker did not answer. Commits go through as asked: a group that moved on is an error."""

    def __init__(self, consumer: Any) -> None:
        self._consumer = consumer

    def poll(self, timeout_ms: int) -> dict[Partition, list[StoredRecord]]:
        """Records of the assigned, unpaused partitions."""
        with broker_errors():
            polled = self._consumer.poll(timeout_ms=timeout_ms)
        return {Partition(tp.topic, tp.partition): records for tp, records in polled.items()}

    def assignment(self) -> set[Partition]:
        """The partitions assigned now."""
        return {Partition(tp.topic, tp.partition) for tp in self._consumer.assignment()}

    def end_offsets(self, parts: list[Partition]) -> dict[Partition, int]:
        """The offset after the last record of each partition."""
        with broker_errors():
            ends = self._consumer.end_offsets([TopicPartition(*p) for p in parts])
        return {Partition(tp.topic, tp.partition): end for tp, end in ends.items()}

    def commit(self, offsets: Mapping[Partition, int]) -> None:
        """Commit next-offsets for the group."""
        meta = {TopicPartition(*tp): OffsetAndMetadata(o, "", -1) for tp, o in offsets.items()}
        with broker_errors():
            self._consumer.commit(meta)

    def pause(self, part: Partition) -> None:
        """Fetch nothing more from `part`."""
        self._consumer.pause(TopicPartition(*part))

    def close(self) -> None:
        """Leave without committing."""
        self._consumer.close(autocommit=False)


def open_replay_reader(bootstrap_servers: str, topic: str, group: str) -> Reader:
    """A member of consumer group `group` on `topic`, reading from the group's committed
    offsets (from the beginning without any); raises BrokerError."""
    with broker_errors():
        consumer = KafkaConsumer(
            bootstrap_servers=bootstrap_servers,
            group_id=group,
            client_id="incidentd-dlq-replay",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_interval_ms=6000,
            session_timeout_ms=6000,
            heartbeat_interval_ms=2000,
            max_poll_records=500,
            fetch_max_bytes=64 * 1024 * 1024,
            max_partition_fetch_bytes=8 * 1024 * 1024,
        )
    consumer.subscribe([topic])
    return Reader(consumer)


def open_topic_reader(bootstrap_servers: str, topic: str) -> Reader:
    """A consumer outside any group reading every partition of `topic` from the beginning;
    raises BrokerError."""
    with broker_errors():
        consumer = KafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False)
        parts = consumer.partitions_for_topic(topic) or []
        consumer.assign([TopicPartition(topic, p) for p in parts])
        consumer.seek_to_beginning()
    return Reader(consumer)
