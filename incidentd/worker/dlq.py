"""Replaying dead letters: put the original records back on the topic they came from.

After a fix is deployed, `incidentd dlq replay` reads the dead-letter topic and re-publishes
each letter's ORIGINAL key and value (unchanged bytes) to the topic named by its
`source_topic` header (and, when that partition still exists, to its `source_partition`).
A letter that still fails is dead-lettered again by the worker as a new letter.

Positions. The replay reads with a consumer group of its own per filter,
`<group>.<error_type>` (or `<group>.all` without a filter), and commits offsets as it goes:
a second identical run does not replay the same letters again, while a filtered run
(`--error-type invalid_json`) never consumes the letters of other types for good: they stay
available to a run filtered on their own type and to an unfiltered run. The flip side: an
unfiltered run after a filtered one replays the letters the filtered run replayed too;
replays are harmless to repeat (the same `alert_id` changes nothing the second time).

Which letters. Only letters that were in the topic when the run started are replayed: a
record is taken when its offset is below the end offset seen at the first assignment of its
partition, or its timestamp is not later than the start of the run (some brokers, Tansu among
them, report a too-low end offset). Without this guard a letter that fails again would come
back while the run is still reading and be replayed over and over. A partition stops at its
first newer letter, which is left uncommitted for the next run. The run ends when every
assigned partition has stopped, when no record arrived for `idle_timeout_s`, or when `limit`
letters were replayed.

Delivery is at least once: offsets are committed only after the producer flushed and the
broker acknowledged every re-published record.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import structlog

from incidentd.worker.broker import broker_errors, open_replay_producer
from incidentd.worker.source import Partition, Reader, StoredRecord, open_replay_reader

log = structlog.get_logger(__name__)

DEFAULT_REPLAY_GROUP = "incidentd-dlq-replay"


class DlqReplayError(RuntimeError):
    """The replay could not start or could not publish (nothing further was committed).

    The broker not answering is a `BrokerError` (`incidentd.worker.broker`).
    """


@dataclass(frozen=True, slots=True)
class ReplayReport:
    """What one replay run did."""

    replayed: int = 0
    """Letters re-published to their source topic."""
    skipped: int = 0
    """Letters whose `error_type` did not match the filter (left for other filters)."""
    by_error_type: dict[str, int] = field(default_factory=dict)
    """Replayed letters per `error_type`."""
    unreplayable: int = 0
    """Letters without a `source_topic` header, or with neither key nor value."""


def replay_group(group: str, error_type: str | None) -> str:
    """The consumer group holding the position of replays with this filter."""
    return f"{group}.{error_type or 'all'}"


def replay_dead_letters(
    bootstrap_servers: str,
    dlq_topic: str,
    *,
    error_type: str | None = None,
    group: str = DEFAULT_REPLAY_GROUP,
    limit: int | None = None,
    idle_timeout_s: float = 2.0,
    join_timeout_s: float = 30.0,
) -> ReplayReport:
    """Re-publish dead letters (those of `error_type`, or all) to their source topics.

    See the module docstring for positions (one consumer group per filter, committed as it
    goes), which letters are taken (those present when the run started) and when it stops.
    """
    run = _Run(error_type, limit, started_ms=int(time.time() * 1000))
    consumer = open_replay_reader(bootstrap_servers, dlq_topic, replay_group(group, error_type))
    try:
        producer = open_replay_producer(bootstrap_servers)
        try:
            with broker_errors():
                _consume(consumer, producer, run, idle_timeout_s, join_timeout_s)
        finally:
            producer.close(timeout=10)
    finally:
        consumer.close()
    report = run.report()
    log.info(
        "dlq.replayed",
        topic=dlq_topic,
        error_type=error_type,
        replayed=report.replayed,
        skipped=report.skipped,
        unreplayable=report.unreplayable,
    )
    return report


@dataclass
class _Run:
    """State of one replay run."""

    error_type: str | None
    limit: int | None
    started_ms: int
    replayed: Counter[str] = field(default_factory=Counter)
    skipped: int = 0
    unreplayable: int = 0
    ends: dict[Partition, int] = field(default_factory=dict)
    stopped: set[Partition] = field(default_factory=set)
    partitions: dict[str, set[int]] = field(default_factory=dict)

    @property
    def full(self) -> bool:
        """Whether `limit` letters were replayed."""
        return self.limit is not None and self.replayed.total() >= self.limit

    def is_old(self, tp: Partition, rec: StoredRecord) -> bool:
        """Whether the letter was in the topic when the run started."""
        timestamp = rec.timestamp if isinstance(rec.timestamp, int) else -1
        return rec.offset < self.ends.get(tp, 0) or timestamp <= self.started_ms

    def report(self) -> ReplayReport:
        """The frozen summary."""
        return ReplayReport(
            replayed=self.replayed.total(),
            skipped=self.skipped,
            by_error_type=dict(sorted(self.replayed.items())),
            unreplayable=self.unreplayable,
        )


def _consume(
    consumer: Reader, producer: Any, run: _Run, idle_timeout_s: float, join_timeout_s: float
) -> None:
    join_deadline = time.monotonic() + join_timeout_s
    last_record: float | None = None
    while True:
        polled = consumer.poll(timeout_ms=200)
        assigned = consumer.assignment()
        if not assigned:
            if time.monotonic() > join_deadline:
                raise DlqReplayError(
                    f"no partition of the dead-letter topic was assigned within {join_timeout_s:g}"
                    " s (does the topic exist? is another replay with this filter running?)"
                )
            continue
        _snapshot_ends(consumer, run, assigned)
        now = time.monotonic()
        if last_record is None or any(polled.values()):
            last_record = now
        offsets = _replay_batch(consumer, producer, run, polled)
        if offsets:
            consumer.commit(offsets)
        if run.full or assigned <= run.stopped or now - last_record >= idle_timeout_s:
            return


def _snapshot_ends(consumer: Reader, run: _Run, assigned: set[Partition]) -> None:
    """Remember each partition's end offset when it is first assigned."""
    fresh = [tp for tp in assigned if tp not in run.ends]
    if fresh:
        run.ends.update(consumer.end_offsets(fresh))


