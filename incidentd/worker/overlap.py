"""Correlate batch N+1 while batch N is written: a plan, then its write on another thread.

A batch is planned on the main thread in one read-only snapshot, without locks: which alerts
are new, the spaces' settings and `state_seq`, the orphan recoveries, and the correlation
itself, run on the worker's in-memory state. The batch written meanwhile (the one before) is
taken into account as if committed: its alerts count as stored, its orphans as claimed or
left, its state as the state to build on. The plan's outcome is copied (`snapshot`) for the
writer thread, which then, in one transaction under the space locks, checks that nothing the
plan read has changed (`state_seq`, settings, lineage version, orphans, alert ids) and writes.

When a check fails (another worker or the API wrote, or the write before failed) nothing of
the plan is written: the caller drops the cached state and processes the batch the
synchronous way (`pipeline.process_batch`), which reads everything under the lock. Offsets
are committed only after the plan's own commit, as before.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine

from incidentd.correlation.engine import correlate
from incidentd.correlation.model import Alert, Outcome
from incidentd.storage.alerts import (
    AlertKey,
    NewAlert,
    existing_alert_ids,
    insert_alerts,
    load_orphan_recoveries,
)
from incidentd.storage.graphs import GraphCache
from incidentd.storage.incidents import save_outcome
from incidentd.storage.spaces import SpaceRow, bump_state_seq, lock_spaces, read_spaces
from incidentd.worker.crashpoints import crash_point
from incidentd.worker.pipeline import BatchResult, ConcurrentInsertError, fresh_alerts
from incidentd.worker.state import SpaceState, StateCache


class StalePlanError(RuntimeError):
    """Something the plan read changed before its write: process the batch again."""


@dataclass(slots=True)
class SpacePlan:
    """One space's part of a plan."""

    row: SpaceRow
    expected_seq: int  # the space's state_seq the plan was built on
    state: SpaceState | None = None
    outcome: Outcome | None = None  # live: refers to the incidents the worker keeps
    snapshot: Outcome | None = None  # the writer's copy, taken when the plan is handed over
    orphans: frozenset[str] = frozenset()  # ids of the orphan recoveries the plan used
    fingerprints: tuple[str, ...] = ()  # the firing fingerprints the orphans were asked for
    alert_ids: set[str] = field(default_factory=set)  # this space's new alerts
    seconds: float = 0.0  # spent correlating


@dataclass(slots=True)
class Plan:
    """A batch correlated in memory, waiting to be written."""

    fresh: list[NewAlert]
    slugs: set[str]
    spaces: dict[str, SpacePlan]
    incident_of: dict[AlertKey, str | None]
    result: BatchResult
    now: datetime

    def keys(self) -> set[AlertKey]:
        """The (space, id) keys of the alerts this plan stores."""
        return {(a.alert.space, a.alert.alert_id) for a in self.fresh}

    def changed(self, space: str) -> set[str]:
        """Ids of the incidents of `space` this plan changed in memory."""
        part = self.spaces.get(space)
        return set(part.outcome.changes) if part is not None and part.outcome else set()

    def states(self) -> dict[str, SpaceState]:
        """The in-memory states this plan built on and changed."""
        return {s: p.state for s, p in self.spaces.items() if p.state is not None}

    def hand_over(self) -> None:
        """Copy the outcome for the writer; call after the plan before it was written."""
        for part in self.spaces.values():
            if part.outcome is not None:
                part.snapshot = _snapshot(part.outcome)

    def written(self) -> None:
        """Give the live incidents the numbers their copies got when they were stored."""
        for part in self.spaces.values():
            if part.outcome is None or part.snapshot is None:
                continue
            for incident_id, change in part.outcome.changes.items():
                if change.incident.number is None:
                    change.incident.number = part.snapshot.changes[incident_id].incident.number


