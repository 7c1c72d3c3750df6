"""`incidentd ingest` as a pipeline runs it (a subprocess on a real database): clear errors,
a non-zero exit and nothing queued for a missing, malformed or incomplete artifact."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from incidentd.app.demo_dbt import DBT_TARGET
from tests.support.cli import run_cli
from tests.support.spaces import space_engine

SPACE = "shop"


@pytest.fixture
def engine(migrated_db: str) -> Iterator[Engine]:
    """The CLI's database, with the space."""
    with space_engine(migrated_db, [SPACE], pool_size=1) as eng:
        yield eng


def ingest(db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`incidentd ingest ARGS` with the database set."""
    return run_cli(db_url, "ingest", *args)


def outbox_rows(engine: Engine) -> int:
    """How many messages wait in the outbox."""
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM outbox")).scalar_one())


def test_run_results_without_a_manifest_is_refused(
    engine: Engine, migrated_db: str, tmp_path: Path
) -> None:
    (tmp_path / "run_results.json").write_text('{"results": []}')
    done = ingest(migrated_db, "dbt", str(tmp_path), "--space", SPACE)
    assert done.returncode == 2
    assert "run_results.json has no manifest.json beside it" in done.stderr
    assert "nothing was published" in done.stderr
    assert outbox_rows(engine) == 0


CASES = [
    ("gx", "missing.json", None, "missing.json: no such file"),
    ("soda", "scan.json", "{not json", "scan.json: not valid JSON"),
    ("gx", "list.json", "[1, 2]", "expected a JSON object, found list"),
    ("dbt", "nothing_here", None, "no such directory"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[1] for c in CASES])
def test_a_missing_or_malformed_file_is_refused(
    engine: Engine, migrated_db: str, tmp_path: Path, case: tuple[str, str, str | None, str]
) -> None:
    tool, name, content, message = case
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    done = ingest(migrated_db, tool, str(path), "--space", SPACE)
    assert done.returncode == 2
    assert message in " ".join(done.stderr.split())
    assert outbox_rows(engine) == 0


def test_an_empty_target_directory_says_what_is_missing(
    engine: Engine, migrated_db: str, tmp_path: Path
) -> None:
    done = ingest(migrated_db, "dbt", str(tmp_path), "--space", SPACE)
    assert done.returncode == 2
    assert "no run_results.json (run `dbt build` or `dbt test` first)" in done.stderr
    assert outbox_rows(engine) == 0


def test_an_unknown_space_is_refused(engine: Engine, migrated_db: str) -> None:
    done = ingest(migrated_db, "dbt", str(DBT_TARGET), "--space", "nowhere")
    assert done.returncode == 2
    assert "space 'nowhere' does not exist" in done.stderr
    assert outbox_rows(engine) == 0


def test_a_dry_run_needs_no_database_and_a_real_run_does() -> None:
    dry = ingest("", "dbt", str(DBT_TARGET), "--space", SPACE, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "dbt -> 9 alerts of space shop" in dry.stdout
    assert "no database: nothing resolved against the catalog" in dry.stdout
    real = ingest("", "dbt", str(DBT_TARGET), "--space", SPACE)
    assert real.returncode == 2
    assert "INCIDENTD_DATABASE_URL is not set" in real.stderr


def test_a_run_queues_the_alerts_keyed_by_space(engine: Engine, migrated_db: str) -> None:
    done = ingest(migrated_db, "dbt", str(DBT_TARGET), "--space", SPACE)
    assert done.returncode == 0, done.stderr
    assert "queued 9 alerts for dq.alerts" in done.stdout
    with engine.connect() as conn:
        keys = conn.execute(text("SELECT DISTINCT topic, key FROM outbox")).fetchall()
    assert [tuple(k) for k in keys] == [("dq.alerts", SPACE)]
    assert outbox_rows(engine) == 9
