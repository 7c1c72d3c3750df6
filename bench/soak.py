"""`python -m bench soak`: the failure tests marked `soak`, at a larger scale, and their figures.

It runs `pytest -m soak tests/e2e/test_failures.py` with `INCIDENTD_SOAK_SCALE` set (1,200 x K
alerts, 6 x K kills, a 30 x K s database outage), the tests write one JSON file each (into a
directory of this run, `INCIDENTD_SOAK_OUTPUT_DIR`), and this module gathers them into one result
document, rich tables and the same tables in Markdown.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console

from bench.report import Section, show, to_markdown
from bench.run import code_version, machine

ROOT = Path(__file__).resolve().parents[1]
TESTS = "tests/e2e/test_failures.py"
SCALE_ENV = "INCIDENTD_SOAK_SCALE"
OUTPUT_ENV = "INCIDENTD_SOAK_OUTPUT_DIR"
TOTALS = ("alerts_checked", "kills_survived", "duplicates_found")


def soak(scale: int, timeout: float, console: Console) -> dict[str, Any]:
    """Run the soak tests at `scale` and return the result document."""
    work = Path(tempfile.mkdtemp(prefix="incidentd-soak-"))
    figures_dir, log = work / "figures", work / "pytest.log"
    command = [sys.executable, "-m", "pytest", "-q", "-m", "soak", "-p", "no:cacheprovider", TESTS]
    env = dict(os.environ, **{SCALE_ENV: str(scale), OUTPUT_ENV: str(figures_dir)})
    result: dict[str, Any] = {
        "meta": {
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": " ".join(["python -m bench", *sys.argv[1:]]),
            "pytest": f"{SCALE_ENV}={scale} pytest -q -m soak {TESTS}",
            "scale": scale,
            "machine": machine(),
            "code": code_version(),
            "loadavg_1m_before": round(os.getloadavg()[0], 2),
            "pytest_log": str(log),
        }
    }
    started = time.monotonic()
    with log.open("w") as out, console.status(f"pytest -m soak at scale {scale}…"):
        try:
            done = subprocess.run(
                command,
                check=False,
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=timeout,
            )
            exit_code: int | None = done.returncode
        except subprocess.TimeoutExpired:
            exit_code = None
    result["meta"]["seconds"] = round(time.monotonic() - started, 1)
    result["meta"]["loadavg_1m_after"] = round(os.getloadavg()[0], 2)
    tail = log.read_text(errors="replace").strip().splitlines()
    result["pytest"] = {
        "exit_code": exit_code,
        "summary": tail[-1] if tail else "",
        "timed_out_after_s": timeout if exit_code is None else None,
    }
    result["soak"] = [
        json.loads(path.read_text()) for path in sorted(figures_dir.glob("soak-*.json"))
    ]
    result["totals"] = {key: sum(int(t.get(key, 0)) for t in result["soak"]) for key in TOTALS}
    result["totals"]["all_passed"] = exit_code == 0 and all(t["passed"] for t in result["soak"])
    return result


def failed(result: dict[str, Any]) -> bool:
    """Whether pytest failed, timed out, or wrote no figures."""
    return not result["soak"] or not result["totals"]["all_passed"]


def sections(result: dict[str, Any]) -> list[Section]:
    """(title, header, rows) of the soak tables."""
    header = ["test", "alerts checked", "kills survived", "duplicates found", "outage s"]
    header += ["wall s", "passed"]
    rows = [
        [
            t["test"],
            f"{t.get('alerts_checked', 0):,} / {t['alerts']:,}",
            f"{t['kills_survived']} / {t['kills']}",
            str(t.get("duplicates_found", "-")),
            f"{t['outage_seconds']:g}",
            f"{t['wall_seconds']:g}",
            "yes" if t["passed"] else "NO",
        ]
        for t in result["soak"]
    ]
    totals = result["totals"]
    rows.append(
        [
            "total",
            f"{totals['alerts_checked']:,}",
            str(totals["kills_survived"]),
            str(totals["duplicates_found"]),
            "",
            f"{result['meta']['seconds']:g}",
            "yes" if totals["all_passed"] else "NO",
        ]
    )
    title = f"soak at scale {result['meta']['scale']} ({result['pytest']['summary']})"
    tables: list[Section] = [(title, header, rows)]
    outage = next((t for t in result["soak"] if "cpu_share_during_outage" in t), None)
    if outage is not None:
        tables.append(_outage(outage))
    return tables


def _outage(t: dict[str, Any]) -> Section:
    rows = [
        ["outage", f"{t['outage_seconds']:g} s, one worker, retry backoff up to 2 s"],
        ["worker CPU while the database was down", f"{t['cpu_share_during_outage']:.1%}"],
        [
            "worker RSS at the outage's start / end / peak",
            f"{t['rss_mib_outage_start']:g} / {t['rss_mib_outage_end']:g} / "
            f"{t['rss_mib_outage_peak']:g} MiB",
        ],
        ["records polled while the database was down", _count(t["records_polled_during_outage"])],
        [
            "offsets committed by the outage's end / alerts saved before it",
            f"{t['offsets_committed_at_outage_end']:,} / "
            f"{_count(t.get('alerts_saved_before_outage'))}",
        ],
        ["retries counted by the worker", _count(t.get("retries"))],
    ]
    return "database outage", ["what", "figure"], rows


def _count(value: float | None) -> str:
    """A counted figure, or '-' when the test stopped before counting it."""
    return "-" if value is None else f"{round(value):,}"


def print_tables(result: dict[str, Any], console: Console) -> None:
    """The result as rich tables."""
    show(sections(result), console)


def markdown(result: dict[str, Any]) -> str:
    """The same tables in Markdown, for bench/README.md."""
    return to_markdown(sections(result))
