"""Incident rows: loading correlation candidates and saving a correlation outcome."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, Row, text

from incidentd.correlation.model import Change, Incident, Outcome
from incidentd.schemas.common import EventType, Impact, IncidentStatus, Severity
from incidentd.schemas.incident import IncidentEvent, IncidentResource
from incidentd.storage.alerts import ALERT_COLUMNS, alert_from_row, assign_alerts, load_alerts
from incidentd.storage.subscriptions import publish_events

_OPEN_STATE = text(
    """
    SELECT * FROM incidents
    WHERE space = :space
      AND (status <> 'resolved' OR (merged_into IS NULL AND cleared_at >= :reopen_low))
    """
)
_CHANGED = text("SELECT * FROM incidents WHERE space = :space AND state_seq > :seq")
_RESOLVED_HOLDERS = text(
    """
    SELECT * FROM incidents
    WHERE space = :space AND status = 'resolved' AND merged_into IS NULL
      AND cleared_at >= :reopen_low
      AND id IN (SELECT incident_id FROM alerts
                 WHERE fingerprint = ANY(CAST(:fps AS text[])) AND incident_id IS NOT NULL)
    """
)


def load_open_state(conn: Connection, space: str, reopen_low: datetime) -> list[Incident]:
    """Every open incident of the space and those resolved since `reopen_low`, with alerts."""
    return with_alerts(conn, conn.execute(_OPEN_STATE, {"space": space, "reopen_low": reopen_low}))


def load_changed(conn: Connection, space: str, since_seq: int) -> list[Incident]:
    """Incidents written after state sequence `since_seq`, with alerts."""
    return with_alerts(conn, conn.execute(_CHANGED, {"space": space, "seq": since_seq}))


def load_resolved_holders(
    conn: Connection, space: str, fingerprints: Iterable[str], reopen_low: datetime
) -> list[Incident]:
    """Resolved, unmerged incidents holding any of `fingerprints`, cleared since `reopen_low`."""
    fps = sorted(set(fingerprints))
    if not fps:
        return []
    params = {"space": space, "fps": fps, "reopen_low": reopen_low}
    return with_alerts(conn, conn.execute(_RESOLVED_HOLDERS, params))


def with_alerts(conn: Connection, rows: Iterable[Row[Any]]) -> list[Incident]:
    """Domain incidents from `incidents` rows, with their alerts and clearing recoveries."""
    listed = [(incident_from_row(r), tuple(r.cleared_by)) for r in rows]
    incidents = {i.id: i for i, _ in listed}
    if incidents:
        for row in conn.execute(
            text(
                f"SELECT {ALERT_COLUMNS} FROM alerts WHERE incident_id = ANY(CAST(:ids AS uuid[]))"
            ),
            {"ids": list(incidents)},
        ):
            incidents[str(row.incident_id)].alerts[row.alert_id] = alert_from_row(row)
    found = load_alerts(conn, ((i.space, a) for i, ids in listed for a in ids))
    for incident, ids in listed:
        keys = ((a, (incident.space, a)) for a in ids)
        incident.clears.update((a, found[k]) for a, k in keys if k in found)
    return list(incidents.values())


def incident_from_row(row: Row[Any]) -> Incident:
    """A domain incident (without its alerts) from an `incidents` row."""
    return Incident(
        id=str(row.id),
        space=row.space,
        number=row.number,
        created_at=row.created_at,
        updated_at=row.updated_at,
        status=IncidentStatus(row.status),
        title=row.title,
        description=row.description,
        root_cause=row.root_cause,
        severity=Severity(row.severity),
        severity_locked=row.severity_locked,
        impact=Impact(row.impact),
        root_product_id=row.root_product_id,
        root_locked=row.root_locked,
        blast_radius=tuple(row.blast_radius),
        products=tuple(row.products),
        suspected_upstream=tuple(row.suspected_upstream),
        tags=tuple(row.tags),
        ticket_id=row.ticket_id,
        merged_into=None if row.merged_into is None else str(row.merged_into),
        version=row.version,
        resolved_at=row.resolved_at,
        cleared_at=row.cleared_at,
        first_alert_at=row.first_alert_at,
        last_alert_at=row.last_alert_at,
    )


_ARRAYS = ("blast_radius", "products", "suspected_upstream", "tags", "cleared_by")
_INCIDENT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("state_seq", "bigint"),
    ("id", "uuid"),
    ("space", "text"),
    ("number", "bigint"),
    ("title", "text"),
    ("description", "text"),
    ("status", "text"),
    ("severity", "text"),
    ("severity_locked", "boolean"),
    ("impact", "text"),
    ("root_cause", "text"),
    ("root_product_id", "text"),
    ("root_locked", "boolean"),
    ("blast_radius", "jsonb"),
    ("products", "jsonb"),
    ("suspected_upstream", "jsonb"),
    ("tags", "jsonb"),
    ("ticket_id", "text"),
    ("merged_into", "uuid"),
    ("alert_count", "integer"),
    ("version", "integer"),
    ("created_at", "timestamptz"),
    ("updated_at", "timestamptz"),
    ("resolved_at", "timestamptz"),
    ("cleared_at", "timestamptz"),
    ("first_alert_at", "timestamptz"),
    ("last_alert_at", "timestamptz"),
    ("cleared_by", "jsonb"),
)


def _upsert_sql() -> str:
    names = [n for n, _ in _INCIDENT_COLUMNS]
    picks = [
        f"ARRAY(SELECT jsonb_array_elements_text(x.{n}))" if n in _ARRAYS else f"x.{n}"
        for n in names
    ]
    record = ", ".join(f"{n} {t}" for n, t in _INCIDENT_COLUMNS)
    updates = ", ".join(
        f"{n} = EXCLUDED.{n}" for n in names if n not in ("id", "number", "created_at")
    )
    return (
        f"INSERT INTO incidents ({', '.join(names)}) "
        f"SELECT {', '.join(picks)} "
        f"FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS x({record}, n bigint) "
        f"ORDER BY x.n "
        f"ON CONFLICT (id) DO UPDATE SET {updates}"
    )


# One JSON document per statement, as for alerts: a batch touches hundreds of incidents, and
# per-row parameters (arrays above all) cost more on the client than the writes on the server.
_UPSERT = text(_upsert_sql())


def _row_values(incident: Incident, alert_count: int, seq: int) -> dict[str, object]:
    return {
        "state_seq": seq,
        "id": incident.id,
        "space": incident.space,
        "number": incident.number,
        "title": incident.title,
        "description": incident.description,
        "status": incident.status.value,
        "severity": incident.severity.value,
        "severity_locked": incident.severity_locked,
        "impact": incident.impact.value,
        "root_cause": incident.root_cause,
        "root_product_id": incident.root_product_id,
        "root_locked": incident.root_locked,
        "blast_radius": incident.blast_radius,
        "products": incident.products,
        "suspected_upstream": incident.suspected_upstream,
        "tags": incident.tags,
        "ticket_id": incident.ticket_id,
        "merged_into": incident.merged_into,
        "alert_count": alert_count,
        "version": incident.version,
        "created_at": incident.created_at,
        "updated_at": incident.updated_at,
        "resolved_at": incident.resolved_at,
        "cleared_at": incident.cleared_at,
        "first_alert_at": incident.first_alert_at,
        "last_alert_at": incident.last_alert_at,
        "cleared_by": sorted(incident.clears),
    }


def upsert_incidents(conn: Connection, incidents: Iterable[tuple[Incident, int]], seq: int) -> None:
    """Write incidents (insert or overwrite) in one statement, stamped with `seq`.

    Incidents stored for the first time get their number here (see number_new_incidents).
    """
    pairs = list(incidents)
    number_new_incidents(conn, [i for i, _ in pairs])
    values = [dict(_row_values(i, n, seq), n=k) for k, (i, n) in enumerate(pairs)]
    if values:
        conn.execute(_UPSERT, {"rows": orjson.dumps(values).decode()})


_TAKE_NUMBERS = text(
    "UPDATE spaces AS s SET last_incident_number = s.last_incident_number + x.n "
    "FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS x(slug text, n bigint) "
    "WHERE s.slug = x.slug RETURNING s.slug, s.last_incident_number"
)


def number_new_incidents(conn: Connection, incidents: Iterable[Incident]) -> None:
    """Give incidents without a number the next numbers of their space, in creation order.

    One statement for all spaces of the batch. It updates the spaces' rows, which stay locked
    until the transaction ends, so two transactions never hand out the same number and numbers
    follow the order in which incidents were committed.
    """
    new = sorted(
        (i for i in incidents if i.number is None),
        key=lambda i: (i.space, i.created_at, i.first_alert_at or i.created_at, i.id),
    )
    if not new:
        return
    counts = Counter(i.space for i in new)
    rows = conn.execute(
        _TAKE_NUMBERS,
        {"rows": orjson.dumps([{"slug": s, "n": n} for s, n in counts.items()]).decode()},
    )
    taken = {r.slug: int(r.last_incident_number) for r in rows}
    missing = sorted(set(counts) - set(taken))
    if missing:
        raise LookupError(f"incidents of unknown spaces: {', '.join(missing)}")
    following = {space: taken[space] - n for space, n in counts.items()}
    for incident in new:
        following[incident.space] += 1
        incident.number = following[incident.space]


def to_resource(incident: Incident, alert_count: int | None = None) -> IncidentResource:
    """The contract view of an incident."""
    return IncidentResource(
        id=incident.id,
        number=incident.number,
        space=incident.space,
        title=incident.title,
        description=incident.description,
        status=incident.status,
        severity=incident.severity,
        impact=incident.impact,
        alert_count=incident.alert_count if alert_count is None else alert_count,
        root_cause=incident.root_cause,
        root_product_id=incident.root_product_id,
        blast_radius_snapshot=list(incident.blast_radius),
        products=list(incident.products),
        suspected_upstream=list(incident.suspected_upstream),
        tags=list(incident.tags),
        ticket_id=incident.ticket_id,
        merged_into=incident.merged_into,
        version=incident.version,
        created_at=incident.created_at,
        updated_at=incident.updated_at,
        resolved_at=incident.resolved_at,
        first_alert_at=incident.first_alert_at,
        last_alert_at=incident.last_alert_at,
    )


def _alert_count(change: Change) -> int:
    # A merged incident gave its alerts away but keeps its last count in the snapshot.
    if change.merged:
        return len(change.history[-1].alert_ids) if change.history else 0
    return change.incident.alert_count


def save_outcome(
    conn: Connection,
    outcome: Outcome,
    *,
    now: datetime,
    topic: str,
    seq: int,
    new_alert_ids: Iterable[str] = (),
) -> int:
    """Persist incidents, history and one outbox event per incident, and re-point alerts.

    Alerts in `new_alert_ids` are not stored yet (the caller inserts them with their
    incident afterwards); every other assignment updates a stored alert (merges).
    """
    changes = sorted(outcome.changes.values(), key=lambda c: (c.merged, c.incident.id))
    upsert_incidents(conn, [(c.incident, _alert_count(c)) for c in changes], seq)
    new = set(new_alert_ids)
    assign_alerts(conn, {a: i for a, i in outcome.assignments.items() if a not in new}, now)
    history: list[dict[str, object]] = [
        {
            "incident_id": c.incident.id,
            "state": h.state.value,
            "alert_ids": h.alert_ids,
            "detail": h.detail,
            "at": h.at,
        }
        for c in changes
        for h in c.history
    ]
    for k, row in enumerate(history):
        row["n"] = k  # rows get ids in this order
    if history:
        conn.execute(_INSERT_HISTORY, {"rows": orjson.dumps(history).decode()})
    return publish_events(conn, [_event(c, now) for c in changes], topic)


def _event(change: Change, now: datetime) -> IncidentEvent:
    return incident_event(
        change.incident,
        _alert_count(change),
        change.event_type,
        sorted(set(change.added_alert_ids)),
        now=now,
    )


def incident_event(
    incident: Incident,
    alert_count: int,
    event_type: EventType,
    alert_ids: list[str],
    *,
    now: datetime,
) -> IncidentEvent:
    """The incident event (CONTRACT §3) about `incident` as it is now."""
    return IncidentEvent(
        event_id=str(uuid.uuid4()),
        event_type=event_type,
        occurred_at=now,
        space=incident.space,
        incident_id=incident.id,
        alert_ids=alert_ids,
        incident=to_resource(incident, alert_count),
    )


_INSERT_HISTORY = text(
    """
    INSERT INTO incident_history (incident_id, state, alert_ids, detail, at)
    SELECT x.incident_id, x.state, ARRAY(SELECT jsonb_array_elements_text(x.alert_ids)),
           x.detail, x.at
    FROM jsonb_to_recordset(CAST(:rows AS jsonb))
         AS x(incident_id uuid, state text, alert_ids jsonb, detail jsonb, at timestamptz, n bigint)
    ORDER BY x.n
    """
)
