"""The measured phases: raw drain, end to end with K workers, latency at a fixed rate."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import cpu, latency_split
from bench.kafka_io import EventWatcher, drain_raw, produce, produce_paced, produce_warmup
from bench.lineage_gen import Lineage
from bench.profiling import Profiler, main_thread
from bench.services import Db, Services, Topics, seed_database
from bench.stats import percentiles
from bench.streams import Stream
from bench.workers import RssSampler, WorkerProc, wait_for

MIB = 1024 * 1024
WARMUP_ROUNDS = 2
WARMUP_SPACE = "bench-warmup"


@dataclass(frozen=True, slots=True)
class Phase:
    """What every phase needs: the servers, a time limit and where worker logs go."""

    services: Services
    timeout: float
    log_dir: Path
    stall: float = 120.0  # no alert stored for this long: the phase fails with a diagnosis
    max_poll_ms: int = 6000  # the workers' INCIDENTD_MAX_POLL_INTERVAL_MS
    worker_settings: tuple[tuple[str, str], ...] = ()  # more INCIDENTD_* of the workers


@dataclass(slots=True)
class Running:
    """A phase's database, topics and workers while they run."""

    db: Db
    topics: Topics
    workers: list[WorkerProc]
    import_seconds: float


def raw_phase(phase: Phase, stream: Stream) -> dict[str, Any]:
    """Publish the stream to a fresh topic, then drain it with a bare consumer."""
    topics = phase.services.fresh_topics("raw")
    bootstrap = phase.services.bootstrap
    produced = produce(bootstrap, topics.alerts, stream.records)
    drained = drain_raw(bootstrap, topics.alerts, len(stream.records), phase.timeout)
    return {
        "records": drained.records,
        "consumer_seconds": round(drained.seconds, 3),
        "consumer_records_per_s": round(drained.per_second),
        "producer_records_per_s": round(produced.per_second),
    }


@contextmanager
def running(
    phase: Phase,
    lineage: Lineage | list[Lineage],
    workers: int,
    tag: str,
    template: str | None = None,
) -> Iterator[Running]:
    """A fresh database with the lineage (one per space; or a copy of `template`, a database
    already holding it), fresh topics, and `workers` warmed-up workers."""
    svc = phase.services
    lineages = lineage if isinstance(lineage, list) else [lineage]
    if template is None:
        url = svc.fresh_database(tag)
        imported = sum(seed_database(url, one) for one in lineages)
    else:
        url, imported = svc.clone_database(template, tag), 0.0
    run = Running(Db(url), svc.fresh_topics(tag), [], imported)
    try:
        for i in range(workers):
            log_path = phase.log_dir / f"{tag}-worker{i}.log"
            worker = WorkerProc(
                url,
                svc.bootstrap,
                run.topics,
                log_path,
                phase.max_poll_ms,
                settings=dict(phase.worker_settings),
            )
            run.workers.append(worker.start())
        _warm_up(phase, run)
        yield run
    finally:
        for worker in run.workers:
            worker.stop()
        run.db.close()
        svc.drop(url)


def _warm_up(phase: Phase, run: Running) -> None:
    """Wait until every worker owns partitions (and the group has settled).

    Two rounds of recoveries, one per partition, in a space that does not exist: stored,
    opening nothing and locking nothing, so the measured run starts with every worker in place.
    Each worker loads a space's graph when that space's first alerts arrive (on demand).
    """
    partitions = phase.services.partitions
    for round_ in range(WARMUP_ROUNDS):
        produce_warmup(
            phase.services.bootstrap,
            run.topics.alerts,
            partitions=partitions,
            space=WARMUP_SPACE,
            product="warmup",
            round_=round_,
        )
        wait_for(
            lambda n=round_: (
                all(run.topics.alerts in w.assigned_topics() for w in run.workers)
                and _processed(run) >= partitions * (n + 1)
            ),
            phase.timeout,
            "the workers to join the group and take the warm-up alerts",
            check=lambda: _check_alive(run),
        )


def _processed(run: Running) -> float:
    return sum(w.metrics().get("incidentd_alerts_processed_total", 0.0) for w in run.workers)


def _check_alive(run: Running) -> None:
    for worker in run.workers:
        if not worker.alive():
            raise RuntimeError(f"worker {worker.pid} exited:\n{worker.log_tail()}")


class StalledError(RuntimeError):
    """The workers stopped making progress."""


