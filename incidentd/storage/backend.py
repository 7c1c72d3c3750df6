"""Reads behind the asset-incident API (`/api/backend/{tenant}`): one statement per answer.

An incident is seen there as an incident on an asset: its root product, with the project and
connections the catalog gives that product, and the alert policy of the root's first firing
alert. Filters on those are SQL conditions on `incidents` (correlated subqueries on the
root's catalog row and first alert), so lists, the distribution and the summary share them
and nothing is read per incident from Python.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, text

from incidentd.storage.incident_queries import PROBLEM_START, IncidentFilter
from incidentd.storage.insights import incident_history

# The root product's catalog row and first firing alert, for an incidents row named {t}.
_ROOT_PRODUCT = "FROM products AS p WHERE p.space = {t}.space AND p.id = {t}.root_product_id"
_FIRST_ROOT_ALERT = (
    "FROM alerts AS a WHERE a.incident_id = {t}.id AND a.product_id = {t}.root_product_id "
    "AND a.status = 'firing' ORDER BY a.occurred_at, a.pk LIMIT 1"
)
_POLICY_ID = "a.raw -> 'check' ->> 'policy_id'"
_POLICY_NAME = "a.raw -> 'check' ->> 'policy_name'"


def _like(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


@dataclass(frozen=True, slots=True)
class AssetFilter(IncidentFilter):
    """The incident filters plus the asset's project, connections, policy and source names.

    `source_text` matches the root's first alert's policy name, or the id or catalog name of
    any product with an alert in the incident (case-insensitive substring).
    """

    project_ids: tuple[int, ...] = ()
    connection_types: tuple[str, ...] = ()
    connection_ids: tuple[str, ...] = ()
    policy_ids: tuple[str, ...] = ()
    source_text: str | None = None

    def where(self, space: str) -> tuple[str, dict[str, Any]]:
        """SQL condition on `incidents` and its parameters."""
        clause, params = IncidentFilter.where(self, space)
        clauses = [clause]
        root = _ROOT_PRODUCT.format(t="incidents")
        if self.project_ids:
            clauses.append(
                f"coalesce((SELECT p.project_id {root}), 0) = ANY(CAST(:project_ids AS integer[]))"
            )
            params["project_ids"] = list(self.project_ids)
        for name in ("connection_types", "connection_ids"):
            values = getattr(self, name)
            if values:
                clauses.append(f"EXISTS (SELECT 1 {root} AND p.{name} && CAST(:{name} AS text[]))")
                params[name] = list(values)
        first = _FIRST_ROOT_ALERT.format(t="incidents")
        if self.policy_ids:
            clauses.append(f"(SELECT {_POLICY_ID} {first}) = ANY(CAST(:policy_ids AS text[]))")
            params["policy_ids"] = list(self.policy_ids)
        if self.source_text:
            clauses.append(
                f"((SELECT {_POLICY_NAME} {first}) ILIKE :source_text OR EXISTS ("
                "SELECT 1 FROM unnest(incidents.products) AS x(id) LEFT JOIN products AS p "
                "ON p.space = incidents.space AND p.id = x.id "
                "WHERE x.id ILIKE :source_text OR p.name ILIKE :source_text))"
            )
            params["source_text"] = _like(self.source_text)
        return " AND ".join(clauses), params


_SELECT_ASSET_INCIDENTS = f"""
    SELECT i.id, i.number, i.root_product_id, coalesce(p.project_id, 0) AS project_id,
           i.last_alert_at, i.problem_start, i.severity, i.impact, i.status, i.ticket_id,
           first.policy_id, first.policy_name, coalesce(i.description, i.title) AS description,
           i.tags
    FROM (
        SELECT *, {PROBLEM_START} AS problem_start FROM incidents WHERE {{where}} {{page}}
    ) AS i
    LEFT JOIN products AS p ON p.space = i.space AND p.id = i.root_product_id
    LEFT JOIN LATERAL (
        SELECT {_POLICY_ID} AS policy_id, {_POLICY_NAME} AS policy_name
        {_FIRST_ROOT_ALERT.format(t="i")}
    ) AS first ON true
