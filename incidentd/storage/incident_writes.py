"""Changes people make to incidents, applied like the worker's: locked, sequenced, evented.

Every change takes the space lock, stamps the incident with a new `state_seq` (so workers
read it back), bumps `version`, writes a history line and queues one incident event. What a
change may do is decided by `correlation.lifecycle` (merged incidents are read-only, a change
that changes nothing writes nothing, an action is recorded under the incident's state).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import orjson
from sqlalchemy import Connection, text

from incidentd.correlation import derive
from incidentd.correlation.lifecycle import (
    Action,
    IncidentNotFoundError,
    ensure_writable,
    recorded_state,
)
from incidentd.correlation.model import Incident
from incidentd.storage.graphs import GraphCache
from incidentd.storage.incident_refs import IncidentRef
from incidentd.storage.incidents import incident_event, upsert_incidents, with_alerts
from incidentd.storage.spaces import bump_state_seq, lock_spaces
from incidentd.storage.subscriptions import publish_events

Edit = Action
"""What a change did (the life cycle's `Action`)."""
Changer = Callable[[Incident], Action]
"""Applies a change to a loaded incident and says what it did (see `correlation.lifecycle`)."""


def load_incident(conn: Connection, space: str, incident_id: str) -> Incident:
    """An incident with its alerts; IncidentNotFoundError when absent."""
    return load_incident_counted(conn, space, incident_id)[0]


def load_incident_counted(conn: Connection, space: str, incident_id: str) -> tuple[Incident, int]:
    """An incident (named by id or per-space number) with its alerts, and its `alert_count`.

    A merged incident's alerts have moved to the incident it was merged into; it keeps showing
    the count it had when merged (as in its `incident.merged` event and in lists).
    """
    ref = IncidentRef.parse(incident_id)
    if ref is None:
        raise IncidentNotFoundError(incident_id)
    where, params = ref.condition()
    row = conn.execute(
        text(f"SELECT * FROM incidents WHERE incidents.space = :s AND {where}"),
        {**params, "s": space},
    ).first()
    if row is None:
        raise IncidentNotFoundError(incident_id)
    incident = with_alerts(conn, [row])[0]
    count = incident.alert_count if incident.merged_into is None else int(row.alert_count)
    return incident, count


def change_incident(
    conn: Connection,
    space: str,
    incident_id: str,
    edit: Changer,
    *,
    actor: str,
    topic: str,
    graphs: GraphCache,
) -> tuple[Incident, Edit, int]:
    """Apply `edit` to the incident under the space lock and persist it with its event.

    Returns the incident, the edit and the `alert_count` it shows (see load_incident_counted).
    """
    row = lock_spaces(conn, {space}).get(space)
    incident, count = load_incident_counted(conn, space, incident_id)
    ensure_writable(incident)
    result = edit(incident)
    if not result.changed:
        return incident, result, count
    now = datetime.now(UTC)
    if result.rederive and row is not None:
        derive.refresh(incident, graphs.get(conn, space, row.lineage_version))
    incident.version += 1
    incident.updated_at = now
    seq = bump_state_seq(conn, space)
    upsert_incidents(conn, [(incident, count)], seq)
    state = recorded_state(incident, result)
    detail = {"action": result.event_type.value, **result.detail, "actor": actor}
    conn.execute(
        text(
            "INSERT INTO incident_history (incident_id, state, alert_ids, detail, actor, at) "
            "VALUES (:i, :s, '{}', CAST(:d AS jsonb), :a, :t)"
        ),
        {
            "i": uuid.UUID(incident.id),
            "s": state.value,
            "d": orjson.dumps(detail).decode(),
            "a": actor,
            "t": now,
        },
    )
    publish_events(conn, [incident_event(incident, count, result.event_type, [], now=now)], topic)
    return incident, result, count
