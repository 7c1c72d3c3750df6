"""Session-wide real services and per-test isolation (a database and topics per test)."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from types import FrameType
from typing import Any
from uuid import uuid4

import pytest

from tests.support.apache_kafka import ApacheKafka
from tests.support.services import (
    APACHE_KAFKA,
    BROKERS_ENV,
    TANSU,
    BrokerService,
    PostgresService,
    TopicSet,
    matrix_brokers,
    open_broker,
    open_postgres,
)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    """Turn SIGTERM into KeyboardInterrupt so fixtures tear down and no server outlives pytest."""
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_sessionstart(session: pytest.Session) -> None:
    """Install the SIGTERM handler unless someone else already did."""
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _interrupt)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresService]:
    """The session's PostgreSQL server (env var, testcontainers or embedded)."""
    service = open_postgres()
    try:
        yield service
    finally:
        service.close()


@pytest.fixture(scope="session")
def pg_server(postgres: PostgresService) -> PostgresService:
    """Alias of `postgres`."""
    return postgres


@pytest.fixture(scope="session")
def database_url(postgres: PostgresService) -> str:
    """SQLAlchemy URL of the session server's maintenance database (do not put tables there)."""
    return postgres.url


@pytest.fixture(scope="session")
def broker() -> Iterator[BrokerService]:
    """The session's Kafka-protocol broker (env var, testcontainers or embedded Tansu)."""
    service = open_broker()
    try:
        yield service
    finally:
        service.close()


@pytest.fixture(scope="session")
def apache_kafka() -> Iterator[ApacheKafka]:
    """The session's Apache Kafka (KRaft), started the first time a test asks for it."""
    if APACHE_KAFKA not in matrix_brokers():
        pytest.skip(f"{BROKERS_ENV} leaves Apache Kafka out")
    service = ApacheKafka()
    try:
        service.start()
        yield service
    finally:
        service.close()


@pytest.fixture(params=matrix_brokers())
def matrix_broker(request: pytest.FixtureRequest) -> BrokerService:
    """Each broker of the matrix in turn (the test runs once per broker)."""
    name = "broker" if request.param == TANSU else "apache_kafka"
    service: BrokerService = request.getfixturevalue(name)
    return service


@pytest.fixture
def matrix_topics(matrix_broker: BrokerService) -> TopicSet:
    """Unique topics (4 partitions each) and consumer group on the matrix's broker."""
    topic_set = TopicSet.unique()
    matrix_broker.create_topics(topic_set.names, partitions=4)
    return topic_set


@pytest.fixture(scope="session")
def kafka_bootstrap(broker: BrokerService) -> str:
    """Bootstrap servers of the session broker."""
    return broker.bootstrap_servers


@pytest.fixture
def db_url(postgres: PostgresService) -> Iterator[str]:
    """SQLAlchemy URL of a brand-new empty database, dropped after the test."""
    name = f"t_{uuid4().hex[:12]}"
    url = postgres.create_database(name)
    yield url
    postgres.start()  # a test that stopped the server must not break the ones after it
    postgres.drop_database(name)


@pytest.fixture
def topics(broker: BrokerService) -> TopicSet:
    """Unique topics (4 partitions each) and consumer group for this test."""
    topic_set = TopicSet.unique()
    broker.create_topics(topic_set.names, partitions=4)
    return topic_set


@pytest.fixture
def migrated_db(db_url: str) -> str:
    """A per-test database migrated to head."""
    from incidentd.storage.db import migrate

    migrate(db_url)
    return db_url


@pytest.fixture
def api(migrated_db: str) -> Iterator[Any]:
    """The HTTP API on a fresh database with spaces, users of every role and lineage."""
    from tests.support.api import make_world

    yield from make_world(migrated_db)
