"""Same grouping for 1, 2 or 4 workers consuming related alerts concurrently (on Tansu, and
with 4 workers on Apache Kafka)."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any, Literal

import pytest
from sqlalchemy import Engine, text

from tests.e2e.streams import (
    Stream,
    cascade_stream,
    expected_groups,
    regional_lineage,
    stored_groups,
)
from tests.support.services import TANSU, BrokerService, TopicSet, matrix_brokers
from tests.support.spaces import add_spaces, space_engine
from tests.support.wait import wait_until
from tests.support.workers import (
    TopicReader,
    WorkerProcess,
    alert,
    metric,
    owned_partitions,
    produce,
    produce_to_partitions,
    worker_env,
    workers_running,
)

SPACE = "scale"
ALERTS = 1500


# Keyed by space (as incidentd's producers key) one worker gets the space's partition; keyed by
# product the space is spread over every partition and the workers take turns on its lock:
# any key is handled correctly.
Case = tuple[int, Literal["space", "product"]]
CASES: list[Case] = [(1, "space"), (2, "space"), (2, "product"), (4, "product")]
# On Apache Kafka the case with most rebalancing and contention only: the others add time and
# little that depends on the broker.
APACHE_KAFKA_CASES: list[Case] = [(4, "product")]


def broker_cases() -> list[Any]:
    """(broker, case) pairs for each broker of the matrix."""
    return [
        pytest.param(broker, case, id=f"{broker}-{case[0]}-by-{case[1]}")
        for broker in matrix_brokers()
        for case in (CASES if broker == TANSU else APACHE_KAFKA_CASES)
    ]


@pytest.mark.parametrize(("matrix_broker", "case"), broker_cases(), indirect=["matrix_broker"])
def test_grouping_is_the_same_for_any_number_of_workers(
    case: Case,
    migrated_db: str,
    matrix_broker: BrokerService,
    matrix_topics: TopicSet,
    tmp_path: Path,
) -> None:
    workers, key_by = case
    kafka_bootstrap, topics = matrix_broker.bootstrap_servers, matrix_topics
    lineage = regional_lineage(SPACE, seed=11)
    stream = cascade_stream(SPACE, seed=23, count=ALERTS, lineage=lineage, key_by=key_by)
    expected = expected_groups(stream)
    assert 10 < len(expected) < ALERTS / 3  # a stream with real grouping to get right
    env = worker_env(
        migrated_db,
        kafka_bootstrap,
        topics,
        broker=matrix_broker,
        INCIDENTD_BATCH_MAX_RECORDS="200",
    )
    with (
        space_engine(migrated_db, [SPACE], lineage, pool_size=1) as engine,
        workers_running(env, tmp_path, workers) as procs,
    ):
        produce(kafka_bootstrap, topics.alerts, stream.records)

        def settled() -> bool:
            with engine.connect() as conn:
                stored = conn.execute(text("SELECT count(*) FROM alerts")).scalar()
                unsent = conn.execute(
                    text("SELECT count(*) FROM outbox WHERE sent_at IS NULL")
                ).scalar()
            return stored == ALERTS and unsent == 0

        wait_until(settled, timeout=120, message=lambda: procs[0].log_text()[-3000:])
        with engine.connect() as conn:
            got = stored_groups(conn, SPACE)
        assert got == expected, (len(got), len(expected))
        _assert_events_match_database(engine, kafka_bootstrap, topics)


def _assert_events_match_database(engine: Engine, bootstrap: str, topics: TopicSet) -> None:
    """A consumer keeping the highest version per incident ends where the database is."""
    reader = TopicReader(bootstrap, topics.incidents)
    with engine.connect() as conn:
        db = {
            str(r.id): (r.version, r.alert_count, r.status)
            for r in conn.execute(text("SELECT id, version, alert_count, status FROM incidents"))
        }

    def latest() -> dict[str, tuple[int, int, str]]:
        reader.poll()
        out: dict[str, tuple[int, int, str]] = {}
        for event in reader.json():
            inc = event["incident"]
            if inc["id"] not in out or inc["version"] > out[inc["id"]][0]:
                out[inc["id"]] = (inc["version"], inc["alert_count"], inc["status"])
        return out

    wait_until(lambda: latest() == db, timeout=30, message=lambda: f"{len(latest())} vs {len(db)}")
    reader.close()


# Keyed by space, "west" and "east" land on partitions 1 and 2 of the 4 (kafka-python's
# murmur2): different members under both the range (0-1 | 2-3) and round-robin (0,2 | 1,3)
# assignments, so each of two workers owns one space.
TWO_SPACES = ("west", "east")


def _two_spaces(engine: Engine, seed: int, count: int) -> dict[str, Stream]:
    """The two spaces with their lineage, and a stream of `count` alerts for each."""
    streams = {}
    for n, space in enumerate(TWO_SPACES):
        lineage = regional_lineage(space, seed=n)
        streams[space] = cascade_stream(space, seed=seed + n, count=count, lineage=lineage)
        add_spaces(engine, [space], lineage)
    return streams


def test_two_workers_on_two_spaces_never_wait_for_each_other(
    engine: Engine, migrated_db: str, kafka_bootstrap: str, topics: TopicSet, tmp_path: Path
) -> None:
    streams = _two_spaces(engine, seed=40, count=ALERTS // 2)
    env = worker_env(migrated_db, kafka_bootstrap, topics, INCIDENTD_BATCH_MAX_RECORDS="100")
    with workers_running(env, tmp_path, 2) as procs:
        warmups = _until_both_own_partitions(procs, kafka_bootstrap, topics)
        before = [_lock_figures(p) for p in procs]
        west, east = (streams[s].records for s in TWO_SPACES)
        interleaved = [r for pair in zip(west, east, strict=True) for r in pair]
        produce(kafka_bootstrap, topics.alerts, interleaved)
        total = ALERTS // 2 * 2
        wait_until(
            lambda: _stored(engine) == total + warmups,
            timeout=120,
            message=lambda: procs[0].log_text()[-2000:] + procs[1].log_text()[-2000:],
        )
        after = [_lock_figures(p) for p in procs]
        processed = [a[2] - b[2] for a, b in zip(after, before, strict=True)]
        assert all(n > 0 for n in processed), processed  # both worked, each on its space
        assert sum(processed) == total
        assert [a[:2] for a in after] == [b[:2] for b in before] == [(0, 0), (0, 0)]
        with engine.connect() as conn:
            for space in TWO_SPACES:
                assert stored_groups(conn, space) == expected_groups(streams[space])


WARMUP_PARTITIONS = 4
PROCESSED = "incidentd_alerts_processed_total"


def _until_both_own_partitions(procs: list[WorkerProcess], bootstrap: str, topics: TopicSet) -> int:
    """Wait until the group has settled with each worker owning alert partitions, then send
    a warm-up record to every partition (of a space that does not exist, so no lock) and wait
    until they are stored. Returns how many were sent."""

    def split() -> bool:
        owned = [owned_partitions(p.metrics_port, topics.alerts) for p in procs]
        return all(owned) and sum(map(len, owned)) == WARMUP_PARTITIONS

    wait_until(split, timeout=90)
    base = sum(max(0.0, n) for n in _processed(procs))
    records = [
        (p, alert(f"warmup-{p}", "warmup", minute=0, space="warmup")[1])
        for p in range(WARMUP_PARTITIONS)
    ]
    produce_to_partitions(bootstrap, topics.alerts, records)
    wait_until(partial(_all_taken, procs, base + WARMUP_PARTITIONS), timeout=60)
    assert split(), "the group moved again"
    return WARMUP_PARTITIONS


def _processed(procs: list[WorkerProcess]) -> list[float]:
    return [metric(p.metrics_port, PROCESSED) for p in procs]


def _all_taken(procs: list[WorkerProcess], sent: float) -> bool:
    return sum(_processed(procs)) >= sent


def _lock_figures(proc: WorkerProcess) -> tuple[float, float, float]:
    """(lock waits, seconds waited, alerts processed) of a worker."""
    port = proc.metrics_port
    return (
        metric(port, "incidentd_space_lock_waits_total"),
        metric(port, "incidentd_space_lock_wait_seconds_total"),
        metric(port, PROCESSED),
    )


def _stored(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM alerts")).scalar_one())


def test_a_space_moves_with_its_partition_when_a_worker_joins(
    engine: Engine, migrated_db: str, kafka_bootstrap: str, topics: TopicSet, tmp_path: Path
) -> None:
    """One worker holds both spaces; once a second joins, each holds only the space it owns."""
    streams = _two_spaces(engine, seed=50, count=200)
    env = worker_env(migrated_db, kafka_bootstrap, topics, INCIDENTD_BATCH_MAX_RECORDS="50")
    with workers_running(env, tmp_path, 1) as procs:
        first = procs[0]
        halves = {s: (r[:100], r[100:]) for s, r in ((s, streams[s].records) for s in TWO_SPACES)}
        produce(kafka_bootstrap, topics.alerts, [r for s in TWO_SPACES for r in halves[s][0]])
        wait_until(lambda: metric(first.metrics_port, HELD) == 2, timeout=60)
        procs.append(WorkerProcess(env, tmp_path / "worker1.log").start())
        warmups = _until_both_own_partitions(procs, kafka_bootstrap, topics)
        produce(kafka_bootstrap, topics.alerts, [r for s in TWO_SPACES for r in halves[s][1]])
        wait_until(lambda: _stored(engine) == 400 + warmups, timeout=60)
        assert sorted(metric(p.metrics_port, HELD) for p in procs) == [1, 1]
        with engine.connect() as conn:
            for space in TWO_SPACES:
                assert stored_groups(conn, space) == expected_groups(streams[space])


HELD = "incidentd_spaces_held"
