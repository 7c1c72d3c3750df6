"""`incidentd ingest` as a pipeline runs it (a subprocess on a real database): clear errors,
a non-zero exit and nothing queued for a missing, malformed or incomplete artifact."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from tests.support.cli import engine_with_space, run_cli

SPACE = "shop"


@pytest.fixture
def engine(migrated_db: str) -> Iterator[Engine]:
    """The CLI's database, with the space."""
    yield from engine_with_space(migrated_db, SPACE)


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
