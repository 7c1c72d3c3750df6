"""The channel sender: one thread sending every due delivery on every channel.

Each delivery is claimed in a transaction of its own (`FOR UPDATE SKIP LOCKED`, and only
when no earlier delivery of its incident to its target is pending), sent, and its result
recorded in that same transaction, so several workers share the queue, one incident's
events reach each target in order, and a crash before the commit sends it again (at least
once; the event id is the receiver's idempotency key). A failure the target may get over
(a 5xx, a timeout, 408, 429) is retried under the retry policy, after Retry-After when the
target asked for it, and the target's other deliveries wait with it (a dead target costs one
attempt per backoff step); one it will not (another 4xx) fails at once. Failed deliveries stay
visible and can be redelivered. Bursts of `incident.alert_added` to a chat channel wait
`gather_seconds` and go as one message.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any

import httpx
import orjson
import structlog
from sqlalchemy import Connection, Engine

from incidentd.channels.base import Channel, ChannelConfig, Delivery, DeliveryResult
from incidentd.channels.registry import CHAT, build
from incidentd.schemas.common import EventType
from incidentd.schemas.settings import Settings
from incidentd.storage import outbox
from incidentd.storage.subscriptions import get_subscription, record_told
from incidentd.worker.metrics import WorkerMetrics
from incidentd.worker.retry import RetryPolicy

log = structlog.get_logger(__name__)
BACKLOG_EVERY_SECONDS = 5.0


class ChannelSender:
    """Background threads sending due outbox deliveries through their channels.

    Several threads share the queue as several workers do (each claim is a locked head of its
    incident and target), so one slow target holds up one thread, not every delivery.
    """

    def __init__(
        self,
        engine: Engine,
        metrics: WorkerMetrics,
        channels: Mapping[str, Channel],
        *,
        retry: RetryPolicy,
        interval: float = 0.5,
        gather_seconds: float = 0.0,
        http: httpx.Client | None = None,
        threads: int = 1,
    ) -> None:
        self._engine = engine
        self._metrics = metrics
        self._channels = dict(channels)
        self._retry = retry
        self._database_retry = RetryPolicy(interval, 30.0, jitter=0.2)
        self._interval = interval
        self._gather_seconds = gather_seconds
        self._http = http
        self._reported = -BACKLOG_EVERY_SECONDS
        self._turn = 0
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, name=f"channel-sender-{n}", daemon=True)
            for n in range(max(threads, 1))
        ]

    def start(self) -> None:
        """Start sending."""
        log.info("sender.started", channels=sorted(self._channels), threads=len(self._threads))
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the delivery in hand, then stop."""
        self._stop.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            if thread.ident is not None:
                thread.join(max(0.0, deadline - time.monotonic()))
        if self._http is not None:
            self._http.close()

    def _run(self) -> None:
        backoff = self._database_retry.backoff()
        while not self._stop.is_set():
            try:
                self.send_due()
                self._report_backlog()
                backoff.reset()
                delay = self._interval
            except Exception as exc:  # the database is away: wait and try again
                delay = backoff.next()
                log.warning("sender.retry", error=str(exc)[:300], delay=delay)
            self._stop.wait(delay)

    def send_due(self) -> int:
        """Send every delivery that is due now (one transaction each); returns how many went."""
        sent = 0
        while not self._stop.is_set():
            with self._engine.begin() as conn:
                self._turn += 1  # rotate: no channel's queue holds the others up
                names = sorted(self._channels)
                k = self._turn % max(len(names), 1)
                rows = outbox.claim_next_in_order(
                    conn,
                    names[k:] + names[:k],
                    gather=EventType.ALERT_ADDED.value,
                    gather_channels=[c for c in CHAT if c in self._channels],
                    gather_seconds=self._gather_seconds,
                )
                if not rows:
                    break
                delivery = self._delivery(conn, rows)
                result = self._send(delivery)
                self._record(conn, rows, delivery, result)
            sent += result.outcome == "sent"
        return sent

    def _delivery(self, conn: Connection, rows: list[outbox.Queued]) -> Delivery:
        """What the channel gets: the last event, with every coalesced event's alert ids."""
        first, last = rows[0], rows[-1]
        payload = _json(last.payload)
        if len(rows) > 1:
            ids = {a for r in rows for a in _json(r.payload).get("alert_ids") or ()}
            payload["alert_ids"] = sorted(ids)
        target, secret = first.topic, None
        if first.subscription_id is not None:
            sub = get_subscription(conn, first.subscription_id)
            target, secret = (sub.target, sub.secret) if sub else ("", None)
        return Delivery(
            id=first.id,
            channel=first.channel,
            target=target,
            event_id=first.event_id or f"outbox-{first.id}",
            payload=payload,
            attempts=first.attempts,
            secret=secret,
            events=len(rows),
            incident_id=first.incident_id,
        )

    def _send(self, delivery: Delivery) -> DeliveryResult:
        try:
            return self._channels[delivery.channel].send(delivery)
        except Exception as exc:  # a channel's own bug must not stop the others
            # The type only: a message or traceback could quote the target and its token.
            error = type(exc).__name__
            log.error("delivery.channel_error", channel=delivery.channel, error=error)
            return DeliveryResult.retry(f"{error} in the channel")

    def _record(
        self,
        conn: Connection,
        rows: list[outbox.Queued],
        delivery: Delivery,
        result: DeliveryResult,
    ) -> None:
        ids = [r.id for r in rows]
        channel = delivery.channel
        facts = {
            "outbox_id": delivery.id,
            "channel": channel,
            "incident_id": delivery.incident_id,
            "event_id": delivery.event_id,
            "events": len(rows),
        }
        if result.outcome in ("sent", "skipped"):
            outbox.mark_sent(conn, ids)
            if result.outcome == "sent":
                record_told(conn, delivery.incident_id, channel)
                self._metrics.deliveries_sent.labels(channel).inc(len(rows))
            log.info(f"delivery.{result.outcome}", **facts)
            return
        attempts = delivery.attempts + 1
        wait = self._retry.after_failure(attempts) if result.outcome == "retry" else None
        if wait is not None and result.retry_after is not None:
            wait = max(wait, result.retry_after)
        outbox.mark_failed(conn, ids, result.detail, wait)
        if wait is not None:
            outbox.postpone(conn, channel, rows[0].topic, wait)
        if wait is None:
            self._metrics.deliveries_failed.labels(channel).inc(len(rows))
        else:
            self._metrics.deliveries_retried.labels(channel).inc(len(rows))
        event = "delivery.retry" if wait is not None else "delivery.failed"
        log.warning(event, attempts=attempts, retry_in=wait, error=result.detail[:300], **facts)

    def _report_backlog(self) -> None:
        now = time.monotonic()
        if now - self._reported < BACKLOG_EVERY_SECONDS:
            return
        self._reported = now
        with self._engine.connect() as conn:
            for channel in self._channels:
                waiting = outbox.backlog(conn, channel)
                self._metrics.delivery_backlog.labels(channel).set(waiting.count)
                self._metrics.delivery_oldest_age.labels(channel).set(waiting.oldest_age)


def sender_from_settings(engine: Engine, metrics: WorkerMetrics, s: Settings) -> ChannelSender:
    """The sender with every channel the settings allow, sharing one HTTP client."""
    http = httpx.Client(timeout=s.delivery_timeout_seconds, follow_redirects=False)
    config = ChannelConfig(
        public_url=s.public_url,
        timeout=s.delivery_timeout_seconds,
        pagerduty_url=s.pagerduty_events_url,
        smtp_host=s.smtp_host,
        smtp_port=s.smtp_port,
        smtp_from=s.smtp_from,
    )
    return ChannelSender(
        engine,
        metrics,
        build(config, http),
        retry=RetryPolicy(
            s.delivery_retry_initial_seconds,
            s.delivery_retry_max_seconds,
            jitter=0.2,
            give_up_after=s.delivery_max_attempts,
        ),
        interval=s.delivery_interval_seconds,
        gather_seconds=s.chat_gather_seconds,
        http=http,
        threads=s.delivery_threads,
    )


def _json(payload: bytes) -> dict[str, Any]:
    try:
        value = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}
