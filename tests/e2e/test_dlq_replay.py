"""`incidentd dlq replay`: dead letters go back to their source topic, once per filter."""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import text

from incidentd.storage.db import make_engine
from tests.support.services import TopicSet
from tests.support.spaces import with_spaces
from tests.support.wait import wait_until
from tests.support.workers import TopicReader, WorkerProcess, produce, worker_env

SPACE = "shop"


def _no_occurred_at(alert_id: str) -> tuple[bytes, bytes]:
    body = {
        "schema_version": 1,
        "alert_id": alert_id,
        "space": SPACE,
        "product_id": "orders",
        "alert_type": "quality_check_failed",
        "severity": "high",
    }
    return b"orders", orjson.dumps(body)


INVALID_ALERT: list[tuple[bytes | None, bytes]] = [_no_occurred_at("r1"), _no_occurred_at("r2")]
INVALID_JSON: list[tuple[bytes | None, bytes]] = [
    (b"orders", b'{"schema_version": 1,'),
    (None, b"\xff\xfe"),
    (b"k", b"nope"),
]


@pytest.fixture
def shop_db(migrated_db: str) -> str:
    """A database with the shop space (incidents enabled)."""
    return with_spaces(migrated_db, [SPACE])


@pytest.fixture
def env(shop_db: str, kafka_bootstrap: str, topics: TopicSet) -> dict[str, str]:
    """Worker and CLI environment of this test."""
    return worker_env(shop_db, kafka_bootstrap, topics)


@pytest.fixture
def worker(env: dict[str, str], tmp_path: Path) -> Iterator[WorkerProcess]:
    """One running worker; killed at the end if the test did not stop it."""
    proc = WorkerProcess(env, tmp_path / "worker.log").start()
    yield proc
    proc.kill()


def replay(env: dict[str, str], *args: str) -> str:
    """Run `incidentd dlq replay ARGS` and return its stdout (it must succeed)."""
    result = subprocess.run(
        [sys.executable, "-m", "incidentd.app.cli", "dlq", "replay", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.strip()


def dead_letters(reader: TopicReader, count: int, worker: WorkerProcess) -> list[Any]:
    """Wait until the DLQ holds `count` letters (failing at once if the worker died)."""

    def enough() -> bool:
        assert worker.proc is not None and worker.proc.poll() is None, worker.log_text()
        return len(reader.poll()) >= count

    wait_until(enough, timeout=60, message=lambda: f"DLQ: {len(reader.records)} letters")
    return reader.records


def test_replay_by_error_type_republishes_the_original_records_once(
    worker: WorkerProcess, env: dict[str, str], kafka_bootstrap: str, topics: TopicSet
) -> None:
    produce(kafka_bootstrap, topics.alerts, [*INVALID_ALERT, *INVALID_JSON])
    dlq = TopicReader(kafka_bootstrap, topics.dlq)
    letters = dead_letters(dlq, 5, worker)
    kinds = Counter(dict(r.headers)["error_type"].decode() for r in letters)
    assert kinds == {"invalid_alert": 2, "invalid_json": 3}
    # Stopped, so the replayed records are not dead-lettered again while we count them.
    assert worker.terminate() == 0

    assert replay(env, "--error-type", "invalid_json") == (
        "replayed 3 dead letters (invalid_json: 3); skipped 2"
    )
    alerts = TopicReader(kafka_bootstrap, topics.alerts)
    wait_until(lambda: len(alerts.poll()) >= 8, timeout=30, message="replayed records missing")
    copies = Counter((r.key, r.value) for r in alerts.records)
    assert all(copies[record] == 2 for record in INVALID_JSON), copies
    assert all(copies[record] == 1 for record in INVALID_ALERT), copies

    assert replay(env, "--error-type", "invalid_json") == "replayed 0 dead letters; skipped 0"
    # The filtered runs did not consume the other letters: their own filter still finds them.
    first = replay(env, "--error-type", "invalid_alert", "--limit", "1")
    second = replay(env, "--error-type", "invalid_alert")
    for line in (first, second):
        assert re.fullmatch(r"replayed 1 dead letter \(invalid_alert: 1\); skipped \d", line), line
    # Each invalid_json letter is passed over once by this filter, whichever run meets it.
    assert int(first[-1]) + int(second[-1]) == 3
    assert len(alerts.poll()) == 10
    copies = Counter((r.key, r.value) for r in alerts.records)
    assert copies == {rec: 2 for rec in [*INVALID_ALERT, *INVALID_JSON]}
    alerts.close()
    dlq.close()


def test_replay_after_a_fix_applies_the_letters(
    env: dict[str, str], kafka_bootstrap: str, topics: TopicSet, shop_db: str, tmp_path: Path
) -> None:
    """Lineage without a default space is dead-lettered; once configured, a replay applies it.

    A letter that still fails comes straight back while the replay runs: it is not replayed
    again by that run (no ping-pong), only by the next one.
    """
    events = [
        {
            "eventType": "COMPLETE",
            "job": {"namespace": "etl", "name": f"job{i}"},
            "inputs": [{"namespace": "wh", "name": f"raw{i}"}],
            "outputs": [{"namespace": "wh", "name": f"clean{i}"}],
        }
        for i in range(3)
    ]
    produce(kafka_bootstrap, topics.lineage, [(b"etl", orjson.dumps(e)) for e in events])
    produce(kafka_bootstrap, topics.alerts, [(b"k", b"still broken")])
    dlq = TopicReader(kafka_bootstrap, topics.dlq)
    before = WorkerProcess(env, tmp_path / "before.log").start()
    try:
        letters = dead_letters(dlq, 4, before)
        kinds = Counter(dict(r.headers)["error_type"] for r in letters)
        assert kinds == {b"invalid_lineage": 3, b"invalid_json": 1}
        assert before.terminate() == 0
    finally:
        before.kill()

    fixed = WorkerProcess(
        dict(env, INCIDENTD_LINEAGE_DEFAULT_SPACE=SPACE), tmp_path / "fixed.log"
    ).start()
    engine = make_engine(shop_db, pool_size=1)

    def edges() -> int:
        assert fixed.proc is not None and fixed.proc.poll() is None, fixed.log_text()
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM edges")).scalar_one())

    try:
        assert replay(env) == (
            "replayed 4 dead letters (invalid_json: 1, invalid_lineage: 3); skipped 0"
        )
        wait_until(lambda: edges() == 3, timeout=30, message=fixed.log_text)
        dead_letters(dlq, 5, fixed)  # the broken record is back as a new letter
        assert replay(env) == "replayed 1 dead letter (invalid_json: 1); skipped 0"
        dead_letters(dlq, 6, fixed)
        assert [r.value for r in dlq.records[4:]] == [b"still broken"] * 2
    finally:
        fixed.kill()
        engine.dispose()
    dlq.close()