def _replay_batch(
    consumer: Reader, producer: Any, run: _Run, polled: dict[Partition, list[StoredRecord]]
) -> dict[Partition, int]:
    """Re-publish what this poll brought; returns the next-offsets to commit once all is acked."""
    offsets: dict[Partition, int] = {}
    futures: list[Any] = []
    for tp, records in polled.items():
        for rec in records:
            if tp in run.stopped or run.full:
                break
            if not run.is_old(tp, rec):
                run.stopped.add(tp)  # left uncommitted: the next run starts here
                consumer.pause(tp)
                break
            future = _replay_one(producer, run, rec)
            if future is not None:
                futures.append(future)
            offsets[tp] = rec.offset + 1
    if futures:
        producer.flush(timeout=60)
        try:
            for future in futures:
                future.get(timeout=60)
        except Exception as exc:
            raise DlqReplayError(f"re-publishing a dead letter failed: {exc}") from exc
    return offsets


def _replay_one(producer: Any, run: _Run, rec: StoredRecord) -> Any:
    """Send one letter back where it came from; None when it is skipped or unreplayable."""
    headers = _headers(rec)
    kind = headers.get("error_type", "")
    if run.error_type is not None and kind != run.error_type:
        run.skipped += 1
        return None
    topic = headers.get("source_topic")
    if not topic or (rec.key is None and rec.value is None):
        run.unreplayable += 1
        log.warning(
            "dlq.unreplayable",
            partition=rec.partition,
            offset=rec.offset,
            reason="no source_topic header" if not topic else "neither key nor value",
        )
        return None
    partition = _source_partition(producer, run, topic, headers.get("source_partition"))
    future = producer.send(topic, key=rec.key, value=rec.value, partition=partition)
    run.replayed[kind or "unknown"] += 1
    return future


def _headers(rec: StoredRecord) -> dict[str, str]:
    """The letter's headers as text (undecodable bytes are replaced, never fatal)."""
    out: dict[str, str] = {}
    for name, value in rec.headers or ():
        out[name] = value.decode("utf-8", "replace") if isinstance(value, bytes) else ""
    return out


def _source_partition(producer: Any, run: _Run, topic: str, raw: str | None) -> int | None:
    """The original partition if the topic still has it, else None (the partitioner picks)."""
    if raw is None or not raw.isdigit():
        return None
    if topic not in run.partitions:
        run.partitions[topic] = set(producer.partitions_for(topic) or ())
    partition = int(raw)
    return partition if partition in run.partitions[topic] else None