def plan_batch(
    engine: Engine,
    alerts: list[NewAlert],
    graphs: GraphCache,
    states: StateCache,
    before: Plan | None,
) -> Plan:
    """Dedupe and correlate `alerts` on top of `before` (being written, or None)."""
    now = datetime.now(UTC)
    result = BatchResult()
    with engine.connect() as conn:
        conn.exec_driver_sql("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        try:
            keys = [(a.alert.space, a.alert.alert_id) for a in alerts]
            stored = existing_alert_ids(conn, keys)
            if before is not None:
                stored |= before.keys() & set(keys)
            fresh = fresh_alerts(alerts, stored)
            result.duplicates = len(alerts) - len(fresh)
            slugs = {a.alert.space for a in fresh}
            rows = read_spaces(conn, slugs)
            plan = Plan(fresh, slugs, {}, {}, result, now)
            by_space: dict[str, list[Alert]] = defaultdict(list)
            for new in fresh:
                by_space[new.alert.space].append(new.alert)
            for slug in sorted(by_space):
                row = rows.get(slug)
                if row is None or not row.policy.correlate:
                    result.uncorrelated += len(by_space[slug])
                    if row is not None:
                        plan.spaces[slug] = SpacePlan(row, _seq(row, before))
                    continue
                part = _plan_space(conn, row, by_space[slug], graphs, states, before, now)
                plan.spaces[slug] = part
                result.correlation_seconds += part.seconds
                plan.incident_of.update(((slug, a), i) for a, i in _assigned(part).items())
                result.spaces.add(slug)
        finally:
            conn.rollback()
    return plan


def _seq(row: SpaceRow, before: Plan | None) -> int:
    """The state_seq a space will have once `before` is written."""
    if before is not None and row.slug in before.spaces:
        return before.spaces[row.slug].expected_seq + _bumps(before.spaces[row.slug])
    return row.state_seq


def _bumps(part: SpacePlan) -> int:
    return 1 if part.outcome is not None and part.outcome.changes else 0


def _plan_space(  # noqa: PLR0917 - one call site, all of it needed
    conn: Connection,
    row: SpaceRow,
    alerts: list[Alert],
    graphs: GraphCache,
    states: StateCache,
    before: Plan | None,
    now: datetime,
) -> SpacePlan:
    expected = _seq(row, before)
    prior = before.spaces.get(row.slug) if before is not None else None
    if prior is not None and prior.state is not None:
        state = prior.state  # the state the write in flight leaves behind
        state.seq = expected
    else:
        state = states.checkout(conn, row.slug, row.state_seq, alerts)
    states.extend(conn, state, alerts)
    graph = graphs.get(conn, row.slug, row.lineage_version)
    fingerprints = tuple(sorted({a.fingerprint for a in alerts if a.firing}))
    orphans = _orphans(conn, row.slug, fingerprints, before)
    started = time.perf_counter()
    outcome = correlate(alerts, state.index, graph, row.policy, now, orphans=orphans)
    seconds = time.perf_counter() - started
    part = SpacePlan(row, expected, state, outcome, seconds=seconds)
    part.orphans = frozenset(a.alert_id for a in orphans)
    part.fingerprints = fingerprints
    part.alert_ids = {a.alert_id for a in alerts}
    if outcome.changes:
        state.seq = expected + 1
    return part


def _orphans(
    conn: Connection, space: str, fingerprints: tuple[str, ...], before: Plan | None
) -> list[Alert]:
    """Unclaimed recoveries of these fingerprints, with the write in flight as committed."""
    found = load_orphan_recoveries(conn, space, fingerprints)
    prior = before.spaces.get(space) if before is not None else None
    if prior is None or prior.outcome is None:
        return found
    claimed = {a for a, i in prior.outcome.assignments.items() if i is not None}
    found = [a for a in found if a.alert_id not in claimed]
    wanted = set(fingerprints)
    assert before is not None
    for new in before.fresh:
        alert = new.alert
        if (
            alert.space == space
            and not alert.firing
            and alert.fingerprint in wanted
            and prior.outcome.assignments.get(alert.alert_id) is None
        ):
            found.append(alert)
    return found


def _assigned(part: SpacePlan) -> dict[str, str | None]:
    return part.outcome.assignments if part.outcome is not None else {}


def _snapshot(outcome: Outcome) -> Outcome:
    # `replace` keeps every field of a Change, also ones added later; only the mutable parts
    # are copied.
    return Outcome(
        changes={
            k: replace(
                c,
                incident=c.incident.snapshot(),
                added_alert_ids=list(c.added_alert_ids),
                history=list(c.history),
            )
            for k, c in outcome.changes.items()
        },
        assignments=dict(outcome.assignments),
    )


def write_plan(engine: Engine, plan: Plan, topic: str, lock_timeout_ms: int | None) -> BatchResult:
    """Check the plan under the space locks and store it in one transaction (any thread).

    Raises StalePlanError when what it was built on changed, ConcurrentInsertError when another
    worker stored one of its alerts meanwhile; either way nothing is written.
    """
    result = plan.result
    if not plan.fresh:
        return result
    with engine.begin() as conn:
        rows = lock_spaces(conn, plan.slugs, lock_timeout_ms)
        _check(conn, plan, rows)
        for slug in sorted(plan.spaces):
            part = plan.spaces[slug]
            if part.snapshot is None or not part.snapshot.changes:
                continue
            seq = bump_state_seq(conn, slug)
            if seq != part.expected_seq + 1:
                raise StalePlanError(
                    f"space {slug}: state_seq {seq - 1}, planned on {part.expected_seq}"
                )
            result.events += save_outcome(
                conn,
                part.snapshot,
                now=plan.now,
                topic=topic,
                seq=seq,
                new_alert_ids=part.alert_ids,
            )
        inserted = insert_alerts(conn, plan.fresh, plan.incident_of, plan.now)
        if inserted != len(plan.fresh):
            raise ConcurrentInsertError(sorted(plan.keys())[:5])
        result.stored = inserted
        crash_point("before_db_commit")
    return result


def _check(conn: Connection, plan: Plan, rows: dict[str, SpaceRow]) -> None:
    """Raise StalePlanError unless the spaces are as the plan read them."""
    if set(rows) != set(plan.spaces):
        raise StalePlanError("spaces were created or removed")
    for slug, row in rows.items():
        part = plan.spaces[slug]
        if part.state is not None and row.state_seq != part.expected_seq:
            raise StalePlanError(
                f"space {slug}: state_seq {row.state_seq}, planned on {part.expected_seq}"
            )
        if _settings(row) != _settings(part.row):
            raise StalePlanError(f"space {slug}: settings or lineage changed")
        if part.fingerprints:
            now_orphans = load_orphan_recoveries(conn, slug, part.fingerprints)
            if frozenset(a.alert_id for a in now_orphans) != part.orphans:
                raise StalePlanError(f"space {slug}: orphan recoveries changed")


def _settings(row: SpaceRow) -> tuple[object, ...]:
    return (row.features, row.correlation_window_seconds, row.auto_resolve, row.lineage_version)
