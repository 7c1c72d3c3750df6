"""Crashes, kill -9 loops, a database outage and rebalancing: nothing lost, nothing doubled.

The three longest tests are marked `soak`. `INCIDENTD_SOAK_SCALE=K` (default 1, what `make test`
runs) multiplies their sizes: 1,200 x K alerts, 6 x K kills, a 30 x K s database outage, and
their time limits. Each writes its figures to `test-output/soak-<test>.json` (or to
`INCIDENTD_SOAK_OUTPUT_DIR`); `python -m bench soak --scale K` runs them and tabulates the files.
"""

from __future__ import annotations

import json
import os
import random
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import psutil
import pytest
from kafka import TopicPartition
from kafka.admin import KafkaAdminClient
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
from tests.support.services import TANSU, BrokerService, PostgresService, TopicSet
from tests.support.wait import wait_until
from tests.support.workers import TopicReader, WorkerProcess, metric, produce, worker_env

SPACE = "chaos"
ROOT = Path(__file__).resolve().parents[2]
SCALE_ENV = "INCIDENTD_SOAK_SCALE"
OUTPUT_ENV = "INCIDENTD_SOAK_OUTPUT_DIR"
ALERTS = 1200  # per unit of scale
KILLS = 6  # per unit of scale
OUTAGE_SECONDS = 30.0  # per unit of scale; the figure
MIB = 2**20


def _soak_scale() -> int:
    raw = os.environ.get(SCALE_ENV, "1")
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{SCALE_ENV} must be a positive integer, got {raw!r}")
    return int(raw)


SCALE = _soak_scale()
SOAK_TIMEOUT = 300 * SCALE  # pytest-timeout's 300 s per test, times the scale


class Scenario:
    """A seeded stream, its database, and helpers to watch progress."""

    def __init__(
        self,
        db_url: str,
        bootstrap: str,
        topics: TopicSet,
        tmp: Path,
        count: int,
        *,
        broker: BrokerService | None = None,
    ):
        self.stream: Stream = cascade_stream(
            SPACE, seed=5, count=count, lineage=regional_lineage(SPACE, seed=3)
        )
        self.scale = max(1.0, count / ALERTS)  # stretches the waits of `check`
        self.engine: Engine = make_engine(db_url, pool_size=1)
        with self.engine.begin() as conn:
            upsert_space(conn, SPACE, features=[INCIDENTS_FEATURE])
            import_document(conn, self.stream.lineage)
        self.env = worker_env(
            db_url, bootstrap, topics, broker=broker, INCIDENTD_BATCH_MAX_RECORDS="100"
        )
        self.bootstrap, self.topics, self.tmp = bootstrap, topics, tmp
        self.workers: list[WorkerProcess] = []
        self.figures: dict[str, Any] = {}  # what `check` counted

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
        """Exactly once in storage, the oracle's grouping, events that converge to the DB.

        What it counts is left in `figures` before anything is asserted.
        """
        wait_until(self.settled, timeout=120 * self.scale, message=self.logs)
        ids = {a.alert_id for a in self.stream.alerts}
        with self.engine.connect() as conn:
            groups = stored_groups(conn, SPACE)
            rows = Counter(a for (a,) in conn.execute(text("SELECT alert_id FROM alerts")))
            total = conn.execute(
                text("SELECT sum(alert_count) FROM incidents WHERE merged_into IS NULL")
            ).scalar()
            added = Counter(
                alert_id
                for (ids_added,) in conn.execute(
                    text(
                        "SELECT alert_ids FROM incident_history "
                        "WHERE state IN ('NEW', 'ONGOING', 'REOPENED') "
                        "AND NOT detail ? 'merged_from'"
                    )
                )
                for alert_id in ids_added
            )
            db = {
                str(r.id): (r.version, r.alert_count, r.status)
                for r in conn.execute(
                    text("SELECT id, version, alert_count, status FROM incidents")
                )
            }
        doubled = {
            "alert_rows": sum(n - 1 for n in rows.values()),
            "alerts_added_twice": sum(n - 1 for n in added.values()),
            "incident_alert_count_excess": max(0, int(total or 0) - len(ids)),
        }
        self.figures.update(
            alerts_checked=sum(1 for a in ids if rows[a] == 1 and added[a] == 1),
            alerts_missing=len(ids - set(rows)),
            duplicates_found=sum(doubled.values()),
            duplicates=doubled,
        )
        assert groups == expected_groups(self.stream)
        assert total == len(self.stream.alerts)
        assert set(added.values()) == {1}, added.most_common(3)
        assert len(added) == len(self.stream.alerts)
        assert self.figures["alerts_checked"] == len(ids)
        reader = TopicReader(self.bootstrap, self.topics.incidents)

        def converged() -> bool:
            reader.poll()
            latest: dict[str, Any] = {}
            for e in reader.json():
                inc = e["incident"]
                if inc["id"] not in latest or inc["version"] > latest[inc["id"]][0]:
                    latest[inc["id"]] = (inc["version"], inc["alert_count"], inc["status"])
            return latest == db

        wait_until(converged, timeout=60 * self.scale, message="incident events did not converge")
        events = Counter(e.get("event_id") for e in reader.json())
        # At-least-once relay: a republished event (same event_id) is allowed, not a duplicate.
        self.figures["events_republished"] = sum(n - 1 for n in events.values())
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
    s = Scenario(migrated_db, kafka_bootstrap, topics, tmp_path, count=ALERTS)
    yield s
    s.close()


