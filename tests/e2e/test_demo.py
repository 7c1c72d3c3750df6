"""`incidentd demo` as a new user runs it: embedded services, incidents, DLQ, nothing left."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import psutil


def _service_pids() -> set[int]:
    found = set()
    for proc in psutil.process_iter(["cmdline"]):
        cmd = " ".join(proc.info["cmdline"] or [])
        if "tansu" in cmd or "incidentd-pg-" in cmd:
            found.add(proc.pid)
    return found


def test_demo_shows_correlated_incidents_and_leaves_nothing_running() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INCIDENTD_")}
    env["COLUMNS"] = "200"
    before = _service_pids()
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
    assert "incidents correlated from 28 stored alerts" in out
    for root in ("payments_raw", "billing_invoices_raw", "crm_accounts_stg"):
        assert root in out
    assert re.search(r"│ resolved\s+│", out), "the CRM incident should have resolved itself"
    assert "invalid_alert" in out and "occurred_at: Field required" in out
    assert _service_pids() <= before, "the demo left a database or broker running"
