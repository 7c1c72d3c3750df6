"""One polled batch, one database transaction: lineage, alerts, incidents, history, outbox."""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import Connection, Engine

from incidentd.correlation.engine import correlate
from incidentd.correlation.model import Alert
from incidentd.lineage.openlineage import OpenLineageError, map_run_event
from incidentd.storage.alerts import NewAlert, insert_alerts
from incidentd.storage.incidents import load_candidates, save_outcome
from incidentd.storage.lineage import (
    bump_versions,
    claim_of,
    insert_edges,
    insert_missing_products,
)
from incidentd.storage.spaces import ensure_spaces, lock_spaces
from incidentd.worker.graphs import GraphCache
from incidentd.worker.parsing import DeadLetter

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class LineageRecord:
    """A parsed OpenLineage event and where it came from."""

    event: dict[str, Any]
    origin: DeadLetter  # the dead letter to emit if the event cannot be applied


@dataclass(slots=True)
class BatchResult:
    """What a batch did."""

    stored: int = 0
    duplicates: int = 0
    uncorrelated: int = 0
    events: int = 0
    correlation_seconds: float = 0.0
    dead_letters: list[DeadLetter] = field(default_factory=list)
    spaces: set[str] = field(default_factory=set)


def process_batch(
    engine: Engine,
    alerts: list[NewAlert],
    lineage: list[LineageRecord],
    graphs: GraphCache,
    *,
    incidents_topic: str,
    default_space: str | None,
) -> BatchResult:
    """Store and correlate a batch atomically; safe to run again after a crash (idempotent)."""
    result = BatchResult()
    now = datetime.now(UTC)
    with engine.begin() as conn:
        for record in lineage:
            _apply_lineage(conn, record, default_space, result)
        fresh_ids = insert_alerts(conn, alerts)
        result.stored = len(fresh_ids)
        result.duplicates = len(alerts) - len(fresh_ids)
        by_space: dict[str, list[Alert]] = defaultdict(list)
        for new in alerts:
            if new.alert.alert_id in fresh_ids:
                by_space[new.alert.space].append(new.alert)
                fresh_ids.discard(new.alert.alert_id)
        if by_space:
            _correlate_spaces(conn, by_space, graphs, topic=incidents_topic, now=now, result=result)
    return result


def _correlate_spaces(
    conn: Connection,
    by_space: dict[str, list[Alert]],
    graphs: GraphCache,
    *,
    topic: str,
    now: datetime,
    result: BatchResult,
) -> None:
    spaces = lock_spaces(conn, set(by_space))
    for slug in sorted(by_space):
        alerts = by_space[slug]
        row = spaces.get(slug)
        if row is None or not row.policy.correlate:
            result.uncorrelated += len(alerts)
            continue
        graph = graphs.get(conn, slug, row.lineage_version)
        policy = row.policy
        candidates = load_candidates(conn, slug, alerts, policy.window, policy.reopen_within)
        started = time.perf_counter()
        outcome = correlate(alerts, candidates, graph, policy, now)
        result.correlation_seconds += time.perf_counter() - started
        result.events += save_outcome(conn, outcome, now, topic)
        result.spaces.add(slug)


def _apply_lineage(
    conn: Connection, record: LineageRecord, default_space: str | None, result: BatchResult
) -> None:
    try:
        delta = map_run_event(record.event, lambda d: claim_of(conn, d), default_space)
    except OpenLineageError as exc:
        origin = record.origin
        result.dead_letters.append(
            DeadLetter(
                origin.topic,
                origin.partition,
                origin.offset,
                origin.key,
                origin.value,
                f"unusable OpenLineage event: {exc}",
                "invalid_lineage",
            )
        )
        return
    ensure_spaces(conn, {delta.space})
    added = insert_missing_products(conn, delta.new_products)
    edges = insert_edges(conn, [(delta.space, u, d) for u, d in delta.edges])
    if added or edges:
        bump_versions(conn, [delta.space])
        log.info("lineage.applied", space=delta.space, products=len(added), edges=edges)
