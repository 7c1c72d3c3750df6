"""Domain objects of correlation: alerts, incidents and the changes a run makes."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from itertools import islice

from incidentd.schemas.common import (
    AlertStatus,
    EventType,
    HistoryState,
    Impact,
    IncidentStatus,
    Severity,
)

INCIDENT_NAMESPACE = uuid.UUID("6f1d7c1e-3b7a-4f44-9d35-9c1f0c0f2a11")


def incident_id_for(space: str, opening_alert_id: str) -> str:
    """Deterministic incident id: the same opening alert always yields the same id."""
    return str(uuid.uuid5(INCIDENT_NAMESPACE, f"{space}\x00{opening_alert_id}"))


@dataclass(frozen=True, slots=True)
class Alert:
    """The part of an alert event that correlation reads."""

    alert_id: str
    space: str
    product_id: str
    alert_type: str
    status: AlertStatus
    severity: Severity
    occurred_at: datetime
    fingerprint: str
    title: str | None = None
    tags: tuple[str, ...] = ()
    firing: bool = field(init=False, repr=False, compare=False)
    """True for a failing check (from `status`; read on every step of correlation)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "firing", self.status is AlertStatus.FIRING)


@dataclass(frozen=True, slots=True)
class SpacePolicy:
    """Per-space correlation settings."""

    correlate: bool = True
    window: timedelta = timedelta(hours=6)
    auto_resolve: bool = True
    reopen_within: timedelta = timedelta(hours=24)


@dataclass(slots=True)
class Incident:
    """An incident with every alert it holds; derived fields are kept current by the engine."""

    id: str
    space: str
    created_at: datetime
    updated_at: datetime
    status: IncidentStatus = IncidentStatus.OPEN
    number: int | None = None  # per space, given when the incident is first stored
    alerts: dict[str, Alert] = field(default_factory=dict)
    title: str = ""
    description: str | None = None
    root_cause: str | None = None
    severity: Severity = Severity.INFO
    severity_locked: bool = False
    impact: Impact = Impact.LOW
    root_product_id: str | None = None
    root_locked: bool = False
    blast_radius: tuple[str, ...] = ()
    products: tuple[str, ...] = ()
    suspected_upstream: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    ticket_id: str | None = None
    merged_into: str | None = None
    version: int = 0
    resolved_at: datetime | None = None
    cleared_at: datetime | None = None
    first_alert_at: datetime | None = None
    last_alert_at: datetime | None = None
    clears: dict[str, Alert] = field(default_factory=dict)
    """Recoveries held by another incident that also clear a fingerprint of this one."""
    # Latest alert per fingerprint over `alerts` and `clears`, kept up to date as they grow
    # (alerts are only ever added to an incident, or all taken away by a merge), so a recovery
    # costs O(new alerts) instead of a walk over every alert of a big incident.
    _fp_latest: dict[str, Alert] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _fp_seen: int = field(default=0, init=False, repr=False, compare=False)
    _clears_seen: int = field(default=0, init=False, repr=False, compare=False)
    _fp_firing: int = field(default=0, init=False, repr=False, compare=False)
    _facts: AlertFacts | None = field(default=None, init=False, repr=False, compare=False)
    derived_memo: object = field(default=None, init=False, repr=False, compare=False)
    """What `derive` keeps of its last lineage results for this incident (its own business)."""

    @property
    def is_open(self) -> bool:
        """Open or investigating."""
        return self.status is not IncidentStatus.RESOLVED

    @property
    def alert_count(self) -> int:
        """How many alerts the incident holds."""
        return len(self.alerts)

    def fingerprint_states(self) -> dict[str, Alert]:
        """The latest alert (by occurred_at, then resolved-last) of every fingerprint.

        Recoveries in `clears` count as the incident's own. The mapping is the incident's own
        cache: read it, do not change it.
        """
        if len(self.alerts) < self._fp_seen or len(self.clears) < self._clears_seen:
            self.forget_fingerprint_states()  # alerts were taken away: start over
        if len(self.alerts) > self._fp_seen:
            self._fold(islice(self.alerts.values(), self._fp_seen, None))
            self._fp_seen = len(self.alerts)
        if len(self.clears) > self._clears_seen:
            self._fold(islice(self.clears.values(), self._clears_seen, None))
            self._clears_seen = len(self.clears)
        return self._fp_latest

    def _fold(self, alerts: Iterable[Alert]) -> None:
        latest = self._fp_latest
        for alert in alerts:
            seen = latest.get(alert.fingerprint)
            if seen is None:
                self._fp_firing += alert.firing
            elif _state_key(alert) > _state_key(seen):
                self._fp_firing += alert.firing - seen.firing
            else:
                continue
            latest[alert.fingerprint] = alert

    def snapshot(self) -> Incident:
        """A copy that stays as it is while this incident keeps changing (for a writer thread)."""
        copy = replace(self, alerts=dict(self.alerts), clears=dict(self.clears))
        copy.forget_fingerprint_states()
        return copy

    def alert_facts(self) -> AlertFacts:
        """Per-product first times, first and last alert, top severity and tags of `alerts`.

        Folded in as alerts are added, like `fingerprint_states`; read it, do not change it.
        """
        facts = self._facts
        if facts is None or facts.of is not self.alerts or len(self.alerts) < facts.seen:
            facts = self._facts = AlertFacts(self.alerts)
        if len(self.alerts) > facts.seen:
            facts.fold(islice(self.alerts.values(), facts.seen, None))
            facts.seen = len(self.alerts)
        return facts

    def forget_fingerprint_states(self) -> None:
        """Drop the cache behind `fingerprint_states` (after alerts were removed)."""
        self._fp_latest = {}
        self._fp_seen = 0
        self._clears_seen = 0
        self._fp_firing = 0

    def latest_of(self, fingerprint: str) -> Alert | None:
        """The latest alert of `fingerprint` in this incident, if it holds one."""
        if len(self.alerts) == self._fp_seen and len(self.clears) == self._clears_seen:
            return self._fp_latest.get(fingerprint)  # nothing new since the last fold
        return self.fingerprint_states().get(fingerprint)

    def all_clear(self) -> bool:
        """True when every fingerprint's latest alert is a recovery."""
        return bool(self.fingerprint_states()) and self._fp_firing == 0

    def clear_with(self, recovery: Alert) -> bool:
        """Let a recovery held by another incident clear its fingerprint here.

        True when it does: this incident's latest alert of the fingerprint fires, no later than
        the recovery (a firing alert after the recovery keeps it firing).
        """
        if not self.cleared_by(recovery):
            return False
        self.clears[recovery.alert_id] = recovery
        return True

    def cleared_by(self, recovery: Alert) -> bool:
        """True when `recovery` clears a fingerprint this incident holds firing until then."""
        latest = self.latest_of(recovery.fingerprint)
        return latest is not None and latest.firing and _state_key(recovery) > _state_key(latest)

    def absorb_clears(self, other: Incident) -> None:
        """Take over the recoveries that cleared `other` (merged into this incident)."""
        for alert_id, recovery in other.clears.items():
            if alert_id not in self.alerts:
                self.clears.setdefault(alert_id, recovery)
        held = [a for a in self.clears if a in self.alerts]
        for alert_id in held:
            del self.clears[alert_id]
        if held:
            self.forget_fingerprint_states()
        other.clears.clear()
        other.forget_fingerprint_states()

    def problem_cleared_at(self) -> datetime | None:
        """When the last fingerprint cleared (all clear), by the recoveries' occurred_at."""
        if not self.all_clear():
            return None
        return max(a.occurred_at for a in self.fingerprint_states().values())


