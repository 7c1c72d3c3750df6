"""Real PostgreSQL and Kafka-protocol services for tests.

Resolution order (DESIGN.md, "Tests"): the `INCIDENTD_DATABASE_URL` /
`INCIDENTD_KAFKA_BOOTSTRAP_SERVERS` environment variables; else testcontainers when a Docker
engine answers; else the embedded PostgreSQL and Tansu broker from `incidentd.app.embedded`.
Only the embedded services can be stopped and restarted (`can_restart`).
"""

from __future__ import annotations

import functools
import importlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from uuid import uuid4

from incidentd.app.embedded import (
    EmbeddedBroker,
    EmbeddedPostgres,
    create_database,
    create_topics,
    drop_database,
    to_sqlalchemy_url,
)

DATABASE_URL_ENV = "INCIDENTD_DATABASE_URL"
KAFKA_BOOTSTRAP_ENV = "INCIDENTD_KAFKA_BOOTSTRAP_SERVERS"
# The broker matrix: tests taking the `matrix_broker` fixture run once per broker named in
# `INCIDENTD_TEST_BROKERS` (comma-separated; default both). "tansu" is the session broker (the
# embedded Tansu unless the variables above or Docker name another), "apache-kafka" Apache
# Kafka itself from Maven Central (tests/support/apache_kafka.py).
BROKERS_ENV = "INCIDENTD_TEST_BROKERS"
TANSU, APACHE_KAFKA = "tansu", "apache-kafka"


class PostgresService(Protocol):
    """What tests may do with the PostgreSQL server."""

    can_restart: bool

    @property
    def url(self) -> str:
        """SQLAlchemy (psycopg 3) URL of the server's maintenance database."""
        ...

    def create_database(self, name: str) -> str:
        """Create an empty database and return its SQLAlchemy URL."""
        ...

    def drop_database(self, name: str) -> None:
        """Drop a database, disconnecting its sessions."""
        ...

    def start(self) -> None:
        """Make sure the server is up (after `stop()`)."""
        ...

    def stop(self) -> None:
        """Stop the server (only when `can_restart`)."""
        ...

    def close(self) -> None:
        """Release the server at the end of the session."""
        ...


def matrix_brokers() -> list[str]:
    """The brokers of the matrix, from `INCIDENTD_TEST_BROKERS` (default both)."""
    raw = os.environ.get(BROKERS_ENV, f"{TANSU},{APACHE_KAFKA}")
    chosen = [kind.strip() for kind in raw.split(",") if kind.strip()]
    if not chosen or set(chosen) - {TANSU, APACHE_KAFKA}:
        raise ValueError(f"{BROKERS_ENV} lists {TANSU!r} and/or {APACHE_KAFKA!r}, got {raw!r}")
    return chosen


class BrokerService(Protocol):
    """What tests may do with the Kafka-protocol broker."""

    can_restart: bool
    # Whether incidentd's producers may be idempotent on it (Tansu: no, see EmbeddedBroker).
    idempotent_producer: bool

    @property
    def bootstrap_servers(self) -> str:
        """The `host:port` list clients bootstrap from."""
        ...

    def create_topics(self, names: Sequence[str], partitions: int = 4) -> None:
        """Create topics if missing."""
        ...

    def restart(self) -> None:
        """Restart the broker (only when `can_restart`)."""
        ...

    def close(self) -> None:
        """Release the broker at the end of the session."""
        ...


class KillableBroker(BrokerService, Protocol):
    """A broker the test can crash and start again, keeping its data."""

    def kill(self) -> None:
        """SIGKILL it."""
        ...

    def start(self) -> None:
        """Start it again on the same address."""
        ...


def _no_op() -> None:
    """Do nothing."""


@dataclass
class ExternalPostgres:
    """A server we did not start (env var or testcontainers): it cannot be stopped by tests."""

    url: str
    on_close: Callable[[], None] = field(default=_no_op)
    can_restart: bool = False

    def create_database(self, name: str) -> str:
        """Create an empty database and return its SQLAlchemy URL."""
        return create_database(self.url, name)

    def drop_database(self, name: str) -> None:
        """Drop a database, disconnecting its sessions."""
        drop_database(self.url, name)

    def start(self) -> None:
        """The server is always up as far as tests are concerned."""

    def stop(self) -> None:
        """Refuse: only the embedded server can be stopped."""
        raise NotImplementedError("only the embedded PostgreSQL can be stopped")

    def close(self) -> None:
        """Stop the container, if any."""
        self.on_close()


@dataclass
class ExternalBroker:
    """A broker we did not start (env var or testcontainers): it cannot be restarted by tests."""

    bootstrap_servers: str
    on_close: Callable[[], None] = field(default=_no_op)
    can_restart: bool = False
    idempotent_producer: bool = False  # unknown broker: the conservative choice

    def create_topics(self, names: Sequence[str], partitions: int = 4) -> None:
        """Create topics if missing."""
        create_topics(self.bootstrap_servers, names, partitions)

    def restart(self) -> None:
        """Refuse: only the embedded broker can be restarted."""
        raise NotImplementedError("only the embedded broker can be restarted")

    def close(self) -> None:
        """Stop the container, if any."""
        self.on_close()


@dataclass(frozen=True)
class TopicSet:
    """Unique topic names and consumer group for one test."""

    alerts: str
    incidents: str
    dlq: str
    lineage: str
    group: str

    @property
    def names(self) -> tuple[str, str, str, str]:
        """All four topic names."""
        return (self.alerts, self.incidents, self.dlq, self.lineage)

    @classmethod
    def unique(cls) -> TopicSet:
        """Fresh names suffixed with a short uuid."""
        suffix = uuid4().hex[:10]
        return cls(
            alerts=f"alerts-{suffix}",
            incidents=f"incidents-{suffix}",
            dlq=f"dlq-{suffix}",
            lineage=f"lineage-{suffix}",
            group=f"group-{suffix}",
        )


@functools.cache
def docker_available() -> bool:
    """Whether a Docker engine answers a ping within a couple of seconds."""
    try:
        docker: Any = importlib.import_module("docker")  # untyped; a test-only dependency
        client = docker.from_env(timeout=2)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


def fast_tmp_dir() -> Path | None:
    """/dev/shm when it is a writable tmpfs: CREATE DATABASE there is several times faster."""
    shm = Path("/dev/shm")
    return shm if shm.is_dir() and os.access(shm, os.W_OK | os.X_OK) else None


def open_postgres() -> PostgresService:
    """Start or locate the session's PostgreSQL server."""
    if url := os.environ.get(DATABASE_URL_ENV):
        return ExternalPostgres(to_sqlalchemy_url(url))
    if docker_available():
        from testcontainers.community.postgres import PostgresContainer

        container: Any = PostgresContainer("postgres:16", driver=None).start()
        url = to_sqlalchemy_url(container.get_connection_url())
        return ExternalPostgres(url, on_close=container.stop)
    server = EmbeddedPostgres(base_dir=fast_tmp_dir())
    try:
        server.start()
    except BaseException:
        server.close()
        raise
    return server


def open_broker() -> BrokerService:
    """Start or locate the session's Kafka-protocol broker."""
    if servers := os.environ.get(KAFKA_BOOTSTRAP_ENV):
        return ExternalBroker(servers)
    if docker_available():
        from testcontainers.community.kafka import KafkaContainer

        container: Any = KafkaContainer().start()
        return ExternalBroker(
            container.get_bootstrap_server(), on_close=container.stop, idempotent_producer=True
        )
    broker = EmbeddedBroker()
    try:
        broker.start()
    except BaseException:
        broker.close()
        raise
    return broker
