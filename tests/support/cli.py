"""`incidentd …` as a real subprocess (in-process runners leave logging bound to closed files)."""

from __future__ import annotations

import os
import subprocess
import sys


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
