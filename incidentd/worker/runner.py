"""The worker: consume, process a batch in one transaction, commit offsets, repeat."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import structlog
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from incidentd.schemas.settings import Settings
from incidentd.storage.alerts import NewAlert
from incidentd.storage.graphs import GraphCache
from incidentd.worker.batch import (
    Parsed,
    ReadAhead,
    isolate,
    next_offsets,
    parse_batch,
    transient,
)
from incidentd.worker.broker import KAFKA_ATTEMPT_SECONDS, BrokerError, open_producer
from incidentd.worker.crashpoints import crash_point
from incidentd.worker.deadletters import Letter, deliver
from incidentd.worker.metrics import Health, WorkerMetrics, serve
from incidentd.worker.overlapped import Overlapped
from incidentd.worker.ownership import Ownership
from incidentd.worker.parsing import DeadLetter
from incidentd.worker.pipeline import (
    BatchResult,
    ConcurrentInsertError,
    LineageRecord,
    process_batch,
)
from incidentd.worker.polling import PollFailures
from incidentd.worker.relay import OutboxRelay
from incidentd.worker.retry import Backoff, RetryPolicy
from incidentd.worker.sender import ChannelSender, sender_from_settings
from incidentd.worker.source import Partition, Polled, Source, open_source
from incidentd.worker.state import StateCache

log = structlog.get_logger(__name__)
LOCK_NOT_AVAILABLE = "55P03"
# How long the consumer may be without its group coordinator before /healthz says so (the
# coordinator can move between brokers: a moment without one is no outage).
COORDINATOR_LOST_GRACE_SECONDS = 2.0


class Worker:
    """One member of the consumer group."""

    def __init__(self, settings: Settings, engine: Engine) -> None:
        if not settings.kafka_bootstrap_servers:
            raise ValueError("INCIDENTD_KAFKA_BOOTSTRAP_SERVERS is not set")
        self.settings = settings
        self.engine = engine
        self.metrics = WorkerMetrics()
        self.health = Health()
        self.graphs = GraphCache()
        self.states = StateCache()
        self.ownership = Ownership(self.graphs, self.states)
        self.stopping = threading.Event()
        self._source: Source | None = None
        self._producer: Any = None
        self._relay: OutboxRelay | None = None
        self._sender: ChannelSender | None = None
        self._http: Any = None
        # One thread parses the batch read ahead while the main thread waits on PostgreSQL.
        self._parser = ThreadPoolExecutor(max_workers=1, thread_name_prefix="parse")
        self._overlap = Overlapped(self)
        self._last_refresh = 0.0
        self._lag_reported: set[Partition] = set()
        self._coordinator_seen_at = time.monotonic()
        self.retry = RetryPolicy(
            settings.retry_backoff_initial_seconds, settings.retry_backoff_max_seconds, jitter=0.2
        )
        # A new consumer may take up to the rebalance timeout to fetch (and fail) again.
        quiet = 2 * settings.retry_backoff_max_seconds + settings.max_poll_interval_ms / 1000
        self.poll_failures = PollFailures(self.health, self.metrics, self.retry, quiet=quiet)

    @property
    def source(self) -> Source:
        """The consumer side, once connected."""
        assert self._source is not None, "not connected"
        return self._source

    # -- life cycle -------------------------------------------------------------------------

    def install_signal_handlers(self) -> None:
        """SIGTERM and SIGINT finish the current batch, commit and stop."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stop())

    def stop(self) -> None:
        """Ask the loop to stop after the batch in hand."""
        self.stopping.set()

    def run(self) -> None:
        """Run until stopped."""
        s = self.settings
        self._sender = sender_from_settings(self.engine, self.metrics, s)
        if s.metrics_port:
            self._http = serve(s.metrics_host, s.metrics_port, self.metrics, self.health)
        try:
            self._sender.start()
            self._producer = self._connect(lambda: open_producer(s))
            if self._producer is None:
                return  # stopped before a broker answered
            self._relay = OutboxRelay(
                self.engine,
                self._producer,
                self.metrics,
                self.health,
                batch=s.outbox_batch,
                interval=s.outbox_interval_seconds,
                retry=RetryPolicy(
                    s.outbox_interval_seconds, s.retry_backoff_max_seconds, jitter=0.2
                ),
            )
            self._relay.start()
            self._source = self._connect(lambda: open_source(s))
            if self._source is None:
                return
            log.info(
                "worker.started", group=s.consumer_group, topics=[s.alerts_topic, s.lineage_topic]
            )
            self._loop()
        finally:
            self._shutdown()

    def _connect(self, make: Callable[[], Any]) -> Any:
        """Create a Kafka client, retrying with backoff while no broker answers; None if stopped.

        A worker started during a broker outage waits for it (503 on /healthz) instead of
        exiting, which an orchestrator would turn into a crash loop.
        """
        backoff = self.retry.backoff()
        while not self.stopping.is_set():
            try:
                client = make()
            except BrokerError as exc:
                self.health.fail("kafka", exc.kind)
                self.metrics.retries.labels("connect").inc()
                delay = backoff.next()
                log.warning("kafka.connect_failed", error=str(exc)[:300], delay=delay)
                self.stopping.wait(delay)
            else:
                self.health.ok("kafka")
                return client
        return None

    def _shutdown(self) -> None:
        self._parser.shutdown(wait=True, cancel_futures=True)
        self._overlap.shutdown()
        if self._source is not None:
            self._source.close()
        if self._relay is not None:
            self._relay.stop(timeout=self.settings.shutdown_timeout_seconds)
        if self._sender is not None:
            self._sender.stop(timeout=self.settings.shutdown_timeout_seconds)
        if self._producer is not None:
            self._producer.close(timeout=10)
        if self._http is not None:
            self._http.shutdown()
        log.info("worker.stopped")

    # -- the loop ---------------------------------------------------------------------------

    def _loop(self) -> None:
        if self.settings.worker_overlap:
            self._overlap.run()
            return
        ahead: ReadAhead | None = None
        while not self.stopping.is_set():
            self._maybe_refresh_lineage()
            polled: Polled | None
            parsed: Parsed | None
            if ahead is not None:
                polled, parsed = ahead.polled, ahead.parsed.result()
                ahead = None
            else:
                polled = self._poll(self.settings.poll_timeout_ms)
                if polled is None:
                    continue
                parsed = self._parse(polled) if polled else None
            if polled:
                if self._behind(polled):
                    # Read what the consumer has buffered already and parse it on another
                    # thread while this batch waits on PostgreSQL (psycopg lets go of the GIL
                    # meanwhile). Only when behind: with little to read, the read-ahead batch
                    # would be tiny and what arrives meanwhile would wait one more round.
                    more = self._poll(0)
                    if more:
                        ahead = ReadAhead(more, self._parser.submit(self._parse, more))
                if not self._handle(polled, parsed):
                    # Given up (stopping, or partitions moved): the group has been rebalanced,
                    # so every partition restarts from its committed offset; what was read
                    # ahead is read again, and committing it now would skip this batch.
                    ahead = None
            self._update_lag()
            self.metrics.ready.set(0 if self.health.problems() else 1)

    def _behind(self, polled: Polled) -> bool:
        """Whether a poll returned at least half a full batch: the worker is catching up."""
        return 2 * sum(len(r) for r in polled.values()) >= self.settings.batch_max_records

    def _poll(self, timeout_ms: int) -> Polled | None:
        """One poll of the source; None after a failure (already reported and waited out)."""
        s = self.settings
        try:
            polled = self.source.poll(timeout_ms, s.batch_max_records)
        except BrokerError as exc:
            self.health.fail("kafka", exc.kind)
            self.metrics.retries.labels("poll").inc()
            self.metrics.ready.set(0)
            self.stopping.wait(self.poll_failures.failed(exc))
            return None
        self.poll_failures.succeeded(bool(polled))
        self._check_broker()
        self._follow_assignment()
        # A main loop that stops coming back (a hung group join, a stuck batch) must
        # show on /healthz so the orchestrator can restart the worker.
        self.health.beat("main_loop", max(60.0, 2 * s.max_poll_interval_ms / 1000))
        return polled

    def _parse(self, polled: Polled) -> Parsed:
        for tp, records in polled.items():
            self.metrics.consumed.labels(tp.topic).inc(len(records))
        return parse_batch(polled, self.settings.lineage_topic)

    def _handle(self, polled: Polled, parsed: Parsed | None = None) -> bool:
        """Store, correlate, dead-letter and commit one batch; False when it was given up."""
        batch = parsed if parsed is not None else self._parse(polled)
        alerts, lineage = batch.alerts, batch.lineage
        started = time.perf_counter()
        try:
            result = self._with_retry(lambda: self._process(alerts, lineage), polled)
        except DBAPIError as exc:
            # Not a passing failure: the database refuses something in this batch.
            log.error("batch.rejected_by_database", error=str(exc.orig or exc)[:300])
            result = self._with_retry(lambda: isolate(self._process, alerts, lineage), polled)
        if result is None:
            return False  # stopping, or the partitions moved on: nothing is committed
        return self._committed(polled, batch, result, started)

    def _committed(
        self, polled: Polled, batch: Parsed, result: BatchResult, started: float
    ) -> bool:
        """After a batch's commit: dead letters, the relay, the offsets; False when given up."""
        self.metrics.batch_seconds.observe(time.perf_counter() - started)
        self.metrics.correlation_seconds.observe(result.correlation_seconds)
        self.metrics.processed.inc(result.stored)
        self.metrics.duplicates.inc(result.duplicates)
        crash_point("after_db_commit")
        if not self._dead_letter(batch.dead + result.dead_letters, polled):
            return False  # stopping, or the partitions moved on: replayed, stored ones skipped
        if self._relay is not None and result.events:
            self._relay.wake()
        offsets = next_offsets(polled)
        if not self._kafka_retry("commit", lambda: self.source.commit(offsets), polled):
            log.warning("commit.abandoned", reason="stopping or partitions reassigned")
            return False
        self.ownership.note_alerts(batch.alerts)
        self.metrics.spaces_held.set(len(self.ownership.held()))
        log.debug("batch.done", stored=result.stored, events=result.events, dead=len(batch.dead))
        return True

    def _process(self, alerts: list[NewAlert], lineage: list[LineageRecord]) -> BatchResult:
        return process_batch(
            self.engine,
            alerts,
            lineage,
            self.graphs,
            incidents_topic=self.settings.incidents_topic,
            default_space=self.settings.lineage_default_space,
            alerts_topic=self.settings.alerts_topic,
            intake=self.metrics.intake,
            states=self.states,
            # Waiting for another worker's lock must not outlast the poll deadline: a timed
            # out lock is retried after a poll that keeps this worker in the group.
            lock_timeout_ms=self.settings.max_poll_interval_ms // 3,
            on_lock_wait=self._lock_waited,
        )

    def _lock_waited(self, seconds: float) -> None:
        self.metrics.lock_waits.inc()
        self.metrics.lock_wait_seconds.inc(seconds)

    # -- waiting out failures ---------------------------------------------------------------

    def _with_retry(self, work: Callable[[], BatchResult], polled: Polled) -> BatchResult | None:
        """Run `work` until it succeeds; None when stopping or the partitions moved on."""
        backoff = self.retry.backoff()
        try:
            while True:
                try:
                    result = work()
                    self.health.ok("database")
                    return result
                except ConcurrentInsertError as exc:
                    self.metrics.retries.labels("race").inc()
                    log.info("batch.retry", reason="concurrent insert", alert_ids=exc.args[0])
                    continue  # no failure to wait out: the other transaction has committed
                except DBAPIError as exc:
                    if not transient(exc):
                        raise
                    wait = self._note_failure(exc, backoff)
                if not self._hold(polled, wait):
                    return None
        finally:
            self.source.resume()

    def _note_failure(self, exc: DBAPIError, backoff: Backoff) -> float:
        """Record a transient failure; returns how long to wait before the next try."""
        if getattr(exc.orig, "sqlstate", None) == LOCK_NOT_AVAILABLE:
            # Another worker holds the space: not a failure, just poll once to stay in the group.
            self.metrics.retries.labels("lock").inc()
            return 0.05
        self.health.fail("database", type(exc.orig).__name__ if exc.orig else "error")
        self.metrics.retries.labels("batch").inc()
        delay = backoff.next()
        log.warning("batch.retry", error=str(exc.orig or exc)[:300], delay=delay)
        return delay

    def _hold(self, polled: Polled, delay: float) -> bool:
        """Pause every partition and wait in the group; False to give the batch up."""
        # Pause everything: a poll made only to stay in the group must fetch nothing.
        self.source.pause()
        if self._wait_keeping_membership(delay):
            return False
        if not set(polled) <= self.source.assignment():
            log.warning("batch.abandoned", reason="partitions reassigned during retry")
            return False
        return True

    def _kafka_retry(self, stage: str, attempt: Callable[[], None], polled: Polled) -> bool:
        """Run `attempt` until the broker takes it; False when stopping or the partitions moved.

        Failures wait with the same exponential backoff as database retries, polling paused
        partitions meanwhile (so the group can be joined again once the broker is back).
        """
        backoff = self.retry.backoff()
        try:
            while True:
                try:
                    attempt()
                    return True
                except BrokerError as exc:
                    self.health.fail(stage, exc.kind)
                    self.metrics.retries.labels(stage).inc()
                    delay = backoff.next()
                    log.warning(f"{stage}.retry", error=str(exc)[:300], delay=delay)
                if not self._hold(polled, delay):
                    return False
        finally:
            # Succeeded, or given up (another worker replays the batch): nothing waits any more.
            self.health.ok(stage)
            self.source.resume()

    def _check_broker(self) -> None:
        """Report `kafka` failing while the group coordinator has been unreachable for a while."""
        now = time.monotonic()
        if self.source.coordinator_known():
            self._coordinator_seen_at = now
            self.health.ok("kafka")
        elif now - self._coordinator_seen_at > COORDINATOR_LOST_GRACE_SECONDS:
            self.health.fail("kafka", "group coordinator unreachable")

    def _wait_keeping_membership(self, delay: float) -> bool:
        """Wait `delay` seconds while polling paused partitions; True when stopping."""
        deadline = time.monotonic() + delay
        while time.monotonic() < deadline:
            if self.stopping.is_set():
                return True
            try:
                fetched = self.source.poll(min(200, int(delay * 1000)))
            except BrokerError as exc:
                self.health.fail("kafka", exc.kind)
                wait = self.poll_failures.failed(exc)
                fetched = {}
                self.stopping.wait(min(wait, max(0.0, deadline - time.monotonic())))
            else:
                self._check_broker()
                self._follow_assignment()
                self._update_lag()  # a batch held back is not committed: the lag shows it
            self.health.beat("main_loop", max(60.0, 2 * self.settings.max_poll_interval_ms / 1000))
            for tp, records in fetched.items():
                # Partitions assigned by a rebalance meanwhile are not paused yet: put what
                # they returned back, so it is fetched again and processed after the retry.
                self.source.seek(tp, records[0].offset)
            self.source.pause()
        return self.stopping.is_set()

    def _dead_letter(self, dead: list[DeadLetter], polled: Polled) -> bool:
        """Publish dead letters until the broker has them all; False when the batch is given up."""
        if not dead:
            return True
        letters = [Letter(d) for d in dead]

        def attempt() -> None:
            deliver(self._producer, self.settings.dlq_topic, letters, KAFKA_ATTEMPT_SECONDS)

        if not self._kafka_retry("dlq", attempt, polled):
            return False
        for d in dead:
            self.metrics.dead_letters.labels(d.error_type).inc()
            log.warning(
                "record.dead_lettered",
                error_type=d.error_type,
                topic=d.topic,
                partition=d.partition,
                offset=d.offset,
                error=d.error[:200],
            )
        return True

    # -- housekeeping -----------------------------------------------------------------------

    def _update_lag(self) -> None:
        lags = self.source.lag()
        for tp in self._lag_reported - self.source.assignment():  # moved to another worker
            self.metrics.consumer_lag.remove(tp.topic, str(tp.partition))
        for tp, lag in lags.items():
            self.metrics.consumer_lag.labels(tp.topic, str(tp.partition)).set(lag)
        self._lag_reported = set(lags)

    def _follow_assignment(self) -> None:
        """Drop the spaces of partitions that moved to another member (memory follows them)."""
        dropped = self.ownership.assigned(self.source.assignment())
        for space in dropped:
            self.metrics.lineage_version.remove(space)
        if dropped:
            self.metrics.spaces_held.set(len(self.ownership.held()))

    def _maybe_refresh_lineage(self) -> None:
        now = time.monotonic()
        if now - self._last_refresh < self.settings.lineage_refresh_seconds:
            return
        self._last_refresh = now
        try:
            changed = self.graphs.refresh(self.engine)
        except DBAPIError as exc:
            self.health.fail("database", type(exc.orig).__name__ if exc.orig else "error")
            log.warning("lineage.refresh_failed", error=str(exc.orig or exc)[:200])
            return
        self.health.ok("database")
        for space, version in self.graphs.versions().items():
            self.metrics.lineage_version.labels(space).set(version)
        if changed:
            log.info("lineage.refreshed", spaces=changed)
