"""A webhook target that is down for a long outage, and a worker killed with SIGKILL meanwhile:
when the target comes back it gets every event, in order per incident, verified signatures.

The outage is shortened, not waited for: the retry policy's first wait and ceiling are cut to
fractions of a second (a ten-minute outage is a handful of attempts at the default ceiling of five
minutes; here it is "the target tried at least three times while it is down").
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text
from standardwebhooks.webhooks import Webhook

from incidentd.channels.webhook import new_secret
from incidentd.schemas.subscription import SubscriptionFilter
from incidentd.storage.db import make_engine
from incidentd.storage.lineage import import_document
from incidentd.storage.spaces import INCIDENTS_FEATURE, upsert_space
from incidentd.storage.subscriptions import alert_channels, create_subscription
from tests.support.api import LINEAGE, SPACE
from tests.support.channels import Receiver, make_receiver
from tests.support.services import TopicSet
from tests.support.wait import wait_until
from tests.support.workers import WorkerProcess, alert, produce, worker_env

TOKEN = "url-t0ken-never-logged"
ROUNDS = 4  # each round: one alert on the chain raw -> report, one on the island


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """The webhook target, down (503) at first."""
    for found in make_receiver():
        found.status = 503
        yield found


def _rows(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                text(
                    "SELECT id, incident_id, event_id, attempts, sent_at FROM outbox "
                    "WHERE subscription_id IS NOT NULL ORDER BY id"
                )
            )
        )


def _heads(rows: list[Any]) -> list[Any]:
    """The first row of each incident."""
    seen: dict[str, Any] = {}
    for r in rows:
        seen.setdefault(str(r.incident_id), r)
    return list(seen.values())


def _stored(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM alerts")).scalar_one())


def _produce_rounds(engine: Engine, bootstrap: str, topics: TopicSet, worker: Any) -> None:
    """One batch per round, so each round makes its own event per incident."""
    for n in range(ROUNDS):
        records = [
            alert(f"chain-{n}", "clean" if n == 0 else "mart", n, space=SPACE),
            alert(f"island-{n}", "island", n, space=SPACE),
        ]
        produce(bootstrap, topics.alerts, records)
        want = 2 * (n + 1)
        wait_until(
            lambda: _stored(engine) == want,  # noqa: B023 (called before the next round)
            timeout=60,
            message=lambda: worker.log_text()[-2000:],
        )


def test_a_long_outage_and_a_kill_9_lose_nothing_and_keep_order(
    migrated_db: str,
    kafka_bootstrap: str,
    topics: TopicSet,
    receiver: Receiver,
    tmp_path: Path,
) -> None:
    engine = make_engine(migrated_db, pool_size=2)
    secret = new_secret()
    with engine.begin() as conn:
        upsert_space(conn, SPACE, features=[INCIDENTS_FEATURE])
        import_document(conn, LINEAGE)
        create_subscription(
            conn,
            SPACE,
            "webhook",
            receiver.url(f"/hook?token={TOKEN}"),
            SubscriptionFilter(),
            secret=secret,
            created_by="test",
        )
    env = worker_env(
        migrated_db,
        kafka_bootstrap,
        topics,
        INCIDENTD_DELIVERY_RETRY_INITIAL_SECONDS="0.05",
        INCIDENTD_DELIVERY_RETRY_MAX_SECONDS="0.3",
        INCIDENTD_DELIVERY_MAX_ATTEMPTS="10000",
        INCIDENTD_DELIVERY_INTERVAL_SECONDS="0.05",
    )
    first = WorkerProcess(env, tmp_path / "first.log").start()
    try:
        _produce_rounds(engine, kafka_bootstrap, topics, first)
        expected = 2 * ROUNDS  # one event per incident per round
        wait_until(
            lambda: len(rows := _rows(engine)) == expected and max(r.attempts for r in rows) >= 3,
            timeout=60,
            message=lambda: f"{_rows(engine)}\n{first.log_text()[-2000:]}",
        )
        # While an incident's first event is not through, its later ones wait behind it.
        rows = _rows(engine)
        assert all(r.attempts == 0 for r in rows if r not in _heads(rows))
        assert receiver.received == [] and receiver.attempts >= 3
    finally:
        first.kill()  # SIGKILL, with every delivery pending and being retried

    receiver.status = 200
    second = WorkerProcess(env, tmp_path / "second.log").start()
    try:
        wait_until(
            lambda: all(r.sent_at is not None for r in _rows(engine)),
            timeout=60,
            message=lambda: second.log_text()[-2000:],
        )
    finally:
        second.kill()
    _check_everything_arrived_in_order(engine, receiver, secret)
    for log in (first, second):
        assert secret not in log.log_text() and TOKEN not in log.log_text()  # never logged


def _check_everything_arrived_in_order(engine: Engine, receiver: Receiver, secret: str) -> None:
    rows = _rows(engine)
    events = [Webhook(secret).verify(r.body, r.headers) for r in receiver.received]
    assert {e["event_id"] for e in events} == {r.event_id for r in rows}  # nothing lost
    for incident in {str(r.incident_id) for r in rows}:
        got = [e["event_id"] for e in events if e["incident_id"] == incident]
        once = [e for k, e in enumerate(got) if k == 0 or got[k - 1] != e]  # at least once
        assert once == [r.event_id for r in rows if str(r.incident_id) == incident]
        versions = [e["incident"]["version"] for e in events if e["incident_id"] == incident]
        assert versions == sorted(versions)
    with engine.connect() as conn:
        told = alert_channels(conn, SPACE, ["chain-0", "island-3"])
    assert told == {"chain-0": ["webhook"], "island-3": ["webhook"]}
