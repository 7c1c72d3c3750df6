"""`incidentd` commands as an operator or a pipeline runs them: a subprocess on a database."""

from __future__ import annotations

import os
import subprocess
import sys


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
