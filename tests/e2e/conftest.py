"""Fixtures of the end-to-end tests: a module sets up its database by overriding `engine`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.support.services import TopicSet
from tests.support.spaces import space_engine
from tests.support.workers import WorkerProcess, worker_running


@pytest.fixture
def engine(migrated_db: str) -> Iterator[Engine]:
    """An engine on the test's database, no space set up (a module overrides this with its own
    spaces and lineage)."""
    with space_engine(migrated_db, (), pool_size=1) as eng:
        yield eng


@pytest.fixture
def worker(
    engine: Engine, migrated_db: str, kafka_bootstrap: str, topics: TopicSet, tmp_path: Path
) -> Iterator[WorkerProcess]:
    """One running `incidentd worker` (it also relays the outbox), started once `engine` has set
    up the database; killed at the end."""
    with worker_running(migrated_db, kafka_bootstrap, topics, tmp_path) as proc:
        yield proc
