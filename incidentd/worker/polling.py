"""Whether polling keeps failing: the worker's judgement of its own consumer.

One failed poll is a passing thing (a coordinator moving, a broker restarting). Polls that
keep failing (a codec the worker cannot read, a corrupt batch, a topic it may not read) mean
the worker does no work while staying up: that must show on /healthz, in a metric and in the
log, so an orchestrator or a person can act. Each failure waits with the worker's backoff, so
a failure that lasts is neither a busy loop nor a rebalance storm.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import structlog

from incidentd.worker.broker import BrokerError
from incidentd.worker.metrics import Health, WorkerMetrics
from incidentd.worker.retry import RetryPolicy

log = structlog.get_logger(__name__)
FAILING_AFTER = 3  # failed polls in a row before the worker says it is failing
COMPONENT = "poll"


class PollFailures:
    """Failed polls in a row, with no records read and no quiet spell in between.

    The streak ends when a poll returns records, or when no poll has failed for `quiet`
    seconds (a poll that returns nothing proves little: a consumer rejoining its group polls
    nothing until it fetches, and fails again then).
    """

    def __init__(
        self,
        health: Health,
        metrics: WorkerMetrics,
        retry: RetryPolicy,
        *,
        quiet: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._health, self._metrics, self._clock = health, metrics, clock
        self._backoff = retry.backoff()
        self._quiet = quiet
        self._last_failure: float | None = None

    @property
    def failures(self) -> int:
        """Failed polls in the current streak."""
        return self._backoff.failures

    def failed(self, exc: BrokerError) -> float:
        """Count a failed poll; returns how long to wait before polling again."""
        self._end_streak_if_quiet()
        delay = self._backoff.next()
        self._last_failure = self._clock()
        self._metrics.poll_failures.labels(exc.kind).inc()
        failing = self.failures >= FAILING_AFTER
        if failing:
            reason = f"{self.failures} polls failed in a row, last: {exc.kind}"
            self._health.fail(COMPONENT, reason)
        event = "poll.failing" if failing else "poll.failed"
        (log.error if failing else log.warning)(
            event, error=str(exc)[:300], error_type=exc.kind, failures=self.failures, delay=delay
        )
        return delay

    def succeeded(self, got_records: bool) -> None:
        """A poll answered; with records it ends the streak at once."""
        if got_records:
            self._end_streak()
        else:
            self._end_streak_if_quiet()

    def _end_streak_if_quiet(self) -> None:
        last = self._last_failure
        if last is not None and self._clock() - last > self._quiet:
            self._end_streak()

    def _end_streak(self) -> None:
        if self.failures >= FAILING_AFTER:
            log.info("poll.recovered", failures=self.failures)
        self._backoff.reset()
        self._last_failure = None
        self._health.ok(COMPONENT)
