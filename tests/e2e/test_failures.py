"""Crashes, kill -9 loops, a database outage and rebalancing: nothing lost, nothing doubled."""

from __future__ import annotations

import random
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from sqlalchemy import Engine, text

from incidentd.storage.db import make_engine
from incidentd.storage.lineage import import_document
from incidentd.storage.spaces import INCIDENTS_FEATURE, upsert_space
from tests.e2e.streams import (
    Stream,
    cascade_stream,
    expected_groups,
    regional_lineage,
    stored_groups,
)
from tests.e2e.test_pipeline import metric
from tests.support.services import PostgresService, TopicSet
from tests.support.wait import wait_until
from tests.support.workers import TopicReader, WorkerProcess, produce, worker_env

SPACE = "chaos"


class Scenario:
    """A seeded stream, its database, and helpers to watch progress."""

    def __init__(self, db_url: str, bootstrap: str, topics: TopicSet, tmp: Path, count: int):
        self.stream: Stream = cascade_stream(
            SPACE, seed=5, count=count, lineage=regional_lineage(SPACE, seed=3)
        )
        self.engine: Engine = make_engine(db_url, pool_size=1)
        with self.engine.begin() as conn:
            upsert_space(conn, SPACE, features=[INCIDENTS_FEATURE])
            import_document(conn, self.stream.lineage)
        self.env = worker_env(db_url, bootstrap, topics, INCIDENTD_BATCH_MAX_RECORDS="100")
        self.bootstrap, self.topics, self.tmp = bootstrap, topics, tmp
        self.workers: list[WorkerProcess] = []

    def start_worker(self, **extra: str) -> WorkerProcess:
        """Start one more worker in the group."""
        proc = WorkerProcess(dict(self.env, **extra), self.tmp / f"w{len(self.workers)}.log")
        self.workers.append(proc.start())
        return proc

    def publish(self) -> None:
        """Publish the whole stream."""
        produce(self.bootstrap, self.topics.alerts, self.stream.records)

    def stored(self) -> int:
        """Alerts stored (and therefore correlated) so far."""
        try:
            with self.engine.connect() as conn:
                return int(conn.execute(text("SELECT count(*) FROM alerts")).scalar_one())
        except Exception:
            return -1

    def settled(self) -> bool:
        """Everything stored and every event relayed."""
        if self.stored() != len(self.stream.alerts):
            return False
        with self.engine.connect() as conn:
            unsent = conn.execute(
                text("SELECT count(*) FROM outbox WHERE sent_at IS NULL AND channel = 'kafka'")
            )
            return unsent.scalar() == 0

    def logs(self) -> str:
        """The tail of every worker's log."""
        return "\n".join(w.log_text()[-2000:] for w in self.workers)

    def check(self) -> None:
        """Exactly once in storage, the oracle's grouping, events that converge to the DB."""
        wait_until(self.settled, timeout=120, message=self.logs)
        with self.engine.connect() as conn:
            assert stored_groups(conn, SPACE) == expected_groups(self.stream)
            total = conn.execute(
                text("SELECT sum(alert_count) FROM incidents WHERE merged_into IS NULL")
            ).scalar()
            assert total == len(self.stream.alerts)
            added = Counter(
                alert_id
                for (ids,) in conn.execute(
                    text(
                        "SELECT alert_ids FROM incident_history "
                        "WHERE state IN ('NEW', 'ONGOING', 'REOPENED') "
                        "AND NOT detail ? 'merged_from'"
                    )
                )
                for alert_id in ids
            )
            assert set(added.values()) == {1}, added.most_common(3)
            assert len(added) == len(self.stream.alerts)
            db = {
                str(r.id): (r.version, r.alert_count, r.status)
                for r in conn.execute(
                    text("SELECT id, version, alert_count, status FROM incidents")
                )
            }
        reader = TopicReader(self.bootstrap, self.topics.incidents)

        def converged() -> bool:
            reader.poll()
            latest: dict[str, Any] = {}
            for e in reader.json():
                inc = e["incident"]
                if inc["id"] not in latest or inc["version"] > latest[inc["id"]][0]:
                    latest[inc["id"]] = (inc["version"], inc["alert_count"], inc["status"])
            return latest == db

        wait_until(converged, timeout=60, message="incident events did not converge")
        reader.close()

    def close(self) -> None:
        """Kill what runs."""
        for w in self.workers:
            w.kill()
        self.engine.dispose()


