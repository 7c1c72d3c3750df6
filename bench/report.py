"""The result document: targets, JSON file, rich tables and the same tables in Markdown."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench import latency_split

E2E_TARGET = 20_000
RAW_SHARE_TARGET = 0.2
P99_TARGET_MS = 250.0
LINEAGE_P99_TARGET_MS = 10.0
RSS_TARGET_MIB = 1024.0
_QUERY_KINDS = ("related_set_cold", "is_related", "blast_radius")


Section = tuple[str, list[str], list[list[str]]]


def ok(section: Any) -> bool:
    """Whether a phase's result is there (not an error, not skipped)."""
    return isinstance(section, dict) and "error" not in section and "skipped" not in section


def _target(value: float, goal: float, *, at_least: bool, note: str) -> dict[str, Any]:
    met = value >= goal if at_least else value <= goal
    return {"value": value, "target": goal, "met": met, "note": note}


def _e2e_target(result: dict[str, Any]) -> dict[str, Any]:
    e2e = next(r for r in result["end_to_end"] if ok(r) and r["workers"] == 1)
    note = f"1 worker, {e2e['products']} products"
    return _target(e2e["alerts_per_s"], E2E_TARGET, at_least=True, note=note)


def _raw_share_target(result: dict[str, Any]) -> dict[str, Any]:
    e2e = next(r for r in result["end_to_end"] if ok(r) and r["workers"] == 1)
    raw = result["raw"]["consumer_records_per_s"]
    share = round(e2e["alerts_per_s"] / raw, 3)
    return _target(share, RAW_SHARE_TARGET, at_least=True, note=f"raw consumer {raw}/s")


def _latency_target(result: dict[str, Any]) -> dict[str, Any]:
    lat = result["latency"]
    note = f"at {lat['offered_rate']:g}/s, 1 worker"
    return _target(lat["p99_ms"], P99_TARGET_MS, at_least=False, note=note)


def _lineage_target(result: dict[str, Any]) -> dict[str, Any]:
    biggest = max(result["lineage"]["sizes"], key=lambda r: r["products"])
    p99 = max(biggest[kind]["p99_ms"] for kind in _QUERY_KINDS)
    note = f"worst p99 of {', '.join(_QUERY_KINDS)} at {biggest['products']} products"
    return _target(p99, LINEAGE_P99_TARGET_MS, at_least=False, note=note)


def _rss_target(result: dict[str, Any]) -> dict[str, Any]:
    measured = [m for m in result["memory"] if ok(m)]
    rss = max(m["peak_rss_mib"] for m in measured)
    sizes = ", ".join(str(m["products"]) for m in measured)
    return _target(rss, RSS_TARGET_MIB, at_least=False, note=f"largest of runs at {sizes}")


def targets(result: dict[str, Any]) -> dict[str, Any]:
    """Each target of issue 5 with the measured value and whether it is met."""
    checks = {
        "e2e_alerts_per_s": _e2e_target,
        "e2e_share_of_raw": _raw_share_target,
        "latency_p99_ms": _latency_target,
        "lineage_query_p99_ms": _lineage_target,
        "worker_peak_rss_mib": _rss_target,
    }
    out = {}
    for name, check in checks.items():
        try:
            out[name] = check(result)
        except (KeyError, StopIteration, ValueError, ZeroDivisionError, TypeError) as exc:
            out[name] = {"value": None, "met": None, "note": f"not measured ({exc!r})"}
    return out


