"""The outbox relay: publishes incident events in commit order, then marks them sent.

Only one relay publishes at a time (a PostgreSQL session advisory lock), so events of
one incident leave in the order they were written. A crash between publish and mark
republishes: delivery is at least once and consumers drop duplicates by `event_id`/`version`.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import structlog
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

from incidentd.storage import outbox
from incidentd.worker.crashpoints import crash_point
from incidentd.worker.metrics import Health, WorkerMetrics
from incidentd.worker.retry import RetryPolicy

log = structlog.get_logger(__name__)
RELAY_LOCK = 7_140_002
PURGE_EVERY_SECONDS = 60.0
PURGE_AFTER_SECONDS = 86_400.0  # sent rows are kept a day for inspection


class OutboxRelay:
    """Background thread moving outbox rows to Kafka."""

    def __init__(
        self,
        engine: Engine,
        producer: Any,
        metrics: WorkerMetrics,
        health: Health,
        *,
        batch: int = 1000,
        interval: float = 0.05,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._engine = engine
        self._producer = producer
        self._metrics = metrics
        self._health = health
        self._batch = batch
        self._interval = interval
        self._retry = retry or RetryPolicy(interval, 30.0, jitter=0.2)
        self._wake = threading.Event()
        self._purged = -PURGE_EVERY_SECONDS
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="outbox-relay", daemon=True)

    def start(self) -> None:
        """Start relaying."""
        self._thread.start()

    def wake(self) -> None:
        """Look at the outbox now (a batch was just committed)."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Publish what is committed, then stop."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        backoff = self._retry.backoff()
        while True:
            stopping = self._stop.is_set()
            try:
                self._hold_lock_and_relay()
                self._health.ok("relay")
                backoff.reset()
                delay = self._interval
            except Exception as exc:
                self._metrics.retries.labels("relay").inc()
                self._health.fail("relay", type(exc).__name__)
                delay = backoff.next()
                log.warning("relay.retry", error=str(exc)[:300], delay=delay)
            if stopping:
                return
            self._wake.wait(delay)
            self._wake.clear()

    def _hold_lock_and_relay(self) -> None:
        with self._engine.connect() as conn:
            locked = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": RELAY_LOCK})
            if not locked.scalar():
                conn.rollback()
                self._stop.wait(self._interval * 10)
                return
            conn.commit()
            try:
                self._relay_while_held(conn)
            finally:
                try:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": RELAY_LOCK})
                    conn.commit()
                except DBAPIError:
                    pass  # the session is gone, and the lock with it

    def _relay_while_held(self, conn: Connection) -> None:
        while True:
            sent = self.relay_once(conn)
            self._health.ok("relay")
            self._report_backlog(conn)
            if sent == 0:
                if self._stop.is_set():
                    return
                self._wake.wait(self._interval)
                self._wake.clear()

    def relay_once(self, conn: Connection) -> int:
        """Publish one chunk of unsent rows in id order; returns how many."""
        rows = outbox.claim_due(conn, outbox.KAFKA, limit=self._batch)
        conn.commit()
        if not rows:
            return 0
        futures = [
            self._producer.send(
                r.topic, key=r.key.encode() if r.key else None, value=bytes(r.payload)
            )
            for r in rows
        ]
        self._producer.flush(timeout=30)
        for future in futures:
            future.get(timeout=30)  # raises if any send failed: nothing is marked sent
        crash_point("after_publish")
        outbox.mark_sent(conn, [r.id for r in rows])
        conn.commit()
        self._metrics.events_published.inc(len(rows))
        return len(rows)

    def _report_backlog(self, conn: Connection) -> None:
        waiting = outbox.backlog(conn, outbox.KAFKA)
        conn.commit()
        now = time.monotonic()
        if now - self._purged >= PURGE_EVERY_SECONDS:
            # Not on every round: without an index on sent_at this is a scan of the outbox.
            outbox.purge(conn, PURGE_AFTER_SECONDS)
            conn.commit()
            self._purged = now
        self._metrics.outbox_backlog.set(waiting.count)
        self._metrics.outbox_oldest_age.set(waiting.oldest_age)