"""


def list_asset_incidents(
    conn: Connection, space: str, flt: AssetFilter, skip: int = 0, limit: int | None = None
) -> list[Row[Any]]:
    """Incidents matching `flt` as assets see them, the latest problem start first."""
    where, params = flt.where(space)
    # Ordered and cut before the joins: the root's catalog row and first alert are read only
    # for the incidents of the page.
    order = "ORDER BY problem_start DESC, number DESC"
    page = f"{order} OFFSET :skip" + ("" if limit is None else " LIMIT :limit")
    return list(
        conn.execute(
            text(_SELECT_ASSET_INCIDENTS.format(where=where, page=page) + f" {order}"),
            {**params, "skip": skip, "limit": limit},
        )
    )


def asset_incident(conn: Connection, space: str, number: int) -> Row[Any] | None:
    """Incident `number` of `space` as assets see it (merged ones too); None when absent."""
    return conn.execute(
        text(_SELECT_ASSET_INCIDENTS.format(where="space = :space AND number = :number", page="")),
        {"space": space, "number": number},
    ).first()


def incident_metrics(conn: Connection, incident_id: uuid.UUID) -> list[Row[Any]]:
    """Distinct metrics (name, segment, attribute) of the incident's alerts, first seen first."""
    return list(
        conn.execute(
            text(
                """
                SELECT metric_name, metric_aggregation, display_metric_name, segment, attribute
                FROM (
                    SELECT DISTINCT ON (metric_name, segment, attribute) *
                    FROM (
                        SELECT coalesce(raw -> 'metric' ->> 'name', alert_type) AS metric_name,
                               raw -> 'metric' ->> 'aggregation' AS metric_aggregation,
                               coalesce(raw -> 'check' ->> 'name', raw -> 'metric' ->> 'name',
                                        alert_type) AS display_metric_name,
                               raw ->> 'segment' AS segment, raw ->> 'attribute' AS attribute,
                               occurred_at, pk
                        FROM alerts WHERE incident_id = :i
                    ) AS m
                    ORDER BY metric_name, segment, attribute, occurred_at, pk
                ) AS d
                ORDER BY occurred_at, pk
                """
            ),
            {"i": incident_id},
        )
    )


@dataclass(frozen=True, slots=True)
class HistoryStep:
    """A history line with the time and fingerprint of each of its alerts."""

    state: str
    at: datetime
    alerts: list[tuple[datetime, str]]


def incident_steps(conn: Connection, space: str, incident_id: uuid.UUID) -> list[HistoryStep]:
    """The incident's history (as the native history reads it), alerts resolved in one query."""
    rows = incident_history(conn, space, str(incident_id)) or []
    ids = sorted({a for r in rows for a in r.alert_ids or ()})
    found = {
        r.alert_id: (r.occurred_at, r.fingerprint)
        for r in conn.execute(
            text(
                "SELECT alert_id, occurred_at, fingerprint FROM alerts "
                "WHERE space = :s AND alert_id = ANY(CAST(:ids AS text[]))"
            ),
            {"s": space, "ids": ids},
        )
    }
    return [
        HistoryStep(r.state, r.at, [found[a] for a in r.alert_ids or () if a in found])
        for r in rows
    ]


@dataclass(frozen=True, slots=True)
class AlertQuery:
    """Alerts by source (product or incident asset), upload time (to the ms) and fingerprint."""

    sources: tuple[str, ...] = ()
    upload_dates: tuple[datetime, ...] = ()
    violation_names: tuple[str, ...] = ()


def alerts_by_filters(conn: Connection, space: str, query: AlertQuery) -> list[Row[Any]]:
    """The space's alerts matching every non-empty list of `query`, oldest first."""
    clauses = ["a.space = :space"]
    params: dict[str, Any] = {"space": space}
    if query.sources:
        clauses.append(
            "(a.product_id = ANY(CAST(:sources AS text[])) "
            "OR i.root_product_id = ANY(CAST(:sources AS text[])))"
        )
        params["sources"] = list(query.sources)
    if query.upload_dates:
        clauses.append(
            "date_trunc('milliseconds', a.occurred_at) = ANY(CAST(:dates AS timestamptz[]))"
        )
        params["dates"] = list(query.upload_dates)
    if query.violation_names:
        clauses.append("a.fingerprint = ANY(CAST(:names AS text[]))")
        params["names"] = list(query.violation_names)
    return list(
        conn.execute(
            text(
                "SELECT a.alert_id, a.product_id, a.alert_type, a.severity, a.occurred_at, "
                "a.received_at, a.fingerprint, a.title, a.tags, a.raw, p.name AS product_name, "
                "coalesce(p.connection_types, '{}') AS connection_types, "
                "coalesce(p.project_id, 0) AS project_id, "
                "EXISTS (SELECT 1 FROM notifications AS n WHERE n.incident_id = a.incident_id) "
                "AS notified "
                "FROM alerts AS a LEFT JOIN incidents AS i ON i.id = a.incident_id "
                "LEFT JOIN products AS p ON p.space = a.space AND p.id = a.product_id "
                f"WHERE {' AND '.join(clauses)} ORDER BY a.occurred_at, a.pk"
            ),
            params,
        )
    )
