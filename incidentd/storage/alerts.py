"""Alert rows: idempotent batch insert and loading for correlation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection, Row, text

from incidentd.correlation.model import Alert
from incidentd.schemas.common import AlertStatus, Severity

_INSERT = text(
    """
    INSERT INTO alerts (alert_id, space, product_id, alert_type, status, severity,
                        occurred_at, fingerprint, title, tags, raw)
    SELECT u.alert_id, u.space, u.product_id, u.alert_type, u.status, u.severity,
           u.occurred_at, u.fingerprint, u.title,
           ARRAY(SELECT jsonb_array_elements_text(CAST(u.tags AS jsonb))),
           CAST(u.raw AS jsonb)
    FROM unnest(CAST(:alert_id AS text[]), CAST(:space AS text[]), CAST(:product_id AS text[]),
                CAST(:alert_type AS text[]), CAST(:status AS text[]), CAST(:severity AS text[]),
                CAST(:occurred_at AS timestamptz[]), CAST(:fingerprint AS text[]),
                CAST(:title AS text[]), CAST(:tags AS text[]), CAST(:raw AS text[]))
         AS u(alert_id, space, product_id, alert_type, status, severity, occurred_at,
              fingerprint, title, tags, raw)
    ORDER BY u.alert_id
    ON CONFLICT (alert_id) DO NOTHING
    RETURNING alert_id
    """
)


@dataclass(frozen=True, slots=True)
class NewAlert:
    """An alert ready to store: the domain view plus its raw JSON text."""

    alert: Alert
    raw_json: str
    origin: Any = None
    """Where the record came from (the worker's dead-letter template); storage ignores it."""


def insert_alerts(conn: Connection, alerts: Sequence[NewAlert]) -> set[str]:
    """Insert alerts in one statement; returns the ids that were new (replays are skipped)."""
    if not alerts:
        return set()
    unique = {a.alert.alert_id: a for a in alerts}
    rows = list(unique.values())
    params = {
        "alert_id": [r.alert.alert_id for r in rows],
        "space": [r.alert.space for r in rows],
        "product_id": [r.alert.product_id for r in rows],
        "alert_type": [r.alert.alert_type for r in rows],
        "status": [r.alert.status.value for r in rows],
        "severity": [r.alert.severity.value for r in rows],
        "occurred_at": [r.alert.occurred_at for r in rows],
        "fingerprint": [r.alert.fingerprint for r in rows],
        "title": [r.alert.title for r in rows],
        "tags": [orjson.dumps(list(r.alert.tags)).decode() for r in rows],
        "raw": [r.raw_json for r in rows],
    }
    return {row[0] for row in conn.execute(_INSERT, params)}


def alert_from_row(row: Row[Any]) -> Alert:
    """A domain alert from an `alerts` row."""
    return Alert(
        alert_id=row.alert_id,
        space=row.space,
        product_id=row.product_id,
        alert_type=row.alert_type,
        status=AlertStatus(row.status),
        severity=Severity(row.severity),
        occurred_at=row.occurred_at,
        fingerprint=row.fingerprint,
        title=row.title,
        tags=tuple(row.tags),
    )


def assign_alerts(conn: Connection, assignments: dict[str, str | None], now: object) -> None:
    """Point alerts at their incidents; `added_at` keeps the first time an alert joined."""
    pairs = sorted((a, i) for a, i in assignments.items() if i is not None)
    if not pairs:
        return
    conn.execute(
        text(
            "UPDATE alerts AS a SET incident_id = CAST(v.iid AS uuid), "
            "added_at = coalesce(a.added_at, :now) "
            "FROM unnest(CAST(:aids AS text[]), CAST(:iids AS text[])) AS v(aid, iid) "
            "WHERE a.alert_id = v.aid AND a.incident_id IS DISTINCT FROM CAST(v.iid AS uuid)"
        ),
        {"aids": [p[0] for p in pairs], "iids": [p[1] for p in pairs], "now": now},
    )