def write_json(result: dict[str, Any], path: Path) -> None:
    """Write the result document."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, sort_keys=False) + "\n")


def sections(result: dict[str, Any]) -> list[Section]:
    """(title, header, rows) of every table."""
    tables = [_summary(result), _e2e(result), _lineage(result), _memory(result), _targets(result)]
    profile = next((r["profile"] for r in result["end_to_end"] if "profile" in r), None)
    if profile and "wall" in profile:
        tables.append(_profile(profile))
    return tables


def _rows(
    entries: list[dict[str, Any]], row: Callable[[dict[str, Any]], list[str]], key: str, width: int
) -> list[list[str]]:
    """One row per entry; a failed phase shows its error instead of figures."""
    out = []
    for entry in entries:
        if ok(entry):
            out.append(row(entry))
        else:
            error = str(entry.get("error", "")).splitlines()[0][:150] if "error" in entry else ""
            text = f"FAILED: {error}" if error else f"skipped ({entry.get('skipped', '?')})"
            out.append([str(entry.get(key, "?")), text, *[""] * (width - 2)])
    return out


def _line(what: str, render: Callable[[], str]) -> list[str]:
    """A summary row, or why its figure is missing."""
    try:
        return [what, render()]
    except (KeyError, TypeError, ValueError) as exc:
        return [what, f"not measured ({exc!r})"]


def _profile(profile: dict[str, Any]) -> Section:
    """The main thread's hot spots: wall clock (waits included) and on-CPU."""
    wall = profile["wall"]
    cpu = {spot: pct for pct, spot in profile.get("cpu", {}).get("main_hotspots_pct", [])}
    busy = profile.get("cpu", {}).get("thread_samples", {})
    expected = wall["expected_per_thread"] or 1
    rows = [
        [f"{pct:.1f}", f"{cpu.get(spot, 0.0):.1f}", spot]
        for pct, spot in wall["main_hotspots_pct"][:12]
    ]
    on_cpu = ", ".join(f"{k} {100 * v / expected:.0f}%" for k, v in busy.items())
    title = f"py-spy of the 1-worker run, pid {profile['pid']} (time on CPU per thread: {on_cpu})"
    header = ["main thread % of wall", "% of its CPU", "deepest incidentd frame -> leaf frame"]
    return title, header, rows


def _summary(result: dict[str, Any]) -> Section:
    meta, raw, lat, corr = result["meta"], result["raw"], result["latency"], result["correlation"]
    svc, box = meta["services"], meta["machine"]
    rows = [
        ["machine", f"{box['nproc']} CPUs, {box['memory_gib']} GiB, {box['cpu_model']}"],
        ["database / broker", f"{svc['database']} ({svc['commit_mode']}) / {svc['broker']}"],
        ["load average (1 min) before the run", f"{meta['loadavg_1m_before']:.2f}"],
        _line("stream", lambda: _stream(result["stream"])),
        _line("raw consumer", lambda: f"{raw['consumer_records_per_s']:,} records/s"),
        _line("bench producer", lambda: f"{raw['producer_records_per_s']:,} records/s"),
        _line(f"latency at {lat.get('offered_rate', 0):g}/s", lambda: _latency(lat)),
        _line("where the latency goes", lambda: latency_split.describe(lat["split"])),
        _line("correlation ratio", lambda: _ratio(corr)),
        _line("same grouping for every worker count", lambda: _same(corr)),
    ]
    return "run", ["what", "figure"], rows


def _same(corr: dict[str, Any]) -> str:
    digests = corr["grouping_digests"]
    if len(digests) < 2:
        return f"n/a (runs finished: {', '.join(digests) or 'none'} worker(s))"
    same = corr["same_grouping_for_all_worker_counts"]
    note = "" if same else "; recoveries make grouping order-dependent (CONTRACT §6)"
    return f"{'yes' if same else 'NO'} ({', '.join(digests)} workers{note})"


def _latency(lat: dict[str, Any]) -> str:
    return (
        f"p50 {lat['p50_ms']:.0f} ms, p95 {lat['p95_ms']:.0f} ms, p99 {lat['p99_ms']:.0f} ms, "
        f"max {lat['max_ms']:.0f} ms ({lat['alerts_in_events']:,} alerts matched)"
    )


def _ratio(corr: dict[str, Any]) -> str:
    return (
        f"{corr['ratio']:.3f} ({corr['incidents']:,} incidents / {corr['alerts']:,} alerts, "
        f"{corr['from_workers']} worker run; firing only {corr['firing_ratio']:.3f})"
    )


def _stream(stream: dict[str, Any]) -> str:
    return (
        f"{stream['records']:,} records: {stream['cascades']:,} cascades, "
        f"{stream['noise_alerts']:,} noise, {stream['resolved_alerts']:,} recoveries, "
        f"{stream['redelivered_records']:,} redelivered, {stream['malformed_records']:,} malformed"
    )


