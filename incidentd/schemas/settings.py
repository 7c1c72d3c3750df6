"""Runtime settings, read once from `INCIDENTD_*` environment variables."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob of incidentd; the environment is part of the contract."""

    model_config = SettingsConfigDict(env_prefix="INCIDENTD_", frozen=True, extra="ignore")

    database_url: str | None = Field(
        default=None,
        description="PostgreSQL URL (postgresql://user:pass@host:port/db).",
    )
    kafka_bootstrap_servers: str | None = Field(
        default=None, description="Comma-separated host:port list of the Kafka brokers."
    )
    alerts_topic: str = "dq.alerts"
    incidents_topic: str = "dq.incidents"
    dlq_topic: str = "dq.alerts.dlq"
    lineage_topic: str = "dq.lineage"
    consumer_group: str = "incidentd"
    producer_idempotence: bool = Field(
        default=True,
        description=(
            "Idempotent producing of incident events and dead letters (no duplicates from a "
            "retried send). Needs a broker that supports it, as Apache Kafka does; turn it off "
            "on Tansu (`incidentd demo` does so on its embedded broker)."
        ),
    )
    lineage_default_space: str | None = Field(
        default=None,
        description="Space for OpenLineage events whose datasets no product claims.",
    )

    metrics_port: int = Field(default=9464, ge=0, le=65535, description="0 disables.")
    metrics_host: str = "0.0.0.0"

    batch_max_records: int = Field(default=2000, ge=1, le=100_000)
    poll_timeout_ms: int = Field(default=200, ge=1)
    worker_overlap: bool = Field(
        default=True,
        description="Correlate the next batch while the last one is written (off: one at a time).",
    )
    fetch_max_wait_ms: int = Field(
        default=100,
        ge=1,
        le=10_000,
        description="Kafka fetch.max.wait.ms: how long the broker may hold a fetch for data.",
    )
    max_poll_interval_ms: int = Field(default=300_000, ge=1000)
    session_timeout_ms: int = Field(default=10_000, ge=1000)
    heartbeat_interval_ms: int = Field(default=3_000, ge=100)
    lineage_refresh_seconds: float = Field(default=2.0, gt=0)
    outbox_batch: int = Field(default=1000, ge=1)
    outbox_interval_seconds: float = Field(default=0.05, gt=0)
    retry_backoff_initial_seconds: float = Field(default=0.5, gt=0)
    retry_backoff_max_seconds: float = Field(default=30.0, gt=0)
    shutdown_timeout_seconds: float = Field(default=30.0, gt=0)

    token_days: float = Field(
        default=90,
        ge=0,
        description="Days a new API token stays valid unless told otherwise (0: never expires).",
    )
    ui_cookie_secure: bool = Field(
        default=False,
        description="Always mark the UI's session cookie Secure (behind a TLS-ending proxy); "
        "otherwise it is Secure when the request came over https.",
    )
    lineage_max_datasets: int = Field(
        default=1000,
        ge=1,
        description="Inputs plus outputs one OpenLineage event may list (more: refused).",
    )
    max_body_bytes: int = Field(
        default=1024 * 1024,
        ge=1024,
        description="Request-body limit of every API route without a larger one of its own.",
    )

    api_concurrency: int = Field(
        default=8,
        ge=1,
        le=1024,
        description="Requests the API works on at once; its request threads and its database "
        "pool (this many connections, plus as many in overflow) are sized from it.",
    )
    api_queue_seconds: float = Field(
        default=3.0,
        ge=0,
        le=60,
        description="How long a request waits for a free slot before it is answered 503.",
    )

    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: str = "INFO"

    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_from: str = "incidentd@localhost"

    public_url: str | None = Field(
        default=None,
        description="Base URL of the web UI, for links in notifications (https://incidentd.example).",
    )
    pagerduty_events_url: str = Field(
        default="https://events.pagerduty.com/v2/enqueue",
        description="PagerDuty Events API v2 endpoint.",
    )
    delivery_retry_initial_seconds: float = Field(
        default=5.0, gt=0, description="First wait after a failed delivery (doubles, jittered)."
    )
    delivery_retry_max_seconds: float = Field(
        default=300.0, gt=0, description="Longest wait between two attempts of a delivery."
    )
    delivery_max_attempts: int = Field(
        default=30, ge=1, description="Attempts before a delivery is given up (failed)."
    )
    delivery_timeout_seconds: float = Field(default=10.0, gt=0)
    delivery_threads: int = Field(
        default=4, ge=1, le=64, description="Threads of a worker's channel sender."
    )
    delivery_interval_seconds: float = Field(
        default=0.5, gt=0, description="How often the sender looks for due deliveries."
    )
    chat_gather_seconds: float = Field(
        default=30.0,
        ge=0,
        description="alert_added events of one incident within this window: one chat message.",
    )
