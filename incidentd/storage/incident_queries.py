"""Reading incidents for the API: filtered lists, details, timelines."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, text

from incidentd.correlation.model import Incident
from incidentd.storage.incidents import incident_from_row

PROBLEM_START = "coalesce(first_alert_at, created_at)"
"""When an incident's problem started: its earliest alert's `occurred_at` (CONTRACT §6).

Windows, days and times to resolve are measured from it, not from when incidentd processed
the alerts, so a backlog replayed later gives the same figures as live traffic.
"""


@dataclass(frozen=True, slots=True)
class IncidentFilter:
    """Filters of the incident list (seed 000 and seed 001)."""

    status: str | None = None
    severities: tuple[str, ...] = ()
    impacts: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    product_ids: tuple[str, ...] = ()
    in_blast_radius: bool = False
    """Match `product_ids` against the blast radius (alerted and downstream products)."""
    unresolved: bool = False
    """Only incidents not resolved: `open` or `investigating`."""
    from_time: datetime | None = None
    to_time: datetime | None = None
    text: str | None = None
    include_merged: bool = False
    params: dict[str, Any] = field(default_factory=dict, compare=False)

    def where(self, space: str) -> tuple[str, dict[str, Any]]:
        """SQL condition and parameters."""
        clauses = ["space = :space"]
        params: dict[str, Any] = {"space": space}
        if not self.include_merged:
            clauses.append("merged_into IS NULL")
        if self.status:
            clauses.append("status = :status")
            params["status"] = self.status
        if self.unresolved:
            clauses.append("status <> 'resolved'")
        for name, column in (("severities", "severity"), ("impacts", "impact")):
            values = getattr(self, name)
            if values:
                clauses.append(f"{column} = ANY(CAST(:{name} AS text[]))")
                params[name] = list(values)
        if self.tags:
            clauses.append(
                "EXISTS (SELECT 1 FROM unnest(tags) AS ft(tag) "
                "WHERE lower(ft.tag) = ANY(CAST(:tags AS text[])))"
            )
            params["tags"] = sorted({t.lower() for t in self.tags})
        if self.product_ids:
            column = "blast_radius" if self.in_blast_radius else "products"
            clauses.append(f"{column} && CAST(:product_ids AS text[])")
            params["product_ids"] = list(self.product_ids)
        if self.from_time:
            clauses.append(f"{PROBLEM_START} >= :from_time")
            params["from_time"] = self.from_time
        if self.to_time:
            clauses.append(f"{PROBLEM_START} < :to_time")
            params["to_time"] = self.to_time
        if self.text:
            clauses.append(
                "(title ILIKE :text OR coalesce(description, '') ILIKE :text "
                "OR coalesce(root_cause, '') ILIKE :text OR id::text = :exact "
                "OR EXISTS (SELECT 1 FROM unnest(products) AS fp(id) WHERE fp.id ILIKE :text) "
                "OR EXISTS (SELECT 1 FROM products AS fn WHERE fn.space = :space "
                "AND fn.id = ANY(products) AND fn.name ILIKE :text))"
            )
            escaped = self.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            params["text"] = f"%{escaped}%"
            params["exact"] = self.text
        return " AND ".join(clauses), params


def list_incidents(
    conn: Connection, space: str, flt: IncidentFilter, skip: int, limit: int
) -> tuple[list[tuple[Incident, int]], int]:
    """A page of incidents, newest first, with their alert counts, and the total."""
    where, params = flt.where(space)
    total = conn.execute(text(f"SELECT count(*) FROM incidents WHERE {where}"), params).scalar()
    rows = conn.execute(
        text(
            f"SELECT * FROM incidents WHERE {where} "
            "ORDER BY created_at DESC, number DESC LIMIT :limit OFFSET :skip"
        ),
        {**params, "limit": limit, "skip": skip},
    ).fetchall()
    return [(incident_from_row(r), int(r.alert_count)) for r in rows], int(total or 0)


_ALERT_ROWS = text(
    """
    SELECT alert_id, product_id, alert_type, status, severity, occurred_at, fingerprint, title,
           added_at, incident_id::text AS incident_id
    FROM alerts
    WHERE incident_id = :i OR (space = :s AND alert_id = ANY(CAST(:also AS text[])))
    ORDER BY added_at, occurred_at, alert_id
    """
)
_MOVED_BY_MERGES = text(
    "SELECT DISTINCT unnest(alert_ids) FROM incident_history "
    "WHERE incident_id = :i AND state = 'MERGED'"
)


def alert_rows(conn: Connection, incident: Incident) -> list[Row[Any]]:
    """The incident's alerts in the order they were added, each with the incident storing it.

    That is the incident itself, except for a recovery stored with another incident that also
    cleared this one, and for the alerts of a merged incident (listed where they went).
    """
    key = uuid.UUID(incident.id)
    also = sorted(incident.clears)
    if incident.merged_into is not None:
        also = sorted({*also, *(r[0] for r in conn.execute(_MOVED_BY_MERGES, {"i": key}))})
    return list(conn.execute(_ALERT_ROWS, {"i": key, "s": incident.space, "also": also}))


def products_info(conn: Connection, space: str, ids: list[str]) -> dict[str, Row[Any]]:
    """Catalog rows of the given products."""
    if not ids:
        return {}
    rows = conn.execute(
        text(
            "SELECT id, name, tier, owners, stewards FROM products "
            "WHERE space = :s AND id = ANY(CAST(:ids AS text[]))"
        ),
        {"s": space, "ids": ids},
    )
    return {r.id: r for r in rows}
