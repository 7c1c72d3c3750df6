"""Prometheus metrics of the worker and the `/metrics` + `/healthz` endpoint."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from incidentd.storage.intake import IntakeMetrics

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class WorkerMetrics:
    """Every metric a worker exposes, on a registry of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.consumed = Counter(
            "incidentd_records_consumed", "Records polled from Kafka.", ["topic"], registry=r
        )
        self.processed = Counter(
            "incidentd_alerts_processed", "Alerts stored for the first time.", registry=r
        )
        self.duplicates = Counter(
            "incidentd_alerts_duplicate", "Alerts already stored (redeliveries).", registry=r
        )
        self.dead_letters = Counter(
            "incidentd_dead_letters", "Records sent to the DLQ.", ["error_type"], registry=r
        )
        self.retries = Counter(
            "incidentd_retries", "Retries after a transient failure.", ["stage"], registry=r
        )
        self.poll_failures = Counter(
            "incidentd_poll_failures",
            "Failed polls of the consumer, by the client's error.",
            ["error_type"],
            registry=r,
        )
        self.lock_wait_seconds = Counter(
            "incidentd_space_lock_wait_seconds",
            "Time batches waited for a space another transaction held (zero when every "
            "worker owns its spaces' partitions).",
            registry=r,
        )
        self.replans = Counter(
            "incidentd_batch_replans",
            "Batches correlated ahead whose write found the state changed (or failed), "
            "processed again the synchronous way.",
            ["reason"],
            registry=r,
        )
        self.lock_waits = Counter(
            "incidentd_space_lock_waits", "Batches that found a space held by another.", registry=r
        )
        self.batch_seconds = Histogram(
            "incidentd_batch_seconds",
            "Time to process one batch (DB commit included).",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.correlation_seconds = Histogram(
            "incidentd_correlation_seconds",
            "Time in the correlation engine per batch.",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.events_published = Counter(
            "incidentd_incident_events_published", "Incident events relayed to Kafka.", registry=r
        )
        self.outbox_backlog = Gauge(
            "incidentd_outbox_backlog", "Outbox rows not yet published.", registry=r
        )
        self.outbox_oldest_age = Gauge(
            "incidentd_outbox_oldest_age_seconds",
            "Age of the oldest unpublished outbox row.",
            registry=r,
        )
        self.intake = IntakeMetrics(r)  # alerts from dataQualityAssertions facets
        self.consumer_lag = Gauge(
            "incidentd_consumer_lag",
            "Records after the group's committed offset (end offset - committed), per partition.",
            ["topic", "partition"],
            registry=r,
        )
        self.lineage_version = Gauge(
            "incidentd_lineage_version", "Lineage version held, per space.", ["space"], registry=r
        )
        self.spaces_held = Gauge(
            "incidentd_spaces_held",
            "Spaces whose lineage graph or correlation state this worker holds in memory.",
            registry=r,
        )
        self.ready = Gauge("incidentd_ready", "1 when the worker can do its work.", registry=r)
        self.deliveries_sent = Counter(
            "incidentd_deliveries_sent",
            "Deliveries a channel's target took (e-mails, webhooks, chat messages, …).",
            ["channel"],
            registry=r,
        )
        self.deliveries_retried = Counter(
            "incidentd_deliveries_retried",
            "Failed delivery attempts that will be tried again.",
            ["channel"],
            registry=r,
        )
        self.deliveries_failed = Counter(
            "incidentd_deliveries_failed",
            "Deliveries given up (refused by the target, or out of attempts).",
            ["channel"],
            registry=r,
        )
        self.delivery_backlog = Gauge(
            "incidentd_delivery_backlog",
            "Deliveries waiting to be sent (due or waiting for a retry).",
            ["channel"],
            registry=r,
        )
        self.delivery_oldest_age = Gauge(
            "incidentd_delivery_oldest_undelivered_seconds",
            "Age of the oldest delivery still to be sent.",
            ["channel"],
            registry=r,
        )


class Health:
    """Readiness as the worker sees it: the database and the broker answered last time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._problems: dict[str, str] = {}
        self._beats: dict[str, tuple[float, float]] = {}

    def beat(self, component: str, max_age: float) -> None:
        """`component` is alive now; report it failing if no beat follows within `max_age`."""
        with self._lock:
            self._beats[component] = (time.monotonic(), max_age)

    def fail(self, component: str, reason: str) -> None:
        """Mark `component` as failing."""
        with self._lock:
            self._problems[component] = reason

    def ok(self, component: str) -> None:
        """Mark `component` as healthy again."""
        with self._lock:
            self._problems.pop(component, None)

    def problems(self) -> dict[str, str]:
        """What is failing now, including components whose heartbeat stopped."""
        now = time.monotonic()
        with self._lock:
            found = dict(self._problems)
            for component, (at, max_age) in self._beats.items():
                if now - at > max_age:
                    found.setdefault(component, f"stuck for {now - at:.0f} s")
            return found


def serve(host: str, port: int, metrics: WorkerMetrics, health: Health) -> ThreadingHTTPServer:
    """Serve `/metrics` and `/healthz` on a daemon thread; returns the server (port 0 = any)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.startswith("/metrics"):
                body, status, kind = generate_latest(metrics.registry), 200, CONTENT_TYPE_LATEST
            elif self.path.startswith("/healthz"):
                problems = health.problems()
                status = 503 if problems else 200
                text = "ok" if not problems else "; ".join(f"{k}: {v}" for k, v in problems.items())
                body, kind = (text + "\n").encode(), "text/plain; charset=utf-8"
            else:
                body, status, kind = b"not found\n", 404, "text/plain"
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="metrics-http", daemon=True).start()
    return server