@dataclass(slots=True)
class AlertFacts:
    """What an incident's derived fields read of its alerts (see `Incident.alert_facts`)."""

    of: dict[str, Alert]
    """The alerts mapping these facts were folded from."""
    seen: int = 0
    first_seen: dict[str, datetime] = field(default_factory=dict)
    """Product id -> occurred_at of its earliest alert."""
    first: Alert | None = None
    """The earliest alert, by (occurred_at, alert_id)."""
    last_at: datetime | None = None
    severity_rank: int = -1
    tags: set[str] = field(default_factory=set)

    def fold(self, alerts: Iterable[Alert]) -> None:
        """Take `alerts` (not folded before) into account."""
        first_seen = self.first_seen
        for alert in alerts:
            at = alert.occurred_at
            known = first_seen.get(alert.product_id)
            if known is None or at < known:
                first_seen[alert.product_id] = at
            first = self.first
            if first is None or (at, alert.alert_id) < (first.occurred_at, first.alert_id):
                self.first = alert
            if self.last_at is None or at > self.last_at:
                self.last_at = at
            self.severity_rank = max(self.severity_rank, alert.severity.rank)
            self.tags.update(alert.tags)


def _state_key(alert: Alert) -> tuple[datetime, int, str]:
    # At the same instant a recovery wins, so replays cannot flip a cleared fingerprint.
    return (alert.occurred_at, 0 if alert.firing else 1, alert.alert_id)


@dataclass(slots=True)
class HistoryEntry:
    """One line of an incident's history."""

    state: HistoryState
    at: datetime
    alert_ids: list[str] = field(default_factory=list)
    detail: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class Change:
    """What one correlation run did to one incident."""

    incident: Incident
    created: bool = False
    reopened: bool = False
    resolved: bool = False
    merged: bool = False
    added_alert_ids: list[str] = field(default_factory=list)
    history: list[HistoryEntry] = field(default_factory=list)

    @property
    def event_type(self) -> EventType:
        """The one event this run emits for the incident."""
        if self.merged:
            return EventType.MERGED
        if self.created:
            return EventType.CREATED
        if self.resolved:
            return EventType.RESOLVED
        if self.reopened:
            return EventType.REOPENED
        if self.added_alert_ids:
            return EventType.ALERT_ADDED
        return EventType.UPDATED


@dataclass(slots=True)
class Outcome:
    """Everything a correlation run decided."""

    changes: dict[str, Change] = field(default_factory=dict)
    assignments: dict[str, str | None] = field(default_factory=dict)
    """alert_id -> incident id it now belongs to (None: stored without an incident)."""
