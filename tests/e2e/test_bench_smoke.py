"""The benchmark harness still runs: `python -m bench run --smoke` writes every section."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def _positive(section: dict[str, Any], *keys: str) -> None:
    for key in keys:
        assert section[key] > 0, (key, section)


def test_bench_smoke_writes_every_section(tmp_path: Path) -> None:
    out = tmp_path / "x.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "run", "--smoke", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    result = json.loads(out.read_text())

    assert result["meta"]["services"]["commit_mode"]
    _positive(result["meta"]["machine"], "nproc", "memory_gib")
    _positive(result["stream"], "records", "unique_valid_alerts", "cascades", "malformed_records")
    _positive(result["raw"], "records", "consumer_records_per_s", "producer_records_per_s")
    assert result["end_to_end"], result
    for run in result["end_to_end"]:
        _positive(run, "workers", "alerts_per_s", "seconds", "alerts_stored")
        assert min(run["peak_rss_mib"]) > 0, run
        _positive(run["worker"], "processed", "batches", "events_published")
    _positive(result["latency"], "alerts_in_events", "events", "p50_ms", "p95_ms", "p99_ms")
    assert result["lineage"]["sizes"], result
    for size in result["lineage"]["sizes"]:
        _positive(size, "products", "edges", "build_ms", "related_set_size_p50")
        for kind in ("related_set_cold", "related_set_warm", "is_related", "blast_radius"):
            _positive(size[kind], "p50_ms", "p99_ms")
    assert result["memory"], result
    for memory in result["memory"]:
        _positive(memory, "products", "alerts", "peak_rss_mib", "alerts_per_s")
    correlation = result["correlation"]
    _positive(correlation, "alerts", "incidents")
    assert 0 < correlation["ratio"] < 1, correlation
    assert set(result["targets"]) == {
        "e2e_alerts_per_s",
        "e2e_share_of_raw",
        "latency_p99_ms",
        "lineage_query_p99_ms",
        "worker_peak_rss_mib",
    }
    assert out.with_suffix(".md").read_text().count("|") > 20
