"""`incidentd subscriptions …` as an operator runs it (a subprocess on a real database)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import orjson
import pytest
from sqlalchemy import Engine, text

from incidentd.storage.outbox import Message, enqueue
from tests.support.cli import run_cli
from tests.support.spaces import space_engine

SPACE = "shop"


@pytest.fixture
def engine(migrated_db: str) -> Iterator[Engine]:
    """The CLI's database, with the space."""
    with space_engine(migrated_db, [SPACE], pool_size=1) as eng:
        yield eng


def cli(db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`incidentd subscriptions ARGS` with the database set."""
    return run_cli(db_url, "subscriptions", *args)


def test_add_prints_the_webhook_secret_once_and_list_masks_the_target(
    engine: Engine, migrated_db: str
) -> None:
    hook = "https://ops.example.com/hooks/incidentd?token=t0k3n"
    added = cli(
        migrated_db,
        "add",
        SPACE,
        "--channel=webhook",
        f"--target={hook}",
        "--event-type=created",
        "--min-severity=high",
    )
    assert added.returncode == 0, added.stderr
    secret = added.stdout.strip().splitlines()[-1]
    assert secret.startswith("whsec_")
    with engine.connect() as conn:
        row = conn.execute(text("SELECT id, target, secret, filter FROM subscriptions")).one()
    assert row.target == hook and row.secret == secret
    assert row.filter["event_types"] == ["incident.created"]
    assert row.filter["min_severity"] == "high"

    listed = cli(migrated_db, "list", SPACE)
    assert listed.returncode == 0, listed.stderr
    assert str(row.id) in listed.stdout and "https://ops.example.com/…" in listed.stdout
    assert "t0k3n" not in listed.stdout and secret not in listed.stdout

    removed = cli(migrated_db, "remove", SPACE, str(row.id))
    assert removed.returncode == 0, removed.stderr
    assert cli(migrated_db, "remove", SPACE, str(row.id)).returncode == 2


def test_bad_input_is_refused_with_a_reason(engine: Engine, migrated_db: str) -> None:
    cases = [
        (["--channel=teams", "--target=https://x.example.com"], "unknown channel"),
        (["--channel=slack", "--target=not a url"], "target:"),
        (["--channel=email", "--target=ops@example.com", "--min-impact=HUGE"], "filter:"),
    ]
    for args, reason in cases:
        done = cli(migrated_db, "add", SPACE, *args)
        assert done.returncode == 2 and reason in done.stderr, (args, done.stderr)
    missing = cli(migrated_db, "add", "nowhere", "--channel=email", "--target=a@example.com")
    assert missing.returncode == 2 and "space 'nowhere' not found" in missing.stderr
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM subscriptions")).scalar_one() == 0


def test_failed_deliveries_are_listed_and_redelivered(engine: Engine, migrated_db: str) -> None:
    added = cli(migrated_db, "add", SPACE, "--channel=email", "--target=ops@example.com")
    assert added.returncode == 0, added.stderr
    with engine.begin() as conn:
        sub = str(conn.execute(text("SELECT id FROM subscriptions")).scalar_one())
        event = {"event_id": "e1", "event_type": "incident.created"}
        enqueue(
            conn,
            [Message(sub, "i", orjson.dumps(event), None, "email", sub, "e1", "incident.created")],
        )
        conn.execute(text("UPDATE outbox SET failed_at = now(), attempts = 3, last_error = 'x'"))
        delivery = conn.execute(text("SELECT id FROM outbox")).scalar_one()

    failed = cli(migrated_db, "deliveries", SPACE, "--status=failed")
    assert failed.returncode == 0, failed.stderr
    assert "incident.created" in failed.stdout and "1 of 1" in failed.stdout
    assert cli(migrated_db, "deliveries", SPACE, "--status=lost").returncode == 2

    again = cli(migrated_db, "redeliver", SPACE, str(delivery))
    assert again.returncode == 0, again.stderr
    with engine.connect() as conn:
        row = conn.execute(text("SELECT attempts, failed_at, last_error FROM outbox")).one()
    assert (row.attempts, row.failed_at, row.last_error) == (0, None, None)
    assert "0 of 0" in cli(migrated_db, "deliveries", SPACE, "--status=failed").stdout
    assert cli(migrated_db, "redeliver", "other", str(delivery)).returncode == 2
