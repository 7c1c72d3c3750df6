"""Alert rows: idempotent batch insert and loading for correlation."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import orjson
from psycopg.errors import UniqueViolation
from psycopg.types.json import Jsonb
from sqlalchemy import Connection, Row, text
from sqlalchemy.exc import IntegrityError

from incidentd.correlation.model import Alert
from incidentd.schemas.common import AlertStatus, Severity
from incidentd.storage.copy import copy_rows

# One JSON document carries the whole batch: no per-element array escaping on the client,
# and the raw payload is embedded as JSON rather than parsed twice.
_INSERT = text(
    """
    INSERT INTO alerts (alert_id, space, product_id, alert_type, status, severity,
                        occurred_at, fingerprint, title, tags, raw, incident_id, added_at)
    SELECT x.alert_id, x.space, x.product_id, x.alert_type, x.status, x.severity,
           x.occurred_at, x.fingerprint, x.title,
           ARRAY(SELECT jsonb_array_elements_text(x.tags)), x.raw, x.incident_id,
           CASE WHEN x.incident_id IS NULL THEN NULL ELSE CAST(:now AS timestamptz) END
    FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS x(
        alert_id text, space text, product_id text, alert_type text, status text,
        severity text, occurred_at timestamptz, fingerprint text, title text, tags jsonb,
        raw jsonb, incident_id uuid)
    ORDER BY x.space, x.alert_id
    ON CONFLICT (space, alert_id) DO NOTHING
    """
)

# Correlation reads only these columns; the raw payload stays in the database.
ALERT_COLUMNS = (
    "alert_id, space, product_id, alert_type, status, severity, occurred_at, fingerprint, "
    "title, tags, incident_id"
)


@dataclass(frozen=True, slots=True)
class NewAlert:
    """An alert ready to store: the domain view plus its raw JSON text."""

    alert: Alert
    raw_json: str
    origin: Any = None
    """Where the record came from (the worker's consumed record); storage ignores it."""


AlertKey = tuple[str, str]
"""(space, alert_id): an alert's identity; the same id in two spaces is two alerts."""

# Spaces and ids as two arrays: an index scan of the unique (space, alert_id) index (joining an
# unnested list of pairs was planned as a hash join over the whole table, 15x slower at 200,000
# rows). An id another listed space also uses may come back and is dropped here.
_BY_KEYS = "WHERE space = ANY(CAST(:spaces AS text[])) AND alert_id = ANY(CAST(:ids AS text[]))"


def _by_keys(conn: Connection, columns: str, keys: set[AlertKey]) -> list[Row[Any]]:
    if not keys:
        return []
    spaces, ids = sorted({s for s, _ in keys}), sorted({i for _, i in keys})
    rows = conn.execute(
        text(f"SELECT {columns} FROM alerts {_BY_KEYS}"), {"spaces": spaces, "ids": ids}
    )
    return [r for r in rows if (r.space, r.alert_id) in keys]


def existing_alert_ids(conn: Connection, keys: Iterable[AlertKey]) -> set[AlertKey]:
    """Which of these (space, alert_id) keys are stored already."""
    return {(r.space, r.alert_id) for r in _by_keys(conn, "space, alert_id", set(keys))}


def load_alerts(conn: Connection, keys: Iterable[AlertKey]) -> dict[AlertKey, Alert]:
    """The stored alerts with these (space, alert_id) keys, by key."""
    rows = _by_keys(conn, ALERT_COLUMNS, set(keys))
    return {(r.space, r.alert_id): alert_from_row(r) for r in rows}


def insert_alerts(
    conn: Connection,
    alerts: Sequence[NewAlert],
    incident_of: Mapping[AlertKey, str | None] | None = None,
    now: datetime | None = None,
) -> int:
    """Insert alerts (with their incident, by (space, alert_id)); returns how many were inserted.

    A binary COPY first (about a third cheaper than any INSERT measured, bench/insert_cost.py);
    when a key is stored already it fails as a whole, is undone to a savepoint, and the batch
    goes through the statement that skips stored ids (`ON CONFLICT DO NOTHING`), so a replay
    inserts nothing. (A count rather than the ids: reading 2,000 ids back cost more than the
    check is worth.)
    """
    if not alerts:
        return 0
    incident_of = incident_of or {}
    unique = {(a.alert.space, a.alert.alert_id): a for a in alerts}
    when = now or datetime.now(UTC)
    rows = (_copy_row(item, incident_of, when) for item in sorted(unique.items()))
    conn.execute(_SAVEPOINT)
    try:
        return copy_rows(conn, _COPY, _COPY_TYPES, rows)
    except IntegrityError as exc:
        if not isinstance(exc.orig, UniqueViolation):
            raise
        conn.execute(_ROLLBACK_TO)
    return insert_alerts_skipping_stored(conn, list(unique.values()), incident_of, when)


_SAVEPOINT = text("SAVEPOINT insert_alerts")
_ROLLBACK_TO = text("ROLLBACK TO SAVEPOINT insert_alerts")
_COPY = (
    "COPY alerts (alert_id, space, product_id, alert_type, status, severity, occurred_at, "
    "fingerprint, title, tags, raw, incident_id, added_at) FROM STDIN (FORMAT BINARY)"
)
_COPY_TYPES = [
    *["text"] * 6,
    "timestamptz",
    "text",
    "text",
    "text[]",
    "jsonb",
    "uuid",
    "timestamptz",
]


def _copy_row(
    item: tuple[AlertKey, NewAlert], incident_of: Mapping[AlertKey, str | None], now: datetime
) -> tuple[Any, ...]:
    a = item[1].alert
    incident = incident_of.get(item[0])
    return (
        a.alert_id,
        a.space,
        a.product_id,
        a.alert_type,
        a.status.value,
        a.severity.value,
        a.occurred_at,
        a.fingerprint,
        a.title,
        list(a.tags),
        Jsonb(item[1].raw_json, dumps=_as_is),
        None if incident is None else UUID(str(incident)),
        now if incident is not None else None,
    )


def _as_is(text: Any) -> str:
    return str(text)  # the record's own JSON text, validated by the parser


def insert_alerts_skipping_stored(
    conn: Connection,
    alerts: Sequence[NewAlert],
    incident_of: Mapping[AlertKey, str | None],
    now: datetime,
) -> int:
    """Insert alerts of distinct keys in one statement that skips keys stored already."""
    parts = []
    for new in alerts:
        a = new.alert
        head = orjson.dumps(
            {
                "alert_id": a.alert_id,
                "space": a.space,
                "product_id": a.product_id,
                "alert_type": a.alert_type,
                "status": a.status.value,
                "severity": a.severity.value,
                "occurred_at": a.occurred_at,
                "fingerprint": a.fingerprint,
                "title": a.title,
                "tags": list(a.tags),
                "incident_id": incident_of.get((a.space, a.alert_id)),
            }
        )
        parts.append(head[:-1] + b',"raw":' + new.raw_json.encode() + b"}")
    params = {"rows": (b"[" + b",".join(parts) + b"]").decode(), "now": now}
    return int(conn.execute(_INSERT, params).rowcount)


_ORPHANS = text(
    f"""
    SELECT {ALERT_COLUMNS} FROM alerts
    WHERE space = :space AND fingerprint = ANY(CAST(:fps AS text[]))
      AND incident_id IS NULL AND status = 'resolved'
    """
)


def load_orphan_recoveries(
    conn: Connection, space: str, fingerprints: Iterable[str]
) -> list[Alert]:
    """Stored recoveries of `space` with one of `fingerprints` that no incident holds.

    A recovery that arrives before its failure finds no incident and is stored unassigned;
    the failure, when it comes, claims it (see `correlation.engine.correlate`).
    """
    fps = sorted(set(fingerprints))
    if not fps:
        return []
    rows = conn.execute(_ORPHANS, {"space": space, "fps": fps})
    return [alert_from_row(r) for r in rows]


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


def assign_alerts(conn: Connection, assignments: Mapping[str, str | None], now: datetime) -> None:
    """Point stored alerts at their incidents; `added_at` keeps the first time one joined.

    An alert id names the alert of the incident's own space.
    """
    pairs = sorted((a, i) for a, i in assignments.items() if i is not None)
    if not pairs:
        return
    conn.execute(
        text(
            "UPDATE alerts AS a SET incident_id = v.iid, added_at = coalesce(a.added_at, :now) "
            "FROM jsonb_to_recordset(CAST(:pairs AS jsonb)) AS v(aid text, iid uuid) "
            "JOIN incidents AS i ON i.id = v.iid "
            "WHERE a.space = i.space AND a.alert_id = v.aid "
            "AND a.incident_id IS DISTINCT FROM v.iid"
        ),
        {"pairs": orjson.dumps([{"aid": a, "iid": i} for a, i in pairs]).decode(), "now": now},
    )