class _Progress:
    """Fails fast when the stored-alert count stops moving for `stall` seconds."""

    def __init__(self, run: Running, target: int, stall: float) -> None:
        self.run, self.target, self.stall = run, target, stall
        self.value, self.since = -1.0, time.monotonic()

    def check(self) -> None:
        _check_alive(self.run)
        value = _processed(self.run)
        now = time.monotonic()
        if value != self.value:
            self.value, self.since = value, now
        elif value < self.target and now - self.since > self.stall:
            dumps = "\n".join(main_thread(w.pid) for w in self.run.workers)
            raise StalledError(
                f"no progress for {self.stall:.0f} s: {value:.0f} of {self.target} alerts "
                f"stored; the workers' main threads:\n{dumps}"
            )


def _wait_done(phase: Phase, run: Running, stored: int, interval: float = 0.25) -> float:
    """Wait until `stored` new alerts are stored and every incident event is published.

    Returns the epoch time the last event was marked sent (outbox `sent_at`).
    """
    target = stored + WARMUP_ROUNDS * phase.services.partitions
    progress = _Progress(run, target, phase.stall)

    def done() -> bool:
        if progress.value < target:
            return False
        return run.db.scalar("SELECT count(*) FROM outbox WHERE sent_at IS NULL") == 0

    wait_for(done, phase.timeout, "the workers to finish", interval=interval, check=progress.check)
    last = run.db.scalar("SELECT extract(epoch FROM max(sent_at)) FROM outbox")
    return float(last) if last is not None else time.time()


def end_to_end(
    phase: Phase,
    lineage: Lineage | list[Lineage],
    stream: Stream,
    workers: int,
    tag: str,
    *,
    profile_seconds: int = 0,
    template: str | None = None,
) -> dict[str, Any]:
    """Alerts/s from the first record produced to the last incident event published."""
    lineages = lineage if isinstance(lineage, list) else [lineage]
    with running(phase, lineages, workers, tag, template) as run:
        first = run.workers[0].pid
        profiler = Profiler(first, profile_seconds, phase.log_dir) if profile_seconds else None
        groups = _cpu_groups(phase, run)
        cpu_before = cpu.snapshot(groups, frozenset({"postgres"}))
        with RssSampler([w.pid for w in run.workers]) as rss, profiler or nullcontext():
            produced = produce(phase.services.bootstrap, run.topics.alerts, stream.records)
            last_sent = _wait_done(phase, run, stream.unique_valid)
            done_seen = time.time()
        cpu_used = cpu.used(cpu_before, cpu.snapshot(groups, frozenset({"postgres"})))
        totals = _metric_totals(run)
        facts = _facts(run.db, [one.space for one in lineages])
    seconds = last_sent - produced.started_at
    result = {
        "workers": workers,
        "spaces": len(lineages),
        "products": sum(len(one.products) for one in lineages),
        "cpu_seconds": cpu_used,
        "records": len(stream.records),
        "alerts_stored": facts["alerts"],
        "seconds": round(seconds, 3),
        "alerts_per_s": round(len(stream.records) / seconds),
        "producer_seconds": round(produced.seconds, 3),
        "done_seen_after_s": round(done_seen - produced.started_at, 3),
        "lineage_import_seconds": round(run.import_seconds, 3),
        "peak_rss_mib": [round(v / MIB, 1) for v in rss.peak.values()],
        "worker": totals,
        "correlation": facts,
    }
    if profiler is not None:
        result["profile"] = profiler.summary()
    return result


def _cpu_groups(phase: Phase, run: Running) -> dict[str, list[int]]:
    groups = {f"worker{i}": [w.pid] for i, w in enumerate(run.workers)}
    groups.update({name: [pid] for name, pid in phase.services.server_pids().items()})
    groups["bench"] = [cpu.bench_pid()]
    return groups


def _facts(db: Db, spaces: list[str]) -> dict[str, Any]:
    """`correlation_facts` of one space, or summed over several."""
    if len(spaces) == 1:
        return correlation_facts(db, spaces[0])
    each = [correlation_facts(db, space) for space in spaces]
    alerts = sum(f["alerts"] for f in each)
    incidents = sum(f["incidents"] for f in each)
    firing = sum(f["alerts_by_status"].get("firing", 0) for f in each)
    return {
        "alerts": alerts,
        "incidents": incidents,
        "events": each[0]["events"],
        "ratio": round(1 - incidents / alerts, 4) if alerts else 0.0,
        "firing_ratio": round(1 - incidents / firing, 4) if firing else 0.0,
        "grouping_digest": "|".join(f["grouping_digest"] for f in each),
    }


