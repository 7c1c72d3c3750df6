"""The worker's loop with one write in flight: batch N+1 is correlated while N is written.

    poll N+1 -> parse -> plan N+1 on top of N (main thread)   | write N (writer thread)
    wait for N -> its dead letters, offsets -> hand N+1 to the writer -> poll N+2 ...

Offsets are committed only after their batch's commit, in order. A write that fails, or
finds that what its plan read has changed (`overlap.StalePlanError`), is processed again the
synchronous way (`Worker._handle`, with every retry and isolation rule), and the plan built
on top of it is dropped with the cached state it changed. Lineage events and batches without
alerts go the synchronous way too, after the write in flight.
"""

from __future__ import annotations

import enum
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog
from sqlalchemy.exc import DBAPIError

from incidentd.worker.batch import Parsed
from incidentd.worker.overlap import Plan, StalePlanError, plan_batch, write_plan
from incidentd.worker.pipeline import BatchResult, ConcurrentInsertError
from incidentd.worker.source import Polled

if TYPE_CHECKING:
    from incidentd.worker.runner import Worker

log = structlog.get_logger(__name__)


class Finished(enum.Enum):
    """How a write in flight ended."""

    DONE = "done"  # committed as planned, offsets committed
    REDONE = "redone"  # processed again the synchronous way, offsets committed
    GIVEN_UP = "given_up"  # stopping, or the partitions moved on: not committed


@dataclass(frozen=True, slots=True)
class Pending:
    """A batch handed to the writer."""

    polled: Polled
    parsed: Parsed
    plan: Plan
    write: Future[BatchResult]
    started: float


class Overlapped:
    """Runs a worker's batches with one write in flight."""

    def __init__(self, worker: Worker) -> None:
        self.w = worker
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="write")

    def shutdown(self) -> None:
        """Stop the writer thread (after the write in hand)."""
        self._writer.shutdown(wait=True)

    def run(self) -> None:
        """Poll and process until the worker stops; the last write is finished first."""
        w = self.w
        pending: Pending | None = None
        try:
            while not w.stopping.is_set():
                w._maybe_refresh_lineage()
                # With a write in flight, take only what is fetched already: nothing to
                # correlate meanwhile means finishing that write now.
                polled = w._poll(0 if pending is not None else w.settings.poll_timeout_ms)
                if polled:
                    pending = self._next(polled, w._parse(polled), pending)
                elif pending is not None:
                    self._finish(pending, None)
                    pending = None
                w._update_lag()
                w.metrics.ready.set(0 if w.health.problems() else 1)
        finally:
            if pending is not None:
                self._finish(pending, None)

    def _next(self, polled: Polled, parsed: Parsed, pending: Pending | None) -> Pending | None:
        """Plan this batch on top of the write in flight, finish that, hand this one over."""
        w = self.w
        plan: Plan | None = None
        failed = False
        if parsed.alerts and not parsed.lineage:
            try:
                plan = plan_batch(
                    w.engine, parsed.alerts, w.graphs, w.states, pending.plan if pending else None
                )
            except Exception as exc:  # the synchronous way decides, and reports
                log.warning("batch.plan_failed", error=str(exc)[:300])
                failed = True
        ended = self._finish(pending, plan) if pending is not None else Finished.DONE
        if failed or ended is not Finished.DONE:
            # This batch was planned on a state that was not written as planned (or not at
            # all): what the plan changed in memory is dropped, after the write it built on.
            self._forget(pending, {a.alert.space for a in parsed.alerts})
            plan = None
            if ended is Finished.GIVEN_UP:
                # The group moved on (or the worker stops): read again from the commits.
                w.source.rewind()
                return None
        if plan is None:
            w._handle(polled, parsed)
            return None
        plan.hand_over()
        write = self._writer.submit(
            write_plan,
            w.engine,
            plan,
            w.settings.incidents_topic,
            w.settings.max_poll_interval_ms // 3,
        )
        return Pending(polled, parsed, plan, write, time.perf_counter())

    def _finish(self, pending: Pending, after: Plan | None) -> Finished:
        """Wait for the write, then dead letters and offsets; or process it again on failure.

        `after` is the plan built on top of it meanwhile (its incidents are kept in memory).
        """
        w = self.w
        try:
            result = pending.write.result()
        except Exception as exc:  # the synchronous way decides, and reports
            reason = type(exc).__name__
            w.metrics.replans.labels(reason).inc()
            expected = isinstance(exc, StalePlanError | ConcurrentInsertError | DBAPIError)
            log.log(20 if expected else 40, "batch.replanned", reason=reason, detail=str(exc)[:300])
            w.states.drop(sorted(pending.plan.slugs))
            if w._handle(pending.polled, pending.parsed):
                return Finished.REDONE
            return Finished.GIVEN_UP
        w.health.ok("database")
        pending.plan.written()
        for space, state in pending.plan.states().items():
            w.states.checkin(space, state, after.changed(space) if after else ())
        if w._committed(pending.polled, pending.parsed, result, pending.started):
            return Finished.DONE
        return Finished.GIVEN_UP

    def _forget(self, pending: Pending | None, spaces: set[str]) -> None:
        """Drop cached state a dropped plan may have changed (it is read again when needed)."""
        gone = set(spaces) | (pending.plan.slugs if pending is not None else set())
        self.w.states.drop(sorted(gone))
