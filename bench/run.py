"""One benchmark run: every phase in order, on the same servers, into one result document."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console

from bench.lineage_bench import lineage_figures
from bench.lineage_gen import Lineage, generate_lineage
from bench.measure import Phase, end_to_end, latency, raw_phase
from bench.report import ok
from bench.services import Services
from bench.streams import generate_stream

PHASES = ("lineage", "raw", "e2e", "latency", "memory")
SKIPPED = {"skipped": "not in --phases"}


@dataclass(frozen=True, slots=True)
class Config:
    """What to measure, and how big."""

    products: int = 10_000
    alerts: int = 200_000
    workers: tuple[int, ...] = (1, 2, 4)
    rate: float = 2000.0
    latency_seconds: float = 30.0
    lineage_sizes: tuple[int, ...] = (1_000, 10_000, 100_000)
    lineage_queries: int = 2000
    memory_sizes: tuple[int, ...] = (1_000, 10_000, 100_000)
    memory_alerts: int = 50_000
    partitions: int = 4
    durable: bool = False
    seed: int = 7
    phase_timeout: float = 600.0
    smoke: bool = False
    profile_seconds: int = 0
    max_poll_interval_ms: int = 6000
    worker_settings: tuple[tuple[str, str], ...] = ()
    phases: tuple[str, ...] = PHASES
    stall_seconds: float = 120.0
    log_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="incidentd-bench-")))

    @classmethod
    def smoke_test(cls, **overrides: Any) -> Config:
        """A tiny run that finishes in well under a minute."""
        values: dict[str, Any] = {
            "products": 1000,
            "alerts": 2000,
            "workers": (1,),
            "rate": 500.0,
            "latency_seconds": 2.0,
            "lineage_sizes": (1000,),
            "lineage_queries": 300,
            "memory_sizes": (1000,),
            "phase_timeout": 120.0,
            "smoke": True,
        }
        values.update(overrides)
        return cls(**values)


def machine() -> dict[str, Any]:
    """Where the run happened."""
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return {
        "nproc": os.cpu_count(),
        "memory_gib": round(pages / 2**30, 1),
        "cpu_model": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def code_version() -> dict[str, Any]:
    """The commit measured and the product files changed on top of it."""
    root = Path(__file__).resolve().parents[1]

    def git(*args: str) -> str:
        try:
            done = subprocess.run(
                ["git", *args], cwd=root, capture_output=True, text=True, timeout=10, check=True
            )
        except (OSError, subprocess.SubprocessError):
            return ""
        return done.stdout.rstrip()

    changed = [line[3:] for line in git("status", "--porcelain", "incidentd").splitlines()]
    commit = git("rev-parse", "--short", "HEAD").strip()
    return {"commit": commit, "uncommitted_product_files": changed}


def run(config: Config, console: Console) -> dict[str, Any]:
    """Run every phase and return the result document; a failed phase is reported, not fatal."""
    result: dict[str, Any] = {
        "meta": {
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": " ".join(["python -m bench", *sys.argv[1:]]),
            "machine": machine(),
            "code": code_version(),
            "config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(config).items()},
            "loadavg_1m_before": round(os.getloadavg()[0], 2),
        }
    }
    started = time.monotonic()
    lineage = generate_lineage(config.products, 1)
    stream = generate_stream(lineage, config.alerts, config.seed)
    result["stream"] = stream.summary()
    result["lineage"] = _phase(
        console,
        "lineage queries (in-process)",
        lambda: {"sizes": lineage_figures(list(config.lineage_sizes), config.lineage_queries, 1)},
        run="lineage" in config.phases,
    )
    partitions = max(config.partitions, *config.workers)
    with Services(durable=config.durable, partitions=partitions) as services:
        result["meta"]["services"] = services.describe()
        phase = Phase(
            services,
            config.phase_timeout,
            config.log_dir,
            stall=config.stall_seconds,
            max_poll_ms=config.max_poll_interval_ms,
            worker_settings=config.worker_settings,
        )
        result["raw"] = _phase(
            console, "raw consumer", lambda: raw_phase(phase, stream), run="raw" in config.phases
        )
        result["end_to_end"] = [
            _phase(
                console,
                f"end to end, {k} worker(s)",
                lambda k=k: end_to_end(
                    phase,
                    lineage,
                    stream,
                    k,
                    f"e2e{k}",
                    profile_seconds=config.profile_seconds if k == 1 else 0,
                ),
                run="e2e" in config.phases,
                workers=k,
                products=config.products,
            )
            for k in config.workers
        ]
        result["latency"] = _phase(
            console,
            "latency",
            lambda: _latency(phase, lineage, config),
            run="latency" in config.phases,
        )
        result["memory"] = _memory(console, phase, config, result["end_to_end"])
    result["correlation"] = _correlation(result["end_to_end"])
    result["meta"]["seconds"] = round(time.monotonic() - started, 1)
    return result


def _phase(
    console: Console,
    what: str,
    work: Callable[[], dict[str, Any]],
    *,
    run: bool = True,
    **identity: Any,
) -> dict[str, Any]:
    """Run one phase, telling the person watching what happens; a failure becomes `error`."""
    if not run:
        return {**identity, **SKIPPED}
    started = time.monotonic()
    try:
        with console.status(f"{what}…"):
            value = work()
    except Exception as exc:  # one phase failing must not lose the others' figures
        console.log(f"[red]{what}: FAILED after {time.monotonic() - started:.0f} s[/red]: {exc}")
        return {**identity, "error": f"{type(exc).__name__}: {exc}"}
    load = os.getloadavg()[0]
    value["loadavg_1m_after"] = round(load, 2)  # other work on the machine skews figures
    console.log(f"{what}: done in {time.monotonic() - started:.1f} s (load average {load:.2f})")
    return value


def _latency(phase: Phase, lineage: Lineage, config: Config) -> dict[str, Any]:
    count = max(100, round(config.rate * config.latency_seconds))
    stream = generate_stream(lineage, count, config.seed + 1, prefix="lat")
    return latency(phase, lineage, stream, config.rate)


def _memory(
    console: Console, phase: Phase, config: Config, e2e: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Peak worker RSS per lineage size (reusing the 1-worker end-to-end run when it fits)."""
    out: list[dict[str, Any]] = []
    for size in config.memory_sizes:
        if "memory" not in config.phases:
            out.append({"products": size, **SKIPPED})
            continue
        one = next((r for r in e2e if ok(r) and r["workers"] == 1 and r["products"] == size), None)
        if one is None:
            lineage = generate_lineage(size, 1)
            stream = generate_stream(lineage, config.memory_alerts, config.seed + 2, prefix="mem")
            one = _phase(
                console,
                f"worker memory, {size} products",
                lambda lin=lineage, st=stream, s=size: end_to_end(phase, lin, st, 1, f"mem{s}"),
            )
        if not ok(one):
            out.append({"products": size, "error": one.get("error", "?")})
            continue
        out.append(
            {
                "products": size,
                "alerts": one["records"],
                "peak_rss_mib": max(one["peak_rss_mib"]),
                "alerts_per_s": one["alerts_per_s"],
                "lineage_import_seconds": one["lineage_import_seconds"],
            }
        )
    return out


def _correlation(e2e: list[dict[str, Any]]) -> dict[str, Any]:
    """The correlation ratio of the first successful end-to-end run; do groupings agree?"""
    done = [r for r in e2e if ok(r)]
    if not done:
        skipped = all("skipped" in r for r in e2e)
        return dict(SKIPPED) if skipped else {"error": "no end-to-end run finished"}
    first = done[0]["correlation"]
    return {
        "alerts": first["alerts"],
        "incidents": first["incidents"],
        "ratio": first["ratio"],
        "firing_ratio": first["firing_ratio"],
        "from_workers": done[0]["workers"],
        "how_counted": (
            "ratio = 1 - incidents / alerts: incidents are the space's rows in `incidents` "
            "that were not merged into another (open, investigating or resolved); alerts are "
            "the distinct valid alerts stored (firing and resolved; no redeliveries, no dead "
            "letters, no warm-up records). firing_ratio divides by firing alerts only."
        ),
        "grouping_digests": {str(r["workers"]): r["correlation"]["grouping_digest"] for r in done},
        "same_grouping_for_all_worker_counts": len(
            {r["correlation"]["grouping_digest"] for r in done}
        )
        == 1,
    }