@pytest.fixture
def scenario(
    migrated_db: str, kafka_bootstrap: str, topics: TopicSet, tmp_path: Path
) -> Iterator[Scenario]:
    """A 1,200-alert chaos scenario."""
    s = Scenario(migrated_db, kafka_bootstrap, topics, tmp_path, count=1200)
    yield s
    s.close()


@pytest.mark.parametrize("point", ["before_db_commit", "after_db_commit", "after_publish"])
def test_a_crash_at_any_point_loses_and_doubles_nothing(scenario: Scenario, point: str) -> None:
    doomed = scenario.start_worker(INCIDENTD_CRASH_AT=f"{point}:3")
    scenario.publish()
    assert doomed.proc is not None
    wait_until(lambda: doomed.proc.poll() is not None, timeout=60, message=scenario.logs)
    assert doomed.proc.returncode == -9
    scenario.start_worker()
    scenario.check()


def test_kill_9_loop_during_a_stream(scenario: Scenario) -> None:
    rng = random.Random(99)
    scenario.start_worker()
    scenario.start_worker()
    scenario.publish()
    total = len(scenario.stream.alerts)
    kills = 0
    for fraction in (0.1, 0.25, 0.4, 0.55, 0.7, 0.85):
        if scenario.stored() >= total:
            break
        wait_until(
            lambda f=fraction: scenario.stored() >= f * total or scenario.settled(),
            timeout=90,
            message=scenario.logs,
        )
        live = [w for w in scenario.workers if w.proc is not None and w.proc.poll() is None]
        rng.choice(live).kill()
        kills += 1
        scenario.start_worker()
    assert kills >= 3
    scenario.check()


def _health(port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError:
        return -1


def test_database_outage_mid_stream(scenario: Scenario, postgres: PostgresService) -> None:
    if not getattr(postgres, "can_restart", False):
        pytest.skip("the database of this run cannot be stopped by the tests")
    worker = scenario.start_worker(INCIDENTD_RETRY_BACKOFF_MAX_SECONDS="2")
    wait_until(lambda: _health(worker.metrics_port) == 200, timeout=30, message=scenario.logs)
    scenario.publish()
    total = len(scenario.stream.alerts)
    wait_until(lambda: scenario.stored() >= 0.2 * total, timeout=60, message=scenario.logs)
    postgres.stop()
    try:
        wait_until(lambda: _health(worker.metrics_port) == 503, timeout=30, message=scenario.logs)
        proc = psutil.Process(worker.proc.pid)  # type: ignore[union-attr]
        cpu_before, wall_before = sum(proc.cpu_times()[:2]), time.monotonic()
        outage = 8.0  # the scenario's outage length, not a synchronisation
        time.sleep(outage)
        cpu_share = (sum(proc.cpu_times()[:2]) - cpu_before) / (time.monotonic() - wall_before)
        assert worker.proc.poll() is None  # type: ignore[union-attr]
        assert cpu_share < 0.5, f"busy loop during the outage: {cpu_share:.0%} of a core"
    finally:
        postgres.start()
    wait_until(lambda: _health(worker.metrics_port) == 200, timeout=60, message=scenario.logs)
    scenario.check()
    assert metric(worker.metrics_port, "incidentd_retries_total") > 0


def test_workers_joining_and_leaving_mid_stream(scenario: Scenario) -> None:
    first = scenario.start_worker()
    scenario.publish()
    total = len(scenario.stream.alerts)
    wait_until(lambda: scenario.stored() >= 0.15 * total, timeout=60, message=scenario.logs)
    scenario.start_worker()
    scenario.start_worker()
    wait_until(
        lambda: scenario.stored() >= 0.5 * total or scenario.settled(),
        timeout=90,
        message=scenario.logs,
    )
    assert first.terminate(timeout=60) == 0
    scenario.check()


def test_sigterm_under_load_finishes_the_batch_and_exits(scenario: Scenario) -> None:
    worker = scenario.start_worker()
    scenario.publish()
    total = len(scenario.stream.alerts)
    wait_until(lambda: scenario.stored() >= 0.2 * total, timeout=60, message=scenario.logs)
    started = time.monotonic()
    assert worker.terminate(timeout=30) == 0
    assert time.monotonic() - started < 30
    assert "worker.stopped" in worker.log_text()
    scenario.start_worker()
    scenario.check()
