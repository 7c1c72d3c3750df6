"""CPU of correlation per alert, in process (`python -m bench.correlate_cost`).

The bench's own stream (bench/streams.py over a bench/lineage_gen.py lineage) goes through
`correlate()` in worker-sized batches with an in-memory state, as the worker drives it: one
`IncidentIndex` kept across batches and pruned as the worker's state cache prunes it, ids
already stored skipped, unassigned recoveries offered back as orphans. Each round starts from
a freshly built graph and an empty state. The figure is CPU microseconds per alert
(`time.process_time` around the `correlate()` calls only), so other processes on the machine
slow it far less than wall time; the load average is printed beside it.

`--base REF[,REF…]` compares with the engine of git revisions: REF's `incidentd/` is exported to a
temporary directory (with this `bench/`), and every round runs each build once in a child
process, alternating, so a busy machine slows both alike (`--head REF` measures another
revision instead of the working tree). Both builds must produce the same digest of every
result (assignments and every incident's derived fields). `--gc worker` runs with the
garbage-collector thresholds `incidentd worker` sets (default: CPython's).
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import pickle
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WORKER_GC = (10_000, 50, 100)
"""incidentd.worker.gcpolicy.THRESHOLDS (a constant here: older revisions lack the module)."""
_AlertRow = tuple[str, str, str, str, str, str, datetime, str, str | None, tuple[str, ...]]


def prepare(alerts: int, products: int, seed: int, out: Path) -> int:
    """Generate the lineage and the stream, parse it as the worker does, pickle plain rows."""
    from bench.lineage_gen import generate_lineage
    from bench.streams import generate_stream
    from incidentd.worker.parsing import RecordError, parse_alert

    lineage = generate_lineage(products, seed)
    rows: list[_AlertRow] = []
    for record in generate_stream(lineage, alerts, seed).records:
        try:
            a = parse_alert(record.value).alert
        except RecordError:
            continue
        status, severity = a.status.value, a.severity.value
        rows.append((a.alert_id, a.space, a.product_id, a.alert_type, status, severity, *_rest(a)))
    infos = [(i.id, i.name, i.tier) for i in lineage.infos()]
    out.write_bytes(pickle.dumps((lineage.space, infos, lineage.edges, rows)))
    return len(rows)


def _rest(a: Any) -> tuple[datetime, str, str | None, tuple[str, ...]]:
    return (a.occurred_at, a.fingerprint, a.title, a.tags)


def run_once(data: Path, batch: int, worker_gc: bool = False) -> dict[str, Any]:
    """Correlate the whole stream once; CPU µs per correlated alert and the results' digest.

    `worker_gc`: the garbage-collector thresholds `incidentd worker` sets (worker/gcpolicy.py),
    applied once the graph and the alerts exist, as the worker freezes what it set up.
    """
    from incidentd.correlation.engine import correlate
    from incidentd.correlation.index import IncidentIndex
    from incidentd.correlation.model import Alert, SpacePolicy
    from incidentd.lineage.graph import LineageGraph, ProductInfo
    from incidentd.schemas.common import AlertStatus, Severity
    from incidentd.worker.state import SpaceState, StateCache

    space, infos, edges, rows = pickle.loads(data.read_bytes())
    graph = LineageGraph(
        space, [ProductInfo(id=i, space=space, name=n, tier=t) for i, n, t in infos], edges, 1
    )
    alerts = [
        Alert(r[0], r[1], r[2], r[3], AlertStatus(r[4]), Severity(r[5]), *r[6:]) for r in rows
    ]
    if worker_gc:
        gc.collect()
        gc.freeze()
        gc.set_threshold(*WORKER_GC)
    cache = StateCache()
    start = min(a.occurred_at for a in alerts) - timedelta(days=1)
    state = SpaceState(space, 0, IncidentIndex(()), start, start)
    policy, now = SpacePolicy(), datetime(2026, 6, 1, tzinfo=UTC)
    stored: set[str] = set()
    orphans: dict[str, Any] = {}
    cpu, counted, changes = 0.0, 0, {}
    for i in range(0, len(alerts), batch):
        fresh = {a.alert_id: a for a in alerts[i : i + batch] if a.alert_id not in stored}
        todo = list(fresh.values())
        fps = {a.fingerprint for a in todo if a.firing}
        offered = [o for o in orphans.values() if o.fingerprint in fps]
        now += timedelta(seconds=1)
        began = time.process_time()
        outcome = correlate(todo, state.index, graph, policy, now, orphans=offered)
        cpu += time.process_time() - began
        counted += len(todo)
        stored.update(fresh)
        for alert_id, incident_id in outcome.assignments.items():
            alert = fresh.get(alert_id) or orphans.get(alert_id)
            if incident_id is None and alert is not None and not alert.firing:
                orphans[alert_id] = alert
            else:
                orphans.pop(alert_id, None)
        changes.update(outcome.changes)
        state.newest = max(state.newest, *(a.occurred_at for a in todo))
        cache.checkin(space, state)
    return {"us_per_alert": 1e6 * cpu / counted, "alerts": counted, "digest": _digest(changes)}


def _digest(changes: dict[str, Any]) -> str:
    """A hash of every changed incident's final fields and alert ids."""
    h = hashlib.sha256()
    for incident_id in sorted(changes):
        i = changes[incident_id].incident
        fields = (
            i.id, sorted(i.alerts), i.status.value, i.severity.value, i.impact.value,
            i.root_product_id, i.blast_radius, i.products, i.suspected_upstream, i.tags,
            i.title, i.merged_into, i.version, i.resolved_at, i.first_alert_at, i.last_alert_at,
        )  # fmt: skip
        h.update(repr(fields).encode())
    return h.hexdigest()[:16]


