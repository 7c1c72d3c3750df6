"""The worker's read-ahead, with stand-ins for the Kafka clients: order, commits, giving up.

While a batch waits on PostgreSQL the worker has already polled the next one (a poll that
does not wait) and parses it on a second thread. The end-to-end failure tests exercise it
under kills and rebalances; these pin down the rules of the loop itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from incidentd.schemas.settings import Settings
from incidentd.storage.alerts import NewAlert
from incidentd.worker import runner
from incidentd.worker.pipeline import BatchResult
from incidentd.worker.runner import Worker
from incidentd.worker.source import Partition, Polled
from tests.support.fake_source import TP, FakeSource, Producer, batch, broker_down


@dataclass
class Scripted(FakeSource):
    """A source whose polls return the scripted batches first, then nothing."""

    script: list[Polled] = field(default_factory=list)
    timeouts: list[int] = field(default_factory=list)

    def poll(self, timeout_ms: int, max_records: int | None = None) -> Polled:
        self.timeouts.append(timeout_ms)
        if self.script and not self.paused_now:
            self.polls += 1
            return self.script.pop(0)
        return super().poll(min(timeout_ms, 10), max_records)


def stand_in_worker(monkeypatch: pytest.MonkeyPatch, *, overlap: bool) -> Worker:
    """A worker (batches of 4 records) whose loop runs on stand-in clients."""
    monkeypatch.setattr(runner, "KAFKA_ATTEMPT_SECONDS", 0.05)
    settings = Settings(
        kafka_bootstrap_servers="127.0.0.1:1",
        batch_max_records=4,
        poll_timeout_ms=10,
        retry_backoff_initial_seconds=0.01,
        retry_backoff_max_seconds=0.02,
        worker_overlap=overlap,
    )
    w = Worker(settings, engine=None)  # type: ignore[arg-type]
    w._source, w._producer = Scripted(), Producer()
    monkeypatch.setattr(w, "_maybe_refresh_lineage", lambda: None)
    monkeypatch.setattr(w, "_update_lag", lambda: None)
    return w


@pytest.fixture
def worker(monkeypatch: pytest.MonkeyPatch) -> Iterator[Worker]:
    """The loop without a write in flight, whose read-ahead these tests are about."""
    w = stand_in_worker(monkeypatch, overlap=False)
    yield w
    w._parser.shutdown(wait=True)


def scripted(w: Worker) -> Scripted:
    assert isinstance(w._source, Scripted)
    return w._source


def record_batches(worker: Worker, monkeypatch: pytest.MonkeyPatch) -> list[list[NewAlert]]:
    """Make every batch store fine; returns the list the batches' alerts are appended to."""
    calls: list[list[NewAlert]] = []

    def process(alerts: list[NewAlert], lineage: Any) -> BatchResult:
        calls.append(alerts)
        return BatchResult(stored=len(alerts))

    monkeypatch.setattr(worker, "_process", process)
    return calls


def stop_after(worker: Worker, consumer: Scripted, commits: int) -> None:
    """Stop the loop once `commits` commits went through (this one is the last)."""
    if len(consumer.committed) == commits:
        worker.stop()


def processed_ids(calls: list[list[NewAlert]]) -> list[list[str]]:
    return [[a.alert.alert_id for a in alerts] for alerts in calls]


def test_a_full_batch_reads_the_next_ahead_and_both_commit_in_order(
    worker: Worker, monkeypatch: pytest.MonkeyPatch
) -> None:
    consumer = scripted(worker)
    consumer.script = [batch(0, 3), batch(3, 3)]
    calls = record_batches(worker, monkeypatch)
    consumer.on_commit = lambda: stop_after(worker, consumer, 1)
    worker._loop()
    assert processed_ids(calls) == [["a0", "a1", "a2"], ["a3", "a4", "a5"]]
    assert consumer.committed == [{TP: 3}, {TP: 6}]
    assert consumer.timeouts[:2] == [10, 0]  # the second batch was read without waiting


def test_a_small_batch_does_not_read_ahead(worker: Worker, monkeypatch: pytest.MonkeyPatch) -> None:
    consumer = scripted(worker)
    consumer.script = [batch(0, 1), batch(1, 1)]
    monkeypatch.setattr(worker, "_process", lambda alerts, _: BatchResult(stored=len(alerts)))
    consumer.on_commit = lambda: stop_after(worker, consumer, 1)
    worker._loop()
    assert consumer.committed == [{TP: 1}, {TP: 2}]
    assert 0 not in consumer.timeouts  # every poll waited: nothing was read ahead


def test_a_batch_given_up_drops_what_was_read_ahead(
    worker: Worker, monkeypatch: pytest.MonkeyPatch
) -> None:
    consumer = scripted(worker)
    consumer.script = [batch(0, 3), batch(3, 3)]
    calls = record_batches(worker, monkeypatch)
    consumer.commit_errors = [broker_down()] * 100

    def rebalanced() -> None:  # the partitions move while the commit is retried
        consumer.assigned = {Partition(TP.topic, 1)}

    consumer.on_commit = rebalanced
    rounds: list[int] = []

    def one_more_round() -> None:  # the round after the give-up would take the read-ahead
        rounds.append(1)
        if len(rounds) == 2:
            worker.stop()

    monkeypatch.setattr(worker, "_update_lag", one_more_round)
    worker._loop()
    # committing the read-ahead batch (offset 6) would have skipped the given-up one
    assert consumer.committed == []
    assert processed_ids(calls) == [["a0", "a1", "a2"]]
