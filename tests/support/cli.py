"""`incidentd …` as a real subprocess (in-process runners leave logging bound to closed files)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

from sqlalchemy import Engine

from incidentd.storage.db import make_engine
from incidentd.storage.spaces import INCIDENTS_FEATURE, upsert_space


def run_cli(db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run `incidentd ARGS...` against `db_url`; stdout and stderr are captured as text."""
    env = {**os.environ, "INCIDENTD_DATABASE_URL": db_url, "COLUMNS": "200"}
    env["INCIDENTD_LOG_FORMAT"] = "json"
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
