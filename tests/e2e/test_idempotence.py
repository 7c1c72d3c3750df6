"""The worker's producer is idempotent on Apache Kafka, and not when the setting says so.

An idempotent producer gets a producer id from the broker and writes it, with sequence
numbers, into every record batch; the broker's log shows which producer wrote what.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from incidentd.storage.db import make_engine
from incidentd.storage.spaces import INCIDENTS_FEATURE, upsert_space
from tests.support.apache_kafka import ApacheKafka, stored_batches
from tests.support.services import TopicSet
from tests.support.wait import wait_until
from tests.support.workers import WorkerProcess, alert, produce, worker_env

SPACE = "idem"


@pytest.mark.parametrize("setting", ["default", "false"])
def test_incident_events_are_written_by_an_idempotent_producer_unless_turned_off(
    setting: str, migrated_db: str, apache_kafka: ApacheKafka, tmp_path: Path
) -> None:
    topics = TopicSet.unique()
    apache_kafka.create_topics(topics.names)
    engine = make_engine(migrated_db, pool_size=1)
    with engine.begin() as conn:
        upsert_space(conn, SPACE, features=[INCIDENTS_FEATURE])
    engine.dispose()
    env = worker_env(migrated_db, apache_kafka.bootstrap_servers, topics)
    if setting == "default":
        env.pop("INCIDENTD_PRODUCER_IDEMPOTENCE")
    else:
        env["INCIDENTD_PRODUCER_IDEMPOTENCE"] = setting
    worker = WorkerProcess(env, tmp_path / "worker.log").start()
    try:
        produce(
            apache_kafka.bootstrap_servers,
            topics.alerts,
            [alert(f"i{n}", f"product_{n}", n, space=SPACE) for n in range(5)],
        )
        batches = wait_until(
            lambda: list(stored_batches(apache_kafka, topics.incidents)),
            timeout=60,
            message=worker.log_text,
        )
    finally:
        worker.kill()
    producers = {b.producer_id for b in batches}
    if setting == "default":
        assert len(producers) == 1 and min(producers) >= 0, producers  # one producer id, given
    else:
        assert producers == {-1}
