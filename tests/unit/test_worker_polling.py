"""Polls that keep failing make the worker say so: /healthz, a metric, a log event.

tests/e2e/test_compression.py shows it with a real worker that cannot read a codec.
"""

from __future__ import annotations

import pytest
import structlog

from incidentd.schemas.settings import Settings
from incidentd.worker.broker import BrokerError
from incidentd.worker.metrics import Health, WorkerMetrics
from incidentd.worker.polling import FAILING_AFTER, PollFailures
from incidentd.worker.retry import RetryPolicy
from incidentd.worker.runner import Worker
from tests.support.fake_source import FakeSource, Producer

CODEC = BrokerError("UnsupportedCodecError", "Libraries for lz4 compression codec not found")


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def tracker(clock: Clock) -> tuple[PollFailures, Health, WorkerMetrics]:
    health, metrics = Health(), WorkerMetrics()
    policy = RetryPolicy(0.5, 4.0)
    return PollFailures(health, metrics, policy, quiet=30.0, clock=clock), health, metrics


def failures_counted(metrics: WorkerMetrics, kind: str) -> float:
    value = metrics.registry.get_sample_value("incidentd_poll_failures_total", {"error_type": kind})
    return value or 0.0


def test_polls_failing_in_a_row_make_the_worker_unhealthy_with_growing_waits() -> None:
    clock = Clock()
    polls, health, metrics = tracker(clock)
    with structlog.testing.capture_logs() as logs:
        waits = [polls.failed(CODEC) for _ in range(FAILING_AFTER + 2)]
    assert waits == [0.5, 1.0, 2.0, 4.0, 4.0]  # backoff up to its ceiling, no busy loop
    assert health.problems() == {"poll": "5 polls failed in a row, last: UnsupportedCodecError"}
    assert failures_counted(metrics, "UnsupportedCodecError") == FAILING_AFTER + 2
    events = [(e["event"], e["log_level"]) for e in logs]
    assert events[: FAILING_AFTER - 1] == [("poll.failed", "warning")] * (FAILING_AFTER - 1)
    assert events[FAILING_AFTER - 1] == ("poll.failing", "error")


def test_one_failed_poll_is_no_outage() -> None:
    polls, health, _ = tracker(Clock())
    polls.failed(CODEC)
    polls.succeeded(got_records=True)
    polls.failed(CODEC)
    assert health.problems() == {}
    assert polls.failures == 1


def test_empty_polls_between_failures_do_not_hide_them() -> None:
    clock = Clock()
    polls, health, _ = tracker(clock)
    for _ in range(FAILING_AFTER):
        polls.failed(CODEC)
        clock.now += 10  # a new consumer rejoining: nothing polled, then the same failure
        polls.succeeded(got_records=False)
    assert "poll" in health.problems()


def test_records_read_or_a_quiet_spell_end_the_failing() -> None:
    clock = Clock()
    polls, health, _ = tracker(clock)
    for _ in range(FAILING_AFTER):
        polls.failed(CODEC)
    with structlog.testing.capture_logs() as logs:
        polls.succeeded(got_records=True)
    assert health.problems() == {}
    assert [e["event"] for e in logs] == ["poll.recovered"]
    for _ in range(FAILING_AFTER):
        polls.failed(CODEC)
    clock.now += 29
    polls.succeeded(got_records=False)
    assert "poll" in health.problems()
    clock.now += 2  # over 30 s without a failure
    polls.succeeded(got_records=False)
    assert health.problems() == {}
    assert polls.failed(CODEC) == 0.5  # a new streak starts from the first wait


def test_the_worker_loop_reports_polls_that_keep_failing(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(
        kafka_bootstrap_servers="127.0.0.1:1",
        retry_backoff_initial_seconds=0.01,
        retry_backoff_max_seconds=0.02,
    )
    worker = Worker(settings, engine=None)  # type: ignore[arg-type]
    source = FakeSource(poll_errors=[CODEC] * FAILING_AFTER)
    worker._source, worker._producer = source, Producer()
    for _ in range(FAILING_AFTER):
        assert worker._poll(0) is None
    assert worker.health.problems()["poll"].startswith(f"{FAILING_AFTER} polls failed")
    gauge = worker.metrics.registry.get_sample_value
    assert gauge("incidentd_poll_failures_total", {"error_type": "UnsupportedCodecError"}) == 3
