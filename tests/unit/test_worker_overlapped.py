"""The worker's loop with a write in flight (`worker.overlapped`), on stand-in clients.

The plan and the write are stand-ins here (their own tests run on PostgreSQL:
tests/integration/test_overlap.py); these pin down the loop's rules: offsets in order and
only after their write, a refused write processed again the synchronous way together with the
batch planned on top of it, and a batch given up read again from the commits.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from incidentd.storage.alerts import NewAlert
from incidentd.worker import overlapped
from incidentd.worker.overlap import StalePlanError
from incidentd.worker.pipeline import BatchResult
from incidentd.worker.runner import Worker
from incidentd.worker.source import Partition
from tests.support.fake_source import TP, batch, broker_down
from tests.unit.test_worker_read_ahead import Scripted, scripted, stand_in_worker


class FakePlan:
    """What `plan_batch` returns here: the alerts, and the plan it was built on."""

    def __init__(self, alerts: list[NewAlert], before: FakePlan | None) -> None:
        self.ids = [a.alert.alert_id for a in alerts]
        self.before = before
        self.slugs = {a.alert.space for a in alerts}
        self.handed_over = False

    def hand_over(self) -> None:
        self.handed_over = True

    def written(self) -> None:
        pass

    def states(self) -> dict[str, Any]:
        return {}

    def changed(self, space: str) -> set[str]:
        return set()


@pytest.fixture
def worker(monkeypatch: pytest.MonkeyPatch) -> Iterator[Worker]:
    """A worker (batches of 4 records) with a write in flight, on stand-in clients."""
    w = stand_in_worker(monkeypatch, overlap=True)
    yield w
    w._overlap.shutdown()
    w._parser.shutdown(wait=True)


class Log:
    """What the stand-ins did, in order."""

    def __init__(self, worker: Worker, monkeypatch: pytest.MonkeyPatch, refuse: set[str]) -> None:
        self.events: list[tuple[str, list[str]]] = []
        self.refuse = refuse  # first alert ids of the writes that find their plan stale

        def plan(engine: Any, alerts: list[NewAlert], *_: Any) -> FakePlan:
            before = _[-1]
            made = FakePlan(alerts, before)
            self.events.append(("plan", made.ids))
            return made

        def write(engine: Any, plan: FakePlan, *_: Any) -> BatchResult:
            self.events.append(("write", plan.ids))
            if plan.ids[0] in self.refuse:
                raise StalePlanError("state_seq moved")
            return BatchResult(stored=len(plan.ids))

        def process(alerts: list[NewAlert], lineage: Any) -> BatchResult:
            self.events.append(("sync", [a.alert.alert_id for a in alerts]))
            return BatchResult(stored=len(alerts))

        monkeypatch.setattr(overlapped, "plan_batch", plan)
        monkeypatch.setattr(overlapped, "write_plan", write)
        monkeypatch.setattr(worker, "_process", process)


def stop_after(worker: Worker, consumer: Scripted, commits: int) -> None:
    if len(consumer.committed) == commits:
        worker.stop()


def test_the_next_batch_is_planned_before_the_last_is_committed(
    worker: Worker, monkeypatch: pytest.MonkeyPatch
) -> None:
    consumer = scripted(worker)
    consumer.script = [batch(0, 2), batch(2, 2), batch(4, 2)]
    log = Log(worker, monkeypatch, refuse=set())
    consumer.on_commit = lambda: stop_after(worker, consumer, 2)
    worker._loop()

    plans = [ids for what, ids in log.events if what == "plan"]
    assert plans == [["a0", "a1"], ["a2", "a3"], ["a4", "a5"]]
    assert consumer.committed == [{TP: 2}, {TP: 4}, {TP: 6}]  # in order, each after its write
    # batch 2 was planned while batch 1 was being written, before batch 1's offsets
    assert log.events.index(("plan", ["a2", "a3"])) < log.events.index(("write", ["a2", "a3"]))
    assert consumer.timeouts[1] == 0  # with a write in flight, the poll did not wait


def test_a_stale_write_is_processed_again_with_the_batch_planned_on_it(
    worker: Worker, monkeypatch: pytest.MonkeyPatch
) -> None:
    consumer = scripted(worker)
    consumer.script = [batch(0, 2), batch(2, 2)]
    log = Log(worker, monkeypatch, refuse={"a0"})
    consumer.on_commit = lambda: stop_after(worker, consumer, 1)
    worker._loop()

    assert ("sync", ["a0", "a1"]) in log.events
    assert ("sync", ["a2", "a3"]) in log.events  # its plan was built on the refused one
    assert ("write", ["a2", "a3"]) not in log.events
    assert consumer.committed == [{TP: 2}, {TP: 4}]
    assert worker.metrics.replans.labels("StalePlanError")._value.get() == 1


def test_a_batch_given_up_is_read_again_from_the_commits(
    worker: Worker, monkeypatch: pytest.MonkeyPatch
) -> None:
    consumer = scripted(worker)
    consumer.script = [batch(0, 2), batch(2, 2)]
    log = Log(worker, monkeypatch, refuse=set())
    consumer.commit_errors = [broker_down()] * 100

    def rebalanced() -> None:  # the partitions move while the commit is retried
        consumer.assigned = {Partition(TP.topic, 1)}
        worker.stop()

    consumer.on_commit = rebalanced
    worker._loop()

    assert consumer.committed == []
    assert consumer.rewound == 1  # the batch planned meanwhile is fetched again
    assert ("write", ["a2", "a3"]) not in log.events
