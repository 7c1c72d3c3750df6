"""Same grouping for 1, 2 or 4 workers consuming related alerts concurrently."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from incidentd.storage.db import make_engine
from incidentd.storage.lineage import import_document
from incidentd.storage.spaces import INCIDENTS_FEATURE, upsert_space
from tests.e2e.streams import cascade_stream, expected_groups, regional_lineage, stored_groups
from tests.support.services import TopicSet
from tests.support.wait import wait_until
from tests.support.workers import TopicReader, WorkerProcess, produce, worker_env

SPACE = "scale"
ALERTS = 1500


@pytest.mark.parametrize("workers", [1, 2, 4])
def test_grouping_is_the_same_for_any_number_of_workers(
    workers: int, migrated_db: str, kafka_bootstrap: str, topics: TopicSet, tmp_path: Path
) -> None:
    lineage = regional_lineage(SPACE, seed=11)
    stream = cascade_stream(SPACE, seed=23, count=ALERTS, lineage=lineage)
    expected = expected_groups(stream)
    assert 10 < len(expected) < ALERTS / 3  # a stream with real grouping to get right
    engine = make_engine(migrated_db, pool_size=1)
    with engine.begin() as conn:
        upsert_space(conn, SPACE, features=[INCIDENTS_FEATURE])
        import_document(conn, lineage)
    env = worker_env(migrated_db, kafka_bootstrap, topics, INCIDENTD_BATCH_MAX_RECORDS="200")
    procs = [WorkerProcess(env, tmp_path / f"worker{i}.log").start() for i in range(workers)]
    try:
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
    finally:
        for proc in procs:
            proc.kill()
        engine.dispose()


def _assert_events_match_database(engine: object, bootstrap: str, topics: TopicSet) -> None:
    """A consumer keeping the highest version per incident ends where the database is."""
    reader = TopicReader(bootstrap, topics.incidents)
    with engine.connect() as conn:  # type: ignore[attr-defined]
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