@pytest.fixture
def soak_scenario(
    migrated_db: str, kafka_bootstrap: str, topics: TopicSet, tmp_path: Path
) -> Iterator[Scenario]:
    """The chaos scenario at `INCIDENTD_SOAK_SCALE` (1,200 alerts per unit)."""
    s = Scenario(migrated_db, kafka_bootstrap, topics, tmp_path, count=ALERTS * SCALE)
    yield s
    s.close()


@pytest.fixture
def matrix_soak_scenario(
    migrated_db: str, matrix_broker: BrokerService, matrix_topics: TopicSet, tmp_path: Path
) -> Iterator[Scenario]:
    """The soak scenario on each broker of the matrix (Tansu and Apache Kafka)."""
    s = Scenario(
        migrated_db,
        matrix_broker.bootstrap_servers,
        matrix_topics,
        tmp_path,
        count=ALERTS * SCALE,
        broker=matrix_broker,
    )
    yield s
    s.close()


def figures_name(test: str, request: pytest.FixtureRequest) -> str:
    """The figures' name of a matrix test: the test's, with the broker's unless it is Tansu."""
    broker = str(request.node.callspec.params["matrix_broker"])
    return test if broker == TANSU else f"{test}_{broker.replace('-', '_')}"


@contextmanager
def soak_figures(scenario: Scenario, name: str) -> Iterator[dict[str, Any]]:
    """Figures of one soak test, written to soak-<name>.json whether it passes or not."""
    figures: dict[str, Any] = {
        "test": name,
        "scale": SCALE,
        "alerts": len(scenario.stream.alerts),
        "kills": 0,
        "kills_survived": 0,
        "outage_seconds": 0.0,
    }
    started = time.monotonic()
    passed = False
    try:
        yield figures
        passed = True
    finally:
        figures.update(scenario.figures)
        figures["workers_started"] = len(scenario.workers)
        figures["wall_seconds"] = round(time.monotonic() - started, 1)
        figures["passed"] = passed
        out = Path(os.environ.get(OUTPUT_ENV) or ROOT / "test-output")
        out.mkdir(parents=True, exist_ok=True)
        (out / f"soak-{name}.json").write_text(json.dumps(figures, indent=2) + "\n")


@pytest.mark.parametrize("point", ["before_db_commit", "after_db_commit", "after_publish"])
def test_a_crash_at_any_point_loses_and_doubles_nothing(scenario: Scenario, point: str) -> None:
    doomed = scenario.start_worker(INCIDENTD_CRASH_AT=f"{point}:3")
    scenario.publish()
    assert doomed.proc is not None
    wait_until(lambda: doomed.proc.poll() is not None, timeout=60, message=scenario.logs)
    assert doomed.proc.returncode == -9
    scenario.start_worker()
    scenario.check()


