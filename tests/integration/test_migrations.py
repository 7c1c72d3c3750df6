"""`incidentd migrate` on a real PostgreSQL: head, idempotent, concurrent, matches the models."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import IntegrityError

from incidentd.storage.db import current_revision, make_engine
from incidentd.storage.tables import Base

HEAD = "0010"
TABLES = {
    "spaces",
    "products",
    "ui_sessions",
    "dataset_claims",
    "edges",
    "incidents",
    "alerts",
    "incident_history",
    "outbox",
    "users",
    "memberships",
    "api_tokens",
    "notifications",
    "subscriptions",
    "incident_channels",
}
ALERT_SQL = text(
    "INSERT INTO alerts (alert_id, space, product_id, alert_type, status, severity, "
    "occurred_at, fingerprint, raw) VALUES (:id, 'shop', 'p', 't', 'firing', 'high', "
    "'2026-02-27T14:00:00Z', 'fp', CAST('{}' AS jsonb))"
)


def _cli_env(db_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"INCIDENTD_DATABASE_URL": db_url, "INCIDENTD_LOG_FORMAT": "json", "COLUMNS": "200"})
    return env


def _migrate_cmd() -> list[str]:
    return [sys.executable, "-m", "incidentd.app.cli", "migrate"]


def run_migrate(db_url: str) -> subprocess.CompletedProcess[str]:
    """`incidentd migrate` as a subprocess."""
    return subprocess.run(
        _migrate_cmd(),
        env=_cli_env(db_url),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _ok(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stderr


def _tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on the test's (initially empty) database."""
    eng = make_engine(db_url, pool_size=1)
    yield eng
    eng.dispose()


def test_migrate_brings_an_empty_database_to_head_and_is_idempotent(
    db_url: str, engine: Engine
) -> None:
    assert current_revision(db_url) is None
    assert _tables(engine) == set()

    first = run_migrate(db_url)
    _ok(first)
    assert HEAD in first.stdout
    assert current_revision(db_url) == HEAD
    assert _tables(engine) == TABLES | {"alembic_version"}

    with engine.begin() as conn:
        conn.execute(text("INSERT INTO spaces (slug, name) VALUES ('keep', 'keep')"))
    second = run_migrate(db_url)
    _ok(second)
    assert HEAD in second.stdout
    assert current_revision(db_url) == HEAD
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [
            HEAD
        ]
        # a second run must not recreate (and so empty) anything
        assert conn.execute(text("SELECT slug FROM spaces")).scalars().all() == ["keep"]


def test_two_concurrent_migrations_both_succeed(db_url: str, engine: Engine) -> None:
    env = _cli_env(db_url)
    procs = [
        subprocess.Popen(
            _migrate_cmd(), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, f"exit {proc.returncode}\n{out}\n{err}"
        assert "Traceback" not in err
    assert current_revision(db_url) == HEAD
    assert _tables(engine) == TABLES | {"alembic_version"}
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1


def test_migrated_schema_matches_the_models(migrated_db: str) -> None:
    engine = make_engine(migrated_db, pool_size=1)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "compare_server_default": False}
            )
            diffs = compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()
    assert diffs == []


def test_alert_id_is_unique(migrated_db: str) -> None:
    engine = make_engine(migrated_db, pool_size=1)
    try:
        with engine.begin() as conn:
            conn.execute(ALERT_SQL, {"id": "dup-1"})
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(ALERT_SQL, {"id": "dup-1"})
        with engine.connect() as conn:
            count = conn.execute(text("SELECT count(*) FROM alerts WHERE alert_id = 'dup-1'"))
            assert count.scalar() == 1
        with engine.begin() as conn:  # unique within a space: another space may use the id
            conn.execute(text(ALERT_SQL.text.replace("'shop'", "'other'")), {"id": "dup-1"})
    finally:
        engine.dispose()