def _e2e(result: dict[str, Any]) -> Section:
    raw = result["raw"].get("consumer_records_per_s") or 1

    def row(r: dict[str, Any]) -> list[str]:
        w = r["worker"]
        return [
            str(r["workers"]),
            f"{r['alerts_per_s']:,}",
            f"{r['alerts_per_s'] / raw:.3f}",
            f"{r['seconds']:.1f}",
            f"{w['mean_batch_alerts']:.0f} / {w['mean_batch_ms']:.0f} ms",
            f"{r['correlation']['incidents']:,}",
            f"{r['correlation']['ratio']:.3f}",
            ", ".join(f"{v:.0f}" for v in r["peak_rss_mib"]),
            f"{r.get('loadavg_1m_after', 0):.1f}",
        ]

    header = ["workers", "alerts/s", "x raw", "seconds", "mean batch", "incidents", "ratio"]
    header += ["peak RSS MiB", "load avg"]
    rows = _rows(result["end_to_end"], row, "workers", len(header))
    return "end to end (first record produced -> last incident event published)", header, rows


def _ms(figures: dict[str, float]) -> str:
    return f"{figures['p50_ms']:.3f} / {figures['p99_ms']:.3f}"


def _lineage(result: dict[str, Any]) -> Section:
    def row(r: dict[str, Any]) -> list[str]:
        return [
            f"{r['products']:,}",
            f"{r['edges']:,}",
            f"{r['build_ms']:.0f}",
            _ms(r["related_set_cold"]),
            _ms(r["is_related"]),
            _ms(r["blast_radius"]),
            str(r["related_set_size_p50"]),
        ]

    header = ["products", "edges", "build ms", "related_set p50/p99 ms"]
    header += ["is_related p50/p99 ms", "blast_radius p50/p99 ms", "related set size p50"]
    lineage = result["lineage"]
    rows = _rows(lineage.get("sizes", [lineage]), row, "products", len(header))
    return "lineage graph, in-process, cold caches", header, rows


def _memory(result: dict[str, Any]) -> Section:
    def row(m: dict[str, Any]) -> list[str]:
        return [
            f"{m['products']:,}",
            f"{m['alerts']:,}",
            f"{m['peak_rss_mib']:.0f}",
            f"{m['alerts_per_s']:,}",
            f"{m['lineage_import_seconds']:.1f}",
        ]

    header = ["products", "alerts", "peak RSS MiB", "alerts/s", "lineage import s"]
    rows = _rows(result["memory"], row, "products", len(header))
    return "one worker's memory per lineage size", header, rows


def _met(met: bool | None) -> str:
    return "-" if met is None else ("yes" if met else "NO")


def _targets(result: dict[str, Any]) -> Section:
    def value(v: Any) -> str:
        return "-" if v is None else f"{v:,}"

    rows = [
        [name, value(t["value"]), value(t.get("target")), _met(t["met"]), t["note"]]
        for name, t in result["targets"].items()
    ]
    return "targets", ["target", "measured", "goal", "met", "note"], rows


def print_tables(result: dict[str, Any], console: Console) -> None:
    """The result as rich tables."""
    show(sections(result), console)


def markdown(result: dict[str, Any]) -> str:
    """The same tables in Markdown, for bench/README.md."""
    return to_markdown(sections(result))


def show(tables: Iterable[Section], console: Console) -> None:
    """(title, header, rows) tables printed with rich."""
    for title, header, rows in tables:
        table = Table(*header, title=title, title_justify="left")
        for row in rows:
            table.add_row(*row)
        console.print(table)


def to_markdown(tables: Iterable[Section]) -> str:
    """(title, header, rows) tables in Markdown."""
    parts = []
    for title, header, rows in tables:
        lines = [f"**{title}**", "", "| " + " | ".join(header) + " |"]
        lines.append("|" + "---|" * len(header))
        lines += ["| " + " | ".join(cell.replace("|", "/") for cell in row) + " |" for row in rows]
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"
