"""`incidentd demo` as a new user runs it: embedded services, incidents, DLQ, nothing left."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid

import psutil

_MARK = "INCIDENTD_DEMO_TEST_RUN"


def _left_running(mark: str) -> set[int]:
    """Processes the demo started (they inherit its environment) that are still alive."""
    found = set()
    for proc in psutil.process_iter(["pid"]):
        try:
            if proc.environ().get(_MARK) == mark:
                found.add(proc.pid)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def test_demo_shows_correlated_incidents_and_leaves_nothing_running() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INCIDENTD_")}
    env["COLUMNS"] = "200"
    mark = uuid.uuid4().hex
    env[_MARK] = mark
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "incidentd.app.cli", "demo"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    elapsed = time.monotonic() - started
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert elapsed < 60, f"demo took {elapsed:.0f} s"
    # 28 from the finance burst, 9 from the dbt test run (4 failing tests, 5 passing).
    assert "incidents correlated from 37 stored alerts" in out
    assert "dbt: 9 alerts (4 failing)" in out
    for root in ("payments_raw", "billing_invoices_raw", "crm_accounts_stg", "orders_raw"):
        assert root in out
    dbt_row = next(line for line in out.splitlines() if "orders_raw" in line and "│ open" in line)
    assert re.search(r"│ 4\s+│ orders_raw\s+│", dbt_row), "one incident holds the dbt cascade"
    assert re.search(r"│ resolved\s+│", out), "the CRM incident should have resolved itself"
    assert "invalid_alert" in out and "occurred_at: Field required" in out
    assert not _left_running(mark), "the demo left a database or broker running"
