"""The correlation engine: CONTRACT §6 as a pure function over alerts and incidents."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from heapq import heappop, heappush
from operator import attrgetter

from incidentd.correlation import derive
from incidentd.correlation.index import IncidentIndex
from incidentd.correlation.model import (
    Alert,
    Change,
    HistoryEntry,
    Incident,
    Outcome,
    SpacePolicy,
    incident_id_for,
)
from incidentd.correlation.ports import LineageView
from incidentd.schemas.common import HistoryState, IncidentStatus

_ADDING = (HistoryState.NEW, HistoryState.ONGOING, HistoryState.REOPENED)


def correlate(
    alerts: Sequence[Alert],
    incidents: Iterable[Incident] | IncidentIndex,
    lineage: LineageView,
    policy: SpacePolicy,
    now: datetime,
    *,
    orphans: Iterable[Alert] = (),
) -> Outcome:
    """Attach `alerts` to `incidents` (mutated in place) and report every change.

    `incidents` must hold every open incident of the space that an alert could relate
    to, and the resolved incidents holding any of the alerts' fingerprints. An
    `IncidentIndex` may be passed instead, to keep the index (and the state) across runs.
    `orphans` are stored recoveries that found no incident when they arrived (stored
    unassigned), for the fingerprints of the new firing alerts: a firing alert claims those of
    its fingerprint that happened at or after it, since they clear it.
    """
    return _Run(incidents, lineage, policy, now, orphans=orphans).run(alerts)


class _Run:
    def __init__(
        self,
        incidents: Iterable[Incident] | IncidentIndex,
        lineage: LineageView,
        policy: SpacePolicy,
        now: datetime,
        *,
        orphans: Iterable[Alert] = (),
    ) -> None:
        self.index = incidents if isinstance(incidents, IncidentIndex) else IncidentIndex(incidents)
        self.lineage = lineage
        self.policy = policy
        self.now = now
        self.outcome = Outcome()
        self.orphans: dict[str, list[Alert]] = {}
        for orphan in orphans:
            if not orphan.firing:
                self.orphans.setdefault(orphan.fingerprint, []).append(orphan)
        # Recoveries claimed by a late failure, replayed in time order among the run's alerts.
        self.replay: list[tuple[datetime, str, Alert]] = []
        self.replaying: set[str] = set()

    def run(self, alerts: Sequence[Alert]) -> Outcome:
        ordered = sorted(alerts, key=attrgetter("occurred_at", "alert_id"))
        i = 0
        while i < len(ordered) or self.replay:
            if self.replay and (
                i == len(ordered)
                or self.replay[0][:2] <= (ordered[i].occurred_at, ordered[i].alert_id)
            ):
                self._replay(heappop(self.replay)[2])
                continue
            alert = ordered[i]
            i += 1
            if alert.alert_id in self.outcome.assignments:
                continue
            home = self.index.home.get(alert.alert_id)
            if home is not None or not self.policy.correlate:
                self.outcome.assignments[alert.alert_id] = home
            elif alert.firing:
                self._fire(alert)
            else:
                self._clear(alert)
        self._finish()
        return self.outcome

    def _change(self, incident: Incident) -> Change:
        change = self.outcome.changes.get(incident.id)
        if change is None:
            change = self.outcome.changes[incident.id] = Change(incident)
        return change

    def _history(self, incident: Incident, state: HistoryState, alert_ids: list[str]) -> None:
        history = self._change(incident).history
        last = history[-1] if history else None
        if state is HistoryState.ONGOING and last and last.state in _ADDING and not last.detail:
            last.alert_ids.extend(alert_ids)  # each alert is added once per run
            return
        history.append(HistoryEntry(state, self.now, list(alert_ids)))

    def _add(self, incident: Incident, alert: Alert) -> None:
        self.index.add(incident, alert)
        self._change(incident).added_alert_ids.append(alert.alert_id)
        self._history(incident, HistoryState.ONGOING, [alert.alert_id])
        self.outcome.assignments[alert.alert_id] = incident.id

    def _fire(self, alert: Alert) -> None:
        related = [
            self.index.incidents[i]
            for i in self.index.related(alert, self.lineage, self.policy.window)
        ]
        previous = self._resolved_holder(alert)
        if previous is not None:
            if _newer_than_its_fingerprint(previous, alert):
                self._reopen(previous, alert)
                related.append(previous)
            elif not related:
                self._add(previous, alert)  # a late alert from before the recovery
                return
        self._join(alert, related)
        self._clear_late(alert)
        self._claim_orphans(alert)

    def _join(self, alert: Alert, related: list[Incident]) -> Incident:
        """Put a firing alert into the oldest related incident (merging the others) or a new one."""
        if not related:
            return self._open(alert)
        target = min(related, key=lambda i: (i.created_at, i.id))
        self._add(target, alert)
        for other in sorted(related, key=lambda i: (i.created_at, i.id)):
            if other is not target:
                self._merge(other, target)
        return target

    def _clear_late(self, alert: Alert) -> None:
        """A failure older than a known recovery of its fingerprint is cleared by it in turn.

        The recovery arrived first and is held elsewhere; it clears the fingerprint in every
        open incident holding it firing at or before its time. It is replayed at its own time
        among this run's alerts, so a recovery of this run that happened earlier (the one of
        the failure's own time) clears the failure first.
        """
        recovery = self._recovery_after(alert)
        if recovery is not None:
            self._schedule(recovery)

    def _recovery_after(self, alert: Alert) -> Alert | None:
        """The earliest known recovery of `alert`'s fingerprint at or after it, if any."""
        found: Alert | None = None
        for incident in self.index.with_fingerprint(alert.fingerprint):
            latest = incident.latest_of(alert.fingerprint)
            if latest is None or latest.firing or incident.space != alert.space:
                continue
            if latest.occurred_at >= alert.occurred_at and (
                found is None or latest.occurred_at < found.occurred_at
            ):
                found = latest
        return found

    def _claim_orphans(self, alert: Alert) -> None:
        """Replay the unassigned recoveries of `alert`'s fingerprint that happened at or after it.

        They arrived before it and found no incident. Each is handled again at its own time
        among this run's alerts, as if it had arrived after the failure: it then clears the
        fingerprint in the failure's incident (and may resolve it).
        """
        pool = self.orphans.get(alert.fingerprint)
        if not pool:
            return
        claimed = [r for r in pool if r.occurred_at >= alert.occurred_at and r.space == alert.space]
        if not claimed:
            return
        self.orphans[alert.fingerprint] = [r for r in pool if r not in claimed]
        for recovery in claimed:
            self._schedule(recovery)

    def _schedule(self, recovery: Alert) -> None:
        """Handle `recovery` again at its own time among this run's alerts (once per run)."""
        if recovery.alert_id not in self.replaying:
            self.replaying.add(recovery.alert_id)
            heappush(self.replay, (recovery.occurred_at, recovery.alert_id, recovery))

    def _replay(self, recovery: Alert) -> None:
        """A replayed recovery: an unassigned one is handled as new, a held one clears again."""
        self.replaying.discard(recovery.alert_id)
        if self.index.home.get(recovery.alert_id) is None:
            self._clear(recovery)
        else:
            self._clear_elsewhere(recovery)

    def _resolved_holder(self, alert: Alert) -> Incident | None:
        """The resolved incident of this alert's time holding its fingerprint, latest first.

        Either the alert fires again after the incident's resolution (within the reopen
        period), or it is late data from the incident's own time (within the correlation
        window of an alert of its fingerprint there, before the resolution). An alert from
        another time never reopens or joins a resolved incident.
        """
        candidates = [
            incident
            for incident in self.index.with_fingerprint(alert.fingerprint)
            if not incident.is_open
            and incident.merged_into is None
            and incident.space == alert.space
            and (self._refires_after(incident, alert) or self._of_its_time(incident, alert))
        ]
        return max(candidates, key=_recency, default=None)

    def _refires_after(self, incident: Incident, alert: Alert) -> bool:
        """True when `alert` happened after `incident` cleared, within the reopen period."""
        cleared = incident.cleared_at
        return cleared is not None and (
            timedelta(0) <= alert.occurred_at - cleared <= self.policy.reopen_within
        )

    def _of_its_time(self, incident: Incident, alert: Alert) -> bool:
        """True when `alert` is late data of `incident`: before it cleared, and within the
        correlation window of an alert of its fingerprint there."""
        cleared = incident.cleared_at
        if cleared is None or alert.occurred_at >= cleared:
            return False
        window = self.policy.window
        return any(
            abs(held.occurred_at - alert.occurred_at) <= window
            for held in incident.alerts.values()
            if held.fingerprint == alert.fingerprint
        )

    def _open(self, alert: Alert) -> Incident:
        incident = Incident(
            id=incident_id_for(alert.space, alert.alert_id),
            space=alert.space,
            created_at=self.now,
            updated_at=self.now,
        )
        change = self._change(incident)
        change.created = True
        change.history.append(HistoryEntry(HistoryState.NEW, self.now, []))
        self._add(incident, alert)
        return incident

    def _reopen(self, incident: Incident, alert: Alert) -> None:
        incident.status = IncidentStatus.OPEN
        incident.resolved_at = None
        incident.cleared_at = None
        self.index.open_again(incident)
        change = self._change(incident)
        change.reopened = True
        change.resolved = False
        change.history.append(HistoryEntry(HistoryState.REOPENED, self.now, []))

    def _merge(self, loser: Incident, target: Incident) -> None:
        moved = self.index.move(loser, target)
        target.absorb_clears(loser)
        loser.status = IncidentStatus.RESOLVED
        loser.merged_into = target.id
        loser.resolved_at = self.now
        lost = self._change(loser)
        lost.merged = True
        lost.history.append(
            HistoryEntry(HistoryState.MERGED, self.now, moved, {"merged_into": target.id})
        )
        gained = self._change(target)
        gained.added_alert_ids.extend(moved)
        gained.history.append(
            HistoryEntry(HistoryState.ONGOING, self.now, moved, {"merged_from": loser.id})
        )
        for alert_id in moved:
            self.outcome.assignments[alert_id] = target.id

    def _clear(self, alert: Alert) -> None:
        """A recovery clears its fingerprint in every open incident holding it firing until then.

        It is stored with the latest of them; the others keep it in `clears`, and each one left
        with every fingerprint clear resolves. A recovery that clears nothing (no incident
        holds its fingerprint firing before it) is stored unassigned: a failure arriving late
        from before it may still claim it.
        """
        clearing = [
            i
            for i in self.index.with_fingerprint(alert.fingerprint)
            if i.is_open and i.space == alert.space and i.cleared_by(alert)
        ]
        if not clearing:
            self.outcome.assignments[alert.alert_id] = None
            self.orphans.setdefault(alert.fingerprint, []).append(alert)
            return
        home = max(clearing, key=lambda i: (_last_time(i, alert.fingerprint), i.id))
        self._add(home, alert)
        self._settle(home, alert)
        self._clear_elsewhere(alert)

    def _clear_elsewhere(self, recovery: Alert) -> None:
        """Clear the fingerprint in the open incidents that do not hold the recovery itself."""
        for incident in self.index.with_fingerprint(recovery.fingerprint):
            if (
                incident.is_open
                and incident.space == recovery.space
                and incident.clear_with(recovery)
            ):
                self._history(incident, HistoryState.ONGOING, [recovery.alert_id])
                self._settle(incident, recovery)

    def _settle(self, incident: Incident, alert: Alert) -> None:
        """Resolve an open incident whose every fingerprint is clear (space setting)."""
        if self.policy.auto_resolve and incident.is_open and incident.all_clear():
            self._resolve(incident, alert)

    def _resolve(self, incident: Incident, alert: Alert) -> None:
        """Resolved when the problem cleared: the latest of its fingerprints' recoveries."""
        cleared = incident.problem_cleared_at() or alert.occurred_at
        incident.status = IncidentStatus.RESOLVED
        incident.resolved_at = cleared
        incident.cleared_at = cleared
        self.index.close(incident)
        change = self._change(incident)
        change.resolved = True
        change.history.append(HistoryEntry(HistoryState.RESOLVED, self.now, [alert.alert_id]))

    def _finish(self) -> None:
        for change in self.outcome.changes.values():
            incident = change.incident
            if not change.merged:
                derive.refresh(incident, self.lineage)
            incident.version += 1
            incident.updated_at = self.now


def _newer_than_its_fingerprint(incident: Incident, alert: Alert) -> bool:
    """True when `alert` is later than every alert of its fingerprint in `incident`."""
    latest = incident.latest_of(alert.fingerprint)
    return latest is None or alert.occurred_at > latest.occurred_at


def _recency(incident: Incident) -> tuple[datetime, datetime, str]:
    """Order of resolved incidents a refiring fingerprint reopens: latest cleared, newest."""
    assert incident.cleared_at is not None
    return (incident.cleared_at, incident.created_at, incident.id)


def _last_time(incident: Incident, fingerprint: str) -> datetime:
    latest = incident.latest_of(fingerprint)
    return datetime.min.replace(tzinfo=UTC) if latest is None else latest.occurred_at