def kill_points(kills: int) -> list[float]:
    """`kills` fractions of the stream spread evenly from 10% to 85% (0.1, 0.25, ... for 6)."""
    if kills == 1:
        return [0.1]
    return [0.1 + 0.75 * i / (kills - 1) for i in range(kills)]


@pytest.mark.soak
@pytest.mark.timeout(SOAK_TIMEOUT)
def test_kill_9_loop_during_a_stream(
    matrix_soak_scenario: Scenario, request: pytest.FixtureRequest
) -> None:
    scenario = matrix_soak_scenario
    rng = random.Random(99)
    with soak_figures(scenario, figures_name("kill_9_loop", request)) as figures:
        scenario.start_worker()
        scenario.start_worker()
        scenario.publish()
        total = len(scenario.stream.alerts)
        planned = kill_points(KILLS * SCALE)
        figures["kills_planned"] = len(planned)
        for fraction in planned:
            if scenario.stored() >= total:
                break
            wait_until(
                lambda f=fraction: scenario.stored() >= f * total or scenario.settled(),
                timeout=90 * SCALE,
                message=scenario.logs,
            )
            live = [w for w in scenario.workers if w.proc is not None and w.proc.poll() is None]
            rng.choice(live).kill()
            figures["kills"] += 1
            scenario.start_worker()
        assert figures["kills"] >= len(planned) // 2
        scenario.check()
        figures["kills_survived"] = figures["kills"]


