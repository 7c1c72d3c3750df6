"""What people may do to an incident and what it means for its life cycle: the one place.

Every change made through the API goes through here. A merged incident is read-only (its
alerts live on in the incident it was merged into). A status change resolves (at the time it
is made) or reopens the incident. A severity or root set by a person sticks against later
correlation. A change that changes nothing (null or equal values) is no change: no version,
no history line, no event. An action on a resolved incident (a notification, a ticket, an
edit) is recorded under the state the incident is in, never as ONGOING. Refusals are domain
errors; the API maps them to HTTP answers in one handler.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from incidentd.correlation.model import Incident
from incidentd.schemas.common import EventType, HistoryState, IncidentStatus, Severity


class LifecycleError(Exception):
    """A change the life-cycle rules refuse; the message says why."""


class IncidentNotFoundError(LifecycleError, LookupError):
    """No such incident (in that space)."""

    def __init__(self, ref: str) -> None:
        super().__init__(f"incident '{ref}' not found")
        self.ref = ref


class IncidentMergedError(LifecycleError):
    """The incident was merged into another one: it no longer changes."""

    def __init__(self, merged_into: str) -> None:
        super().__init__(f"incident was merged into {merged_into}; work on that one")
        self.merged_into = merged_into


class NotAllowedError(LifecycleError):
    """A change the rules do not allow (e.g. a root outside the incident's products)."""


@dataclass(slots=True)
class Action:
    """What a change did: the event to emit and the history line to write.

    `state` None: an action that does not move the incident, recorded under its state now.
    """

    event_type: EventType
    state: HistoryState | None = None
    detail: dict[str, object] = field(default_factory=dict)
    rederive: bool = False
    changed: bool = True


@dataclass(frozen=True, slots=True)
class Patch:
    """Fields a person may change; None leaves a field as it is."""

    root_cause: str | None = None
    status: IncidentStatus | None = None
    severity: Severity | None = None
    root_product_id: str | None = None
    description: str | None = None


def ensure_writable(incident: Incident) -> None:
    """Raise IncidentMergedError for a merged incident."""
    if incident.merged_into is not None:
        raise IncidentMergedError(incident.merged_into)


def recorded_state(incident: Incident, action: Action) -> HistoryState:
    """The history state of an action: its own move, or the state the incident is in."""
    if action.state is not None:
        return action.state
    return HistoryState.ONGOING if incident.is_open else HistoryState.RESOLVED


def apply_patch(incident: Incident, patch: Patch, now: datetime) -> Action:
    """Apply the fields that differ from the incident's; the action names what changed."""
    changed: list[str] = []
    root = patch.root_product_id
    if root is not None and root != incident.root_product_id:
        if root not in incident.products:
            raise NotAllowedError("root_product_id must be one of the incident's products")
        incident.root_product_id, incident.root_locked = root, True
        changed.append("root_product_id")
    if patch.severity is not None and patch.severity is not incident.severity:
        incident.severity, incident.severity_locked = patch.severity, True
        changed.append("severity")
    for name in ("root_cause", "description"):
        value = getattr(patch, name)
        if value is not None and value != getattr(incident, name):
            setattr(incident, name, value)
            changed.append(name)
    action = Action(EventType.UPDATED)
    moved = None if patch.status is None else set_status(incident, patch.status, now)
    if moved is not None:
        changed.append("status")
        if moved in _EVENT_OF_MOVE:
            action.state, action.event_type = moved, _EVENT_OF_MOVE[moved]
    action.rederive = "root_product_id" in changed
    action.detail = {"changed": sorted(changed)}
    action.changed = bool(changed)
    return action


def resolve(incident: Incident, now: datetime) -> Action:
    """Resolve by hand (nothing changes if it is resolved already)."""
    moved = set_status(incident, IncidentStatus.RESOLVED, now)
    return Action(EventType.RESOLVED, HistoryState.RESOLVED, changed=moved is not None)


def link_ticket(incident: Incident, ticket_id: str) -> Action:
    """Link an issue-tracker ticket (nothing changes if it is linked already)."""
    changed = incident.ticket_id != ticket_id
    incident.ticket_id = ticket_id
    return Action(EventType.TICKET_LINKED, detail={"ticket_id": ticket_id}, changed=changed)


_EVENT_OF_MOVE = {
    HistoryState.RESOLVED: EventType.RESOLVED,
    HistoryState.REOPENED: EventType.REOPENED,
}


def set_status(incident: Incident, new: IncidentStatus, now: datetime) -> HistoryState | None:
    """Move the incident to `new`; the history state of the move (None: it was there).

    Resolving by hand resolves now; moving a resolved incident to open or investigating
    reopens it; open <-> investigating is an ONGOING step.
    """
    if incident.status is new:
        return None
    was_resolved = incident.status is IncidentStatus.RESOLVED
    incident.status = new
    if new is IncidentStatus.RESOLVED:
        incident.resolved_at = now
        incident.cleared_at = max(now, incident.last_alert_at or now)
        return HistoryState.RESOLVED
    incident.resolved_at = None
    incident.cleared_at = None
    return HistoryState.REOPENED if was_resolved else HistoryState.ONGOING
