"""`python -m bench peers`: incidentd beside its peers on one stream, in one run.

The stream spans several spaces (their names picked so that, keyed by space, each lands on a
partition of its own), each with its own generated lineage. The same records are read by a bare
consumer (raw), posted to Prometheus Alertmanager, and processed by 1, 2, 4 incidentd workers,
once keyed by space (CONTRACT §1: a space stays on one partition, one worker owns it) and once
keyed by product (every space on every partition). Every row records the CPU seconds of each
process; the projection to more cores is computed from those per-alert costs. A memory phase
runs 1, 2, 4 workers over many spaces and reports each worker's peak RSS.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from kafka.partitioner.default import murmur2
from rich.console import Console

from bench.alertmanager import alertmanager_phase
from bench.lineage_gen import Lineage, generate_lineage
from bench.measure import Phase, end_to_end, raw_phase
from bench.report import Section, ok
from bench.run import _phase, code_version, machine
from bench.services import Services, seed_database
from bench.streams import KeyBy, Record, Stream, generate_stream

KEYINGS: tuple[KeyBy, ...] = ("space", "product")
MEMORY_MAX_POLL_MS = 60_000


@dataclass(frozen=True, slots=True)
class PeerConfig:
    """What to measure, and how big."""

    products: int = 10_000  # in all, split evenly over `spaces`
    alerts: int = 100_000
    spaces: int = 4
    workers: tuple[int, ...] = (1, 2, 4)
    memory_spaces: int = 50
    memory_products: int = 10_000  # per space
    memory_alerts: int = 20_000
    memory: bool = True
    table: bool = True  # the peer rows (off: the memory phase alone)
    seed: int = 7
    phase_timeout: float = 900.0
    log_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="incidentd-peers-")))


def space_names(count: int, partitions: int) -> list[str]:
    """`count` space slugs spread as evenly as keying by space allows over `partitions`."""
    names: list[str] = []
    per = [0] * partitions
    cap = -(-count // partitions)
    index = 0
    while len(names) < count:
        name = f"space-{index:03d}"
        index += 1
        partition = (murmur2(name.encode()) & 0x7FFFFFFF) % partitions
        if per[partition] < cap:
            per[partition] += 1
            names.append(name)
    return names


def lineages(spaces: int, products: int, partitions: int) -> list[Lineage]:
    """One generated lineage per space, `products` products each."""
    names = space_names(spaces, partitions)
    return [generate_lineage(products, 1 + i, space=name) for i, name in enumerate(names)]


def spaced_stream(lins: list[Lineage], alerts: int, seed: int, key_by: KeyBy) -> Stream:
    """Each space's stream (alerts split evenly), interleaved record by record."""
    parts = [
        generate_stream(lin, alerts // len(lins), seed + i, prefix=f"{lin.space}-a", key_by=key_by)
        for i, lin in enumerate(lins)
    ]
    merged: list[Record] = []
    for i in range(max(len(p.records) for p in parts)):
        merged.extend(p.records[i] for p in parts if i < len(p.records))
    out = Stream(merged)
    for p in parts:
        out.cascades += p.cascades
        out.noise += p.noise
        out.malformed += p.malformed
        out.redelivered += p.redelivered
        out.resolved += p.resolved
        out.span_hours = max(out.span_hours, p.span_hours)
    return out


def peers(config: PeerConfig, console: Console) -> dict[str, Any]:
    """Every row of the peer table, the projection and the memory figures."""
    partitions = max(4, *config.workers)
    lins = lineages(config.spaces, config.products // config.spaces, partitions)
    streams = {k: spaced_stream(lins, config.alerts, config.seed, k) for k in KEYINGS}
    result: dict[str, Any] = {
        "meta": {
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "machine": machine(),
            "code": code_version(),
            "config": _conf(config),
            "loadavg_1m_before": round(os.getloadavg()[0], 2),
            "spaces": [lin.space for lin in lins],
        },
        "stream": streams["space"].summary(),
    }
    with Services(durable=False, partitions=partitions) as services:
        result["meta"]["services"] = services.describe()
        phase = Phase(services, config.phase_timeout, config.log_dir)
        result["raw"] = _phase(
            console, "raw consumer", lambda: raw_phase(phase, streams["space"]), run=config.table
        )
        result["alertmanager"] = _phase(
            console,
            "Alertmanager",
            lambda: alertmanager_phase(streams["space"]),
            run=config.table,
        )
        result["incidentd"] = []
        for key in KEYINGS if config.table else ():
            for k in config.workers:
                row = _phase(
                    console,
                    f"incidentd, {k} worker(s), keyed by {key}",
                    lambda k=k, key=key: end_to_end(phase, lins, streams[key], k, f"p{key}{k}"),
                    workers=k,
                )
                result["incidentd"].append({"key_by": key, **row})
        if config.memory:
            # A batch whose alerts bring many spaces new to the worker loads each one's graph
            # (10k products: about 0.2-0.5 s here): with 50 spaces that outlasts the 6 s poll
            # deadline of the rows above, and the group churns. The memory runs give it 60 s.
            slow = replace(phase, max_poll_ms=MEMORY_MAX_POLL_MS)
            result["memory"] = _memory(console, slow, config, partitions)
    result["projection"] = projection(result)
    return result


def _conf(config: PeerConfig) -> dict[str, Any]:
    return {k: str(getattr(config, k)) for k in config.__dataclass_fields__}


def _memory(
    console: Console, phase: Phase, config: PeerConfig, partitions: int
) -> list[dict[str, Any]]:
    """Peak RSS of each worker with many spaces, for 1, 2, 4 workers (keyed by space)."""
    lins = lineages(config.memory_spaces, config.memory_products, partitions)
    stream = spaced_stream(lins, config.memory_alerts, config.seed + 2, "space")
    template = phase.services.fresh_database("memtemplate")
    started = time.perf_counter()
    for lin in lins:  # imported once; every run gets a copy
        seed_database(template, lin)
    imported = time.perf_counter() - started
    out = []
    for k in config.workers:
        run = _phase(
            console,
            f"memory, {k} worker(s), {config.memory_spaces} spaces",
            lambda k=k: end_to_end(phase, lins, stream, k, f"mem{k}", template=template),
            workers=k,
        )
        if ok(run):
            run = {
                "workers": k,
                "spaces": run["spaces"],
                "products": run["products"],
                "records": run["records"],
                "peak_rss_mib": run["peak_rss_mib"],
                "lineage_import_seconds": round(imported, 1),
                "alerts_per_s": run["alerts_per_s"],
                "loadavg_1m_after": run.get("loadavg_1m_after"),
            }
        out.append(run)
    return out


CORES = (2, 16)


def projection(result: dict[str, Any]) -> dict[str, Any]:
    """Alerts/s on more cores, from the CPU seconds per alert of the 1-worker run by space.

    Method: c_w = worker CPU s per alert, c_s = PostgreSQL + broker + producer CPU s per alert
    (all measured here, same run). With W workers on W spaces or more (keyed by space, no lock
    waits) and N cores: alerts/s = min(W / c_w, N / (c_w + c_s)): each worker is one
    GIL-bound process (at most one core), and all processes share N cores. Assumes the
    per-alert costs stay as measured (no disk or network bound; PostgreSQL scales with cores).
    """
    one = next(
        (
            r
            for r in result.get("incidentd", [])
            if ok(r) and r["workers"] == 1 and r["key_by"] == "space"
        ),
        None,
    )
    if one is None:
        return {"error": "no 1-worker run keyed by space"}
    alerts = one["records"]
    cpu = one["cpu_seconds"]
    c_w = sum(v for k, v in cpu.items() if k.startswith("worker")) / alerts
    c_s = sum(cpu.get(k, 0.0) for k in ("postgres", "broker", "bench")) / alerts
    rows = []
    for workers in (1, 2, 4, 8, 16):
        row: dict[str, Any] = {"workers": workers}
        for cores in CORES:
            row[f"cores_{cores}"] = round(min(workers / c_w, cores / (c_w + c_s)))
        rows.append(row)
    return {
        "worker_cpu_us_per_alert": round(c_w * 1e6, 1),
        "services_cpu_us_per_alert": round(c_s * 1e6, 1),
        "per_process_cpu_us_per_alert": {k: round(v / alerts * 1e6, 1) for k, v in cpu.items()},
        "rows": rows,
        "method": " ".join((projection.__doc__ or "").split("Method: ", 1)[-1].split()),
    }


def sections(result: dict[str, Any]) -> list[Section]:
    """(title, header, rows) of the peer table, the projection and the memory table."""
    raw = result.get("raw", {})
    raw_rate = raw.get("consumer_records_per_s") if ok(raw) else None
    rows = [["raw kafka-python consumer", _fmt(raw_rate), "1.000", "", "", ""]]
    am = result.get("alertmanager", {})
    rows.append(
        [
            f"Alertmanager {am.get('version', '')} (v2 API, accepted + active)",
            _fmt(am.get("alerts_per_s")) if ok(am) else str(am.get("skipped") or am.get("error")),
            _share(am.get("alerts_per_s"), raw_rate) if ok(am) else "",
            f"alertmanager {am.get('cpu_seconds', '')}" if ok(am) else "",
            "",
            "",
        ]
    )
    for r in result.get("incidentd", []):
        what = f"incidentd, {r.get('workers')} worker(s), keyed by {r.get('key_by')}"
        if not ok(r):
            rows.append([what, str(r.get("error", r.get("skipped", "?")))[:120], "", "", "", ""])
            continue
        cpu = ", ".join(f"{k} {v}" for k, v in r["cpu_seconds"].items())
        w = r["worker"]
        rows.append(
            [
                what,
                _fmt(r["alerts_per_s"]),
                _share(r["alerts_per_s"], raw_rate),
                cpu,
                f"{w['lock_waits']:.0f} / {w['lock_wait_seconds']:.2f} s",
                f"{r.get('loadavg_1m_after', '')}",
            ]
        )
    header = ["what", "alerts/s", "x raw", "CPU s per process", "lock waits", "load avg"]
    tables: list[Section] = [(_title(result), header, rows)]
    proj = result.get("projection", {})
    if "rows" in proj:
        prow = [[str(r["workers"]), *[_fmt(r[f"cores_{c}"]) for c in CORES]] for r in proj["rows"]]
        title = (
            f"projection (worker {proj['worker_cpu_us_per_alert']} us/alert, PostgreSQL + "
            f"broker + producer {proj['services_cpu_us_per_alert']} us/alert): {proj['method']}"
        )
        tables.append((title, ["workers", *[f"alerts/s on {c} cores" for c in CORES]], prow))
    memory = result.get("memory", [])
    if memory:
        mrows = [
            [str(m.get("workers")), ", ".join(str(v) for v in m["peak_rss_mib"]), str(m["spaces"])]
            if ok(m)
            else [str(m.get("workers")), str(m.get("error", "?"))[:120], ""]
            for m in memory
        ]
        tables.append(("peak RSS per worker, keyed by space", ["workers", "MiB", "spaces"], mrows))
    return tables


def _title(result: dict[str, Any]) -> str:
    meta, stream = result["meta"], result["stream"]
    return (
        f"peers on one stream: {stream['records']:,} records over {len(meta['spaces'])} spaces "
        f"(load average before {meta['loadavg_1m_before']})"
    )


def _fmt(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int | float) else str(value or "")


def _share(value: Any, raw: Any) -> str:
    return f"{value / raw:.3f}" if isinstance(value, int | float) and raw else ""
