"""One polled batch, one database transaction: lineage, alerts, incidents, history, outbox."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import Connection, Engine

from incidentd.correlation.engine import correlate
from incidentd.correlation.model import Alert
from incidentd.intake.base import IntakeError
from incidentd.lineage.openlineage import OpenLineageError, map_run_event
from incidentd.storage.alerts import (
    AlertKey,
    NewAlert,
    existing_alert_ids,
    insert_alerts,
    load_orphan_recoveries,
)
from incidentd.storage.graphs import GraphCache
from incidentd.storage.incidents import save_outcome
from incidentd.storage.intake import IntakeMetrics, apply_run_event
from incidentd.storage.lineage import DatasetClaimedError, claim_of
from incidentd.storage.spaces import SpaceRow, bump_state_seq, ensure_spaces, lock_spaces
from incidentd.worker.crashpoints import crash_point
from incidentd.worker.parsing import DeadLetter
from incidentd.worker.state import SpaceState, StateCache

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
    states: StateCache | None = None,
    lock_timeout_ms: int | None = None,
    on_lock_wait: Callable[[float], None] | None = None,
    alerts_topic: str = "dq.alerts",
    intake: IntakeMetrics | None = None,
) -> BatchResult:
    """Store and correlate a batch atomically; safe to run again after a crash (idempotent).

    A lineage event's `dataQualityAssertions` are queued for `alerts_topic` in the same
    transaction as its lineage.
    """
    result = BatchResult()
    now = datetime.now(UTC)
    states = states if states is not None else StateCache()
    checked_out: dict[str, SpaceState] = {}
    target = _LineageTarget(default_space, alerts_topic, intake)
    with engine.begin() as conn:
        for record in lineage:
            _apply_lineage(conn, record, target, result)
        by_space: dict[str, list[Alert]] = defaultdict(list)
        for new in alerts:
            by_space[new.alert.space].append(new.alert)
        # Lock first: alerts of a space are checked, correlated and stored by one worker at a time.
        spaces = lock_spaces(conn, set(by_space), lock_timeout_ms, on_lock_wait)
        stored = existing_alert_ids(conn, (_key(a.alert) for a in alerts))
        fresh = fresh_alerts(alerts, stored)
        result.duplicates = len(alerts) - len(fresh)
        ctx = _Context(graphs, states, checked_out, incidents_topic, now)
        incident_of: dict[AlertKey, str | None] = {}
        for slug in sorted({a.alert.space for a in fresh}):
            space_alerts = [a.alert for a in fresh if a.alert.space == slug]
            assigned = _correlate_space(conn, spaces.get(slug), space_alerts, ctx, result)
            incident_of.update(((slug, a), i) for a, i in assigned.items())
        inserted = insert_alerts(conn, fresh, incident_of, now)
        if inserted != len(fresh):
            # Another worker stored one of these (space, id) keys meanwhile.
            raise ConcurrentInsertError(sorted(_key(a.alert) for a in fresh)[:5])
        result.stored = inserted
        crash_point("before_db_commit")
    for space, state in checked_out.items():  # only reached when the commit succeeded
        states.checkin(space, state)
    return result


class ConcurrentInsertError(RuntimeError):
    """The batch raced another worker on an alert id; retrying it resolves the race."""


def _key(alert: Alert) -> AlertKey:
    return (alert.space, alert.alert_id)  # an alert id is unique within its space only


def fresh_alerts(alerts: list[NewAlert], stored: set[AlertKey]) -> list[NewAlert]:
    """The alerts not in `stored`, each key once, in order."""
    seen = set(stored)
    fresh = []
    for new in alerts:
        if _key(new.alert) not in seen:
            seen.add(_key(new.alert))
            fresh.append(new)
    return fresh


@dataclass(frozen=True, slots=True)
class _Context:
    graphs: GraphCache
    states: StateCache
    checked_out: dict[str, SpaceState]
    topic: str
    now: datetime


def _correlate_space(
    conn: Connection, row: SpaceRow | None, alerts: list[Alert], ctx: _Context, result: BatchResult
) -> dict[str, str | None]:
    """Correlate one space's new alerts; returns alert id -> incident id."""
    if row is None or not row.policy.correlate:
        result.uncorrelated += len(alerts)
        return {}
    graph = ctx.graphs.get(conn, row.slug, row.lineage_version)
    state = ctx.states.checkout(conn, row.slug, row.state_seq, alerts)
    ctx.states.extend(conn, state, alerts)
    ctx.checked_out[row.slug] = state
    orphans = load_orphan_recoveries(conn, row.slug, {a.fingerprint for a in alerts if a.firing})
    started = time.perf_counter()
    outcome = correlate(alerts, state.index, graph, row.policy, ctx.now, orphans=orphans)
    result.correlation_seconds += time.perf_counter() - started
    if outcome.changes:
        state.seq = bump_state_seq(conn, row.slug)
        result.events += save_outcome(
            conn,
            outcome,
            now=ctx.now,
            topic=ctx.topic,
            seq=state.seq,
            new_alert_ids={a.alert_id for a in alerts},  # this space's fresh alerts
        )
    result.spaces.add(row.slug)
    return outcome.assignments


@dataclass(frozen=True, slots=True)
class _LineageTarget:
    """Where a RunEvent's parts go: its space if no product claims a dataset, its alerts."""

    default_space: str | None
    topic: str
    metrics: IntakeMetrics | None


def _apply_lineage(
    conn: Connection,
    record: LineageRecord,
    to: _LineageTarget,
    result: BatchResult,
) -> None:
    """Apply one RunEvent, or dead-letter it whole (lineage and assertions alike)."""
    try:
        delta = map_run_event(record.event, lambda d: claim_of(conn, d), to.default_space)
        with conn.begin_nested():  # a facet that cannot be used undoes the event's lineage too
            ensure_spaces(conn, {delta.space})
            done = apply_run_event(conn, delta, record.event, topic=to.topic, metrics=to.metrics)
    except (OpenLineageError, IntakeError, DatasetClaimedError) as exc:
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
    if done.products_added or done.edges_added or done.alerts:
        log.info(
            "lineage.applied",
            space=delta.space,
            products=len(done.products_added),
            edges=done.edges_added,
            alerts=len(done.alerts.alerts) if done.alerts else 0,
        )
    if done.alerts and done.alerts.rejected:
        first = done.alerts.rejected[0]
        log.warning(
            "lineage.assertions_rejected",
            space=delta.space,
            rejected=len(done.alerts.rejected),
            item=first.item,
            reason=first.reason,
        )