def _health(port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError:
        return -1


def committed_offsets(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    """The group's committed offset per partition of `topic` (partitions without one omitted)."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        parts = [TopicPartition(topic, p) for p in range(4)]  # the `topics` fixture makes 4
        found = admin.list_group_offsets({group: parts})[group]
    finally:
        admin.close()
    return {tp.partition: meta.offset for tp, meta in found.items() if meta.offset >= 0}


def uncommitted_unsaved(
    scenario: Scenario, committed: dict[int, int], saved: set[str]
) -> list[str]:
    """Records below a committed offset whose alert was not saved: offsets given up unsaved."""
    reader = TopicReader(scenario.bootstrap, scenario.topics.alerts)
    try:
        wait_until(
            lambda: len(reader.poll()) >= len(scenario.stream.records),
            timeout=30,
            message="could not read back the alerts topic",
        )
    finally:
        reader.close()
    return [
        f"{r.partition}@{r.offset}"
        for r in reader.records
        if r.offset < committed.get(r.partition, 0)
        and orjson.loads(r.value)["alert_id"] not in saved
    ]


# While the database is down the worker keeps the one batch it polled (100 records here), pauses
# every partition and polls only to stay in the group (every 200 ms), retrying the batch at most
# every 2 s: a 30 s outage is ~150 polls and ~15 retries whatever the stream's size, and memory
# should stay flat (measured: +0.2 MiB on a 110 MiB worker). 32 MiB over the RSS at the outage's
# start is allocator and reconnect noise many times over, yet anything kept per poll or per retry
# (over ~200 KiB a poll or ~2 MiB a retry in 30 s; proportionally less at larger scales, whose
# outages are longer) crosses it. A ratio such as 1.5x + 50 MiB would let this worker grow by
# 105 MiB unnoticed. At scale 1 the whole stream is ~0.3 MB, so buffering it would not show in
# RSS: `records_polled_during_outage` in the figures shows that the paused worker fetches nothing.
RSS_GROWTH_LIMIT = 32 * MIB


@pytest.mark.soak
@pytest.mark.timeout(SOAK_TIMEOUT)
def test_database_outage_mid_stream(soak_scenario: Scenario, postgres: PostgresService) -> None:
    if not getattr(postgres, "can_restart", False):
        pytest.skip("the database of this run cannot be stopped by the tests")
    scenario = soak_scenario
    outage = OUTAGE_SECONDS * SCALE
    with soak_figures(scenario, "database_outage") as figures:
        worker = scenario.start_worker(INCIDENTD_RETRY_BACKOFF_MAX_SECONDS="2")
        wait_until(lambda: _health(worker.metrics_port) == 200, timeout=30, message=scenario.logs)
        scenario.publish()
        total = len(scenario.stream.alerts)
        wait_until(
            lambda: scenario.stored() >= 0.2 * total, timeout=60 * SCALE, message=scenario.logs
        )
        proc = psutil.Process(worker.proc.pid)  # type: ignore[union-attr]
        stopped_at, down_since = time.time(), time.monotonic()
        postgres.stop()
        try:
            wait_until(
                lambda: _health(worker.metrics_port) == 503, timeout=30, message=scenario.logs
            )
            cpu_before, wall_before = sum(proc.cpu_times()[:2]), time.monotonic()
            rss_start = rss_peak = proc.memory_info().rss
            polled_before = metric(worker.metrics_port, "incidentd_records_consumed_total")
            # The outage's length, not a synchronisation: sample memory once a second meanwhile.
            while time.monotonic() - down_since < outage:
                time.sleep(min(1.0, max(0.0, outage - (time.monotonic() - down_since))))
                rss_peak = max(rss_peak, proc.memory_info().rss)
            rss_end = proc.memory_info().rss
            polled = metric(worker.metrics_port, "incidentd_records_consumed_total") - polled_before
            cpu_share = (sum(proc.cpu_times()[:2]) - cpu_before) / (time.monotonic() - wall_before)
            committed = committed_offsets(
                scenario.bootstrap, scenario.topics.group, scenario.topics.alerts
            )
            alive = worker.proc.poll() is None  # type: ignore[union-attr]
        finally:
            figures["outage_seconds"] = round(time.monotonic() - down_since, 1)
            postgres.start()
        figures.update(
            cpu_share_during_outage=round(cpu_share, 3),
            rss_mib_outage_start=round(rss_start / MIB, 1),
            rss_mib_outage_end=round(rss_end / MIB, 1),
            rss_mib_outage_peak=round(rss_peak / MIB, 1),
            records_polled_during_outage=polled,
            offsets_committed_at_outage_end=sum(committed.values()),
        )
        assert alive, "the worker died during the outage"
        assert cpu_share < 0.5, f"busy loop during the outage: {cpu_share:.0%} of a core"
        assert rss_peak <= rss_start + RSS_GROWTH_LIMIT, figures
        wait_until(lambda: _health(worker.metrics_port) == 200, timeout=60, message=scenario.logs)
        scenario.check()
        assert worker.proc.poll() is None  # type: ignore[union-attr]  # resumed, not restarted
        figures["retries"] = metric(worker.metrics_port, "incidentd_retries_total")
        assert figures["retries"] > 0
        # No offset committed for unsaved work: every record below an offset committed by the
        # end of the outage holds an alert saved before it (received_at is the transaction's
        # start; nothing can be saved while the server is down, so the outage's middle splits
        # "saved before" from "saved after" whatever the clocks' resolution).
        midpoint = stopped_at + figures["outage_seconds"] / 2
        with scenario.engine.connect() as conn:
            saved = {
                a
                for (a,) in conn.execute(
                    text("SELECT alert_id FROM alerts WHERE received_at < to_timestamp(:t)"),
                    {"t": midpoint},
                )
            }
        figures["alerts_saved_before_outage"] = len(saved)
        assert committed, "no offsets committed before the outage: the check would prove nothing"
        assert uncommitted_unsaved(scenario, committed, saved) == []


@pytest.mark.soak
@pytest.mark.timeout(SOAK_TIMEOUT)
def test_workers_joining_and_leaving_mid_stream(
    matrix_soak_scenario: Scenario, request: pytest.FixtureRequest
) -> None:
    scenario = matrix_soak_scenario
    name = figures_name("workers_joining_and_leaving", request)
    with soak_figures(scenario, name) as figures:
        first = scenario.start_worker()
        scenario.publish()
        total = len(scenario.stream.alerts)
        wait_until(
            lambda: scenario.stored() >= 0.15 * total, timeout=60 * SCALE, message=scenario.logs
        )
        scenario.start_worker()
        scenario.start_worker()
        wait_until(
            lambda: scenario.stored() >= 0.5 * total or scenario.settled(),
            timeout=90 * SCALE,
            message=scenario.logs,
        )
        assert first.terminate(timeout=60) == 0
        figures["workers_left"] = 1
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
