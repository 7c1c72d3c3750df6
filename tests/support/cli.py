"""`incidentd` commands as an operator or a pipeline runs them: a subprocess on a database."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

from sqlalchemy import Engine

from incidentd.storage.db import make_engine
from incidentd.storage.spaces import INCIDENTS_FEATURE, upsert_space


def run_cli(db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`incidentd ARGS` with the database set, JSON logs and a wide terminal."""
    env = dict(os.environ, INCIDENTD_DATABASE_URL=db_url, INCIDENTD_LOG_FORMAT="json")
    env["COLUMNS"] = "250"
    return subprocess.run(
        [sys.executable, "-m", "incidentd.app.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def engine_with_space(db_url: str, space: str) -> Iterator[Engine]:
    """An engine on the database, which has `space` (with incidents)."""
    eng = make_engine(db_url, pool_size=1)
    with eng.begin() as conn:
        upsert_space(conn, space, features=[INCIDENTS_FEATURE])
    yield eng
    eng.dispose()
