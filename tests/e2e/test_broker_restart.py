"""The broker killed and restarted mid-stream: the worker waits, says so, and resumes by itself.

Run on each broker of the matrix. Apache Kafka keeps its log on disk, so the session's broker
is killed and started again. The session Tansu keeps everything in memory, so a restart would
lose the topics and the committed offsets: on Tansu this module runs its own, keeping them in a
bucket of a local S3-compatible server (moto): killed with SIGKILL and started again on the same
port, it comes back with every topic, record and committed offset, as a real broker does.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from kafka.errors import RetriableError
from sqlalchemy import text

from incidentd.app.embedded import EmbeddedBroker
from tests.e2e.test_failures import (
    RSS_GROWTH_LIMIT,
    Scenario,
    _health,
    committed_offsets,
    uncommitted_unsaved,
)
from tests.support.s3 import LocalS3
from tests.support.services import TANSU, KillableBroker, TopicSet, matrix_brokers
from tests.support.wait import wait_until
from tests.support.workers import produce

# How long the broker stays down: the scenario's length, not a synchronisation. Long enough for
# several commit retries at the 2 s backoff ceiling and for kafka-python's reconnect backoff to
# grow, short enough to keep the test well under a minute.
OUTAGE_SECONDS = 8.0


@pytest.fixture(scope="module")
def persistent_tansu() -> Iterator[EmbeddedBroker]:
    """A Tansu of this module only, on a fresh port, storing its data in a local S3 bucket."""
    with (
        LocalS3() as s3,
        EmbeddedBroker(storage_engine=s3.storage_engine, env=s3.env()) as broker,
    ):
        yield broker


@pytest.fixture(params=matrix_brokers())
def persistent_broker(request: pytest.FixtureRequest) -> KillableBroker:
    """A broker that keeps its topics, records and offsets across a kill: each of the matrix."""
    name = "persistent_tansu" if request.param == TANSU else "apache_kafka"
    service: KillableBroker = request.getfixturevalue(name)
    return service


@pytest.fixture
def scenario(
    migrated_db: str, persistent_broker: KillableBroker, tmp_path: Path
) -> Iterator[Scenario]:
    """A 1,200-alert scenario on the persistent broker."""
    topics = TopicSet.unique()
    persistent_broker.create_topics(topics.names, partitions=4)
    bootstrap = persistent_broker.bootstrap_servers
    s = Scenario(migrated_db, bootstrap, topics, tmp_path, count=1200, broker=persistent_broker)
    yield s
    s.close()


def test_broker_killed_and_restarted_mid_stream(
    scenario: Scenario, persistent_broker: KillableBroker
) -> None:
    worker = scenario.start_worker(INCIDENTD_RETRY_BACKOFF_MAX_SECONDS="2")
    assert worker.proc is not None
    wait_until(lambda: _health(worker.metrics_port) == 200, timeout=30, message=scenario.logs)
    records, total = scenario.stream.records, len(scenario.stream.alerts)
    first = records[: len(records) // 2]
    produce(scenario.bootstrap, scenario.topics.alerts, first)
    wait_until(lambda: scenario.stored() >= 0.2 * total, timeout=60, message=scenario.logs)

    proc = psutil.Process(worker.proc.pid)
    persistent_broker.kill()
    down_since = time.monotonic()
    try:
        wait_until(lambda: _health(worker.metrics_port) == 503, timeout=30, message=scenario.logs)
        cpu_before, wall_before = sum(proc.cpu_times()[:2]), time.monotonic()
        rss_start = rss_peak = proc.memory_info().rss
        while time.monotonic() - down_since < OUTAGE_SECONDS:  # sample memory once a second
            time.sleep(min(1.0, max(0.0, OUTAGE_SECONDS - (time.monotonic() - down_since))))
            rss_peak = max(rss_peak, proc.memory_info().rss)
        cpu_share = (sum(proc.cpu_times()[:2]) - cpu_before) / (time.monotonic() - wall_before)
        alive = worker.proc.poll() is None
        still_unready = _health(worker.metrics_port) == 503
    finally:
        persistent_broker.start()
    assert alive, f"the worker died while the broker was down\n{scenario.logs()}"
    assert still_unready, "/healthz said ready while the broker was down"
    assert cpu_share < 0.5, f"busy loop while the broker is down: {cpu_share:.0%} of a core"
    assert rss_peak <= rss_start + RSS_GROWTH_LIMIT, (rss_start, rss_peak)

    # The restarted broker still has the offsets committed before the kill, and none of them
    # covers an alert that was not saved (read the offsets first: saving precedes committing).
    committed = wait_until(
        lambda: _committed_once_loaded(scenario),
        timeout=60,
        message="the restarted broker never answered for the group's offsets",
    )[0]
    with scenario.engine.connect() as conn:
        saved = {a for (a,) in conn.execute(text("SELECT alert_id FROM alerts"))}
    assert committed, "no committed offsets after the restart: the check would prove nothing"

    produce(scenario.bootstrap, scenario.topics.alerts, records[len(first) :])
    wait_until(lambda: _health(worker.metrics_port) == 200, timeout=60, message=scenario.logs)
    scenario.check()
    assert worker.proc.poll() is None, scenario.logs()  # resumed, not restarted
    assert uncommitted_unsaved(scenario, committed, saved) == []


def _committed_once_loaded(scenario: Scenario) -> tuple[dict[int, int]] | None:
    """The group's committed offsets, or None while the restarted broker is still loading its
    groups (Apache Kafka answers NOT_COORDINATOR or COORDINATOR_LOAD_IN_PROGRESS meanwhile)."""
    try:
        return (
            committed_offsets(scenario.bootstrap, scenario.topics.group, scenario.topics.alerts),
        )
    except RetriableError:
        return None