def _export(ref: str, into: Path) -> None:
    """REF's incidentd/ and this bench/ under `into`."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", ref, "incidentd"], capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    shutil.copytree(ROOT / "bench", into / "bench", ignore=shutil.ignore_patterns("results"))


def _child(tree: Path, data: Path, batch: int, gc_mode: str) -> dict[str, Any]:
    command = [sys.executable, "-m", "bench.correlate_cost", "--child", str(data)]
    command += ["--batch", str(batch), "--gc", gc_mode]
    done = subprocess.run(command, cwd=tree, capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _options() -> dict[str, str]:
    return dict(zip(sys.argv[1::2], sys.argv[2::2], strict=False))


def main() -> None:
    """`[--alerts N] [--products N] [--batch N] [--rounds R] [--base REF [--head REF]]
    [--gc worker]`."""
    if sys.argv[1:2] == ["--child"]:
        child = dict(zip(sys.argv[3::2], sys.argv[4::2], strict=False))
        result = run_once(Path(sys.argv[2]), int(child["--batch"]), child["--gc"] == "worker")
        print(json.dumps(result))
        return
    opts = _options()
    alerts, products = int(opts.get("--alerts", 200_000)), int(opts.get("--products", 10_000))
    batch, rounds = int(opts.get("--batch", 2000)), int(opts.get("--rounds", 5))
    base = opts.get("--base")
    with tempfile.TemporaryDirectory(prefix="correlate-cost-") as tmp:
        data = Path(tmp) / "stream.pickle"
        count = prepare(alerts, products, 1, data)
        print(f"{count:,} alerts, {products:,} products, batches of {batch}")
        builds: dict[str, Path] = {}
        for ref in [*(base or "").split(","), opts.get("--head")]:
            if ref:
                builds[ref] = Path(tmp) / f"build{len(builds)}"
                builds[ref].mkdir()
                _export(ref, builds[ref])
        if "--head" not in opts:
            builds["this tree"] = ROOT
        figures: dict[str, list[float]] = {name: [] for name in builds}
        for r in range(rounds):
            for name, tree in builds.items():
                result = _child(tree, data, batch, opts.get("--gc", "default"))
                figures[name].append(result["us_per_alert"])
                load = os.getloadavg()[0]
                print(
                    f"round {r + 1} {name}: {result['us_per_alert']:.2f} µs/alert CPU "
                    f"(digest {result['digest']}, load {load:.2f})",
                    flush=True,
                )
    for name, values in figures.items():
        median, low = statistics.median(values), min(values)
        print(f"{name}: median {median:.2f}, least {low:.2f} µs per alert over {rounds} rounds")


if __name__ == "__main__":
    main()