def _metric_totals(run: Running) -> dict[str, float]:
    """Counters summed over the workers, and batch figures."""
    names = {
        "processed": "incidentd_alerts_processed_total",
        "duplicates": "incidentd_alerts_duplicate_total",
        "dead_letters": "incidentd_dead_letters_total",
        "events_published": "incidentd_incident_events_published_total",
        "batches": "incidentd_batch_seconds_count",
        "batch_seconds": "incidentd_batch_seconds_sum",
        "correlation_seconds": "incidentd_correlation_seconds_sum",
        "retries": "incidentd_retries_total",
        "lock_waits": "incidentd_space_lock_waits_total",
        "lock_wait_seconds": "incidentd_space_lock_wait_seconds_total",
    }
    sums = dict.fromkeys(names, 0.0)
    for worker in run.workers:
        scraped = worker.metrics()
        for key, metric in names.items():
            sums[key] += scraped.get(metric, 0.0)
    batches = sums["batches"] or 1.0
    sums["mean_batch_ms"] = 1000 * sums["batch_seconds"] / batches
    sums["mean_batch_alerts"] = sums["processed"] / batches
    return {k: round(v, 3) for k, v in sums.items()}


def correlation_facts(db: Db, space: str) -> dict[str, Any]:
    """Stored alerts and incidents, the correlation ratio, and a digest of the grouping."""
    alerts = db.rows(
        "SELECT status, count(*) FROM alerts WHERE space = :s AND alert_id NOT LIKE 'warmup-%' "
        "GROUP BY status",
        s=space,
    )
    by_status = {str(r[0]): int(r[1]) for r in alerts}
    incidents = db.rows(
        "SELECT status, merged_into IS NOT NULL, count(*) FROM incidents WHERE space = :s "
        "GROUP BY 1, 2",
        s=space,
    )
    live = sum(int(r[2]) for r in incidents if not r[1])
    stored = sum(by_status.values())
    return {
        "alerts": stored,
        "alerts_by_status": by_status,
        "incidents": live,
        "incidents_by_status": {str(r[0]): int(r[2]) for r in incidents if not r[1]},
        "merged_incidents": sum(int(r[2]) for r in incidents if r[1]),
        "events": int(db.scalar("SELECT count(*) FROM outbox") or 0),
        "ratio": round(1 - live / stored, 4) if stored else 0.0,
        "firing_ratio": round(1 - live / by_status.get("firing", 1), 4),
        "grouping_digest": _grouping_digest(db, space),
    }


def _grouping_digest(db: Db, space: str) -> str:
    """A hash of which alerts share an incident (independent of incident ids and order)."""
    rows = db.rows(
        "SELECT string_agg(alert_id, ',' ORDER BY alert_id) FROM alerts "
        "WHERE space = :s AND incident_id IS NOT NULL GROUP BY incident_id",
        s=space,
    )
    groups = sorted(str(r[0]) for r in rows)
    return hashlib.sha256("\n".join(groups).encode()).hexdigest()[:16]


def latency(
    phase: Phase, lineage: Lineage, stream: Stream, rate: float, tag: str = "latency"
) -> dict[str, Any]:
    """Produce-to-event latency of each alert at a fixed offered rate, with one worker."""
    bootstrap, partitions = phase.services.bootstrap, phase.services.partitions
    with (
        running(phase, lineage, 1, tag) as run,
        EventWatcher(bootstrap, run.topics.incidents, partitions) as watcher,
    ):
        groups = _cpu_groups(phase, run)
        cpu_before = cpu.snapshot(groups, frozenset({"postgres"}))
        started = time.perf_counter()
        sent = produce_paced(bootstrap, run.topics.alerts, stream.records, rate)
        offered_seconds = time.perf_counter() - started
        _wait_done(phase, run, stream.unique_valid, interval=0.5)
        cpu_used = cpu.used(cpu_before, cpu.snapshot(groups, frozenset({"postgres"})))
        totals = _metric_totals(run)
        events = int(run.db.scalar("SELECT count(*) FROM outbox") or 0)
        wait_for(lambda: watcher.count() >= events, phase.timeout, "the incident events")
        seen = dict(watcher.first_seen)
        batch_started, published = latency_split.alert_times(run.db)
    lat = sorted(1000 * (seen[a] - t) for a, t in sent.items() if a in seen)
    return {
        "offered_rate": rate,
        "achieved_rate": round(len(stream.records) / offered_seconds),
        "records": len(stream.records),
        "alerts_sent": len(sent),
        "alerts_in_events": len(lat),
        "events": events,
        "cpu_seconds": cpu_used,  # from the first record sent to the last event marked sent
        "worker": totals,
        **percentiles(lat, "ms"),
        "split": latency_split.split(sent, seen, batch_started, published),
    }
