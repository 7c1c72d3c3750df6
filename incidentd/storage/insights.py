"""Reading aggregates for the API (seed 001): history, distribution, summary, alert search.

Every function here only reads. Incidents that were merged into another one are left out of
the counts (their alerts and their story live on in the incident they were merged into).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row, text

from incidentd.schemas.common import Impact, Severity
from incidentd.storage.incident_queries import PROBLEM_START, IncidentFilter
from incidentd.storage.incident_refs import IncidentRef, find_incident_id

_ONE_TICK = timedelta(microseconds=1)


def _like(value: str) -> str:
    """A `%value%` pattern for ILIKE with the wildcards of `value` taken literally."""
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


# --- history -------------------------------------------------------------------------------


def incident_history(conn: Connection, space: str, incident_id: str) -> list[Row[Any]] | None:
    """The incident's history lines in the order they were written; None for no such incident.

    Lines are written under the space lock, so their ids follow the order things happened
    (their `at` may not, when workers' clocks disagree).
    """
    key = find_incident_id(conn, space, incident_id)
    if key is None:
        return None
    return list(
        conn.execute(
            text(
                "SELECT state, at, alert_ids, actor, detail FROM incident_history "
                "WHERE incident_id = :i ORDER BY id"
            ),
            {"i": key},
        )
    )


# --- distribution --------------------------------------------------------------------------


@dataclass(slots=True)
class DayCounts:
    """Incidents created on one UTC day, by severity and by impact (every key present)."""

    day: date
    total: int
    by_severity: dict[str, int]
    by_impact: dict[str, int]


def window_days(start: datetime, end: datetime) -> list[date]:
    """Every UTC day that `[start, end)` touches, in order."""
    first = start.astimezone(UTC).date()
    last = (end.astimezone(UTC) - _ONE_TICK).date()
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def incident_distribution(conn: Connection, space: str, flt: IncidentFilter) -> list[DayCounts]:
    """Per UTC day the problem started, over the filter's window (which must be set), zeros kept."""
    if flt.from_time is None or flt.to_time is None:
        raise ValueError("the distribution needs a window (from_time and to_time)")
    where, params = flt.where(space)
    rows = conn.execute(
        text(
            f"SELECT ({PROBLEM_START} AT TIME ZONE 'UTC')::date AS day, severity, impact, "
            f"count(*) AS n FROM incidents WHERE {where} GROUP BY 1, 2, 3"
        ),
        params,
    )
    days = {
        d: DayCounts(d, 0, {s.value: 0 for s in Severity}, {i.value: 0 for i in Impact})
        for d in window_days(flt.from_time, flt.to_time)
    }
    for row in rows:
        counts = days.get(row.day)
        if counts is None:  # pragma: no cover - the window bounds created_at
            continue
        n = int(row.n)
        counts.by_severity[row.severity] = counts.by_severity.get(row.severity, 0) + n
        counts.by_impact[row.impact] = counts.by_impact.get(row.impact, 0) + n
        counts.total += n
    return list(days.values())


# --- summary -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Summary:
    """Counts over incidents created in a window and the mean time to resolve."""

    total: int
    open: int
    closed: int
    open_by_tag: dict[str, int]
    closed_by_tag: dict[str, int]
    mttr_hours: float | None
    previous_mttr_hours: float | None


def mean_hours_to_resolve(
    conn: Connection, space: str, flt: IncidentFilter, start: datetime, end: datetime
) -> float | None:
    """Mean of `resolved_at - first_alert_at` in hours over incidents resolved in `[start, end)`.

    Both are times of the problem (an auto-resolved incident is resolved at its clearing
    recovery's `occurred_at`). The filter's own window is ignored; merged incidents never count.
    """
    where, params = replace(flt, from_time=None, to_time=None, include_merged=False).where(space)
    value = conn.execute(
        text(
            f"SELECT avg(extract(epoch FROM resolved_at - {PROBLEM_START})) / 3600 FROM incidents "
            f"WHERE {where} AND resolved_at >= :resolved_from AND resolved_at < :resolved_to"
        ),
        {**params, "resolved_from": start, "resolved_to": end},
    ).scalar()
    return None if value is None else round(float(value), 2)


def incident_summary(conn: Connection, space: str, flt: IncidentFilter) -> Summary:
    """Summary over the filter's window (which must be set), merged incidents left out.

    `open` counts `open` and `investigating` incidents, `closed` the `resolved` ones (by their
    status now). The previous MTTR is over the window of the same length right before.
    """
    start, end = flt.from_time, flt.to_time
    if start is None or end is None:
        raise ValueError("the summary needs a window (from_time and to_time)")
    flt = replace(flt, status=None, include_merged=False)
    where, params = flt.where(space)
    counts = {
        row.closed: int(row.n)
        for row in conn.execute(
            text(
                "SELECT status = 'resolved' AS closed, count(*) AS n FROM incidents "
                f"WHERE {where} GROUP BY 1"
            ),
            params,
        )
    }
    by_tag: dict[bool, dict[str, int]] = {True: {}, False: {}}
    for row in conn.execute(
        text(
            "SELECT status = 'resolved' AS closed, tag, count(DISTINCT id) AS n "
            f"FROM incidents CROSS JOIN LATERAL unnest(tags) AS t(tag) WHERE {where} "
            "GROUP BY 1, 2 ORDER BY 1, 3 DESC, 2"
        ),
        params,
    ):
        by_tag[row.closed][row.tag] = int(row.n)
    length = end - start
    return Summary(
        total=sum(counts.values()),
        open=counts.get(False, 0),
        closed=counts.get(True, 0),
        open_by_tag=by_tag[False],
        closed_by_tag=by_tag[True],
        mttr_hours=mean_hours_to_resolve(conn, space, flt, start, end),
        previous_mttr_hours=mean_hours_to_resolve(conn, space, flt, start - length, start),
    )


def weekly_hours_to_resolve(conn: Connection, space: str, flt: IncidentFilter) -> dict[date, float]:
    """Per week (its Monday, UTC) in which problems started: the mean hours to resolve them.

    Over the filter's resolved, unmerged incidents; weeks with none are absent.
    """
    where, params = replace(flt, status="resolved", unresolved=False).where(space)
    rows = conn.execute(
        text(
            f"SELECT date_trunc('week', {PROBLEM_START} AT TIME ZONE 'UTC')::date AS week, "
            f"avg(extract(epoch FROM resolved_at - {PROBLEM_START})) / 3600 AS hours "
            f"FROM incidents WHERE {where} GROUP BY 1"
        ),
        params,
    )
    return {row.week: float(row.hours) for row in rows}


# --- alert search --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AlertFilter:
    """Filters of the alert search; empty tuples and None mean "any"."""

    severities: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    product_ids: tuple[str, ...] = ()
    alert_types: tuple[str, ...] = ()
    alert_ids: tuple[str, ...] = ()
    incident: IncidentRef | None = None
    from_time: datetime | None = None
    to_time: datetime | None = None
    text: str | None = None

    def where(self, space: str) -> tuple[str, dict[str, Any]]:
        """SQL condition on `alerts` and its parameters."""
        clauses = ["space = :space"]
        params: dict[str, Any] = {"space": space}
        for name, column in (
            ("severities", "severity"),
            ("statuses", "status"),
            ("product_ids", "product_id"),
            ("alert_types", "alert_type"),
            ("alert_ids", "alert_id"),
        ):
            values = getattr(self, name)
            if values:
                clauses.append(f"{column} = ANY(CAST(:{name} AS text[]))")
                params[name] = list(values)
        if self.incident is not None:
            ref, ref_params = self.incident.condition("i")
            clauses.append(
                f"incident_id = (SELECT i.id FROM incidents AS i WHERE i.space = :space AND {ref})"
            )
            params.update(ref_params)
        if self.from_time is not None:
            clauses.append("occurred_at >= :from_time")
            params["from_time"] = self.from_time
        if self.to_time is not None:
            clauses.append("occurred_at < :to_time")
            params["to_time"] = self.to_time
        if self.text:
            clauses.append(
                "(coalesce(title, '') ILIKE :text OR alert_id ILIKE :text "
                "OR fingerprint ILIKE :text)"
            )
            params["text"] = _like(self.text)
        return " AND ".join(clauses), params


_ALERT_FIELDS = """
    alert_id, space, product_id, alert_type, status, severity, occurred_at, fingerprint,
    title, tags, incident_id, added_at, received_at,
    CASE WHEN jsonb_typeof(raw -> 'description') = 'string' THEN raw ->> 'description' END
        AS description,
    CASE WHEN jsonb_typeof(raw -> 'attribute') = 'string' THEN raw ->> 'attribute' END
        AS attribute,
    CASE WHEN jsonb_typeof(raw -> 'segment') = 'string' THEN raw ->> 'segment' END AS segment,
    CASE WHEN jsonb_typeof(raw -> 'source') = 'string' THEN raw ->> 'source' END AS source,
    CASE WHEN jsonb_typeof(raw -> 'check') = 'object' THEN raw -> 'check' END AS "check",
    CASE WHEN jsonb_typeof(raw -> 'metric') = 'object' THEN raw -> 'metric' END AS metric
"""


def search_alerts(
    conn: Connection, space: str, flt: AlertFilter, skip: int, limit: int
) -> tuple[list[Row[Any]], int]:
    """A page of the space's alerts, newest `occurred_at` first, and how many match."""
    where, params = flt.where(space)
    total = conn.execute(text(f"SELECT count(*) FROM alerts WHERE {where}"), params).scalar()
    rows = conn.execute(
        text(
            f"SELECT {_ALERT_FIELDS} FROM alerts WHERE {where} "
            "ORDER BY occurred_at DESC, pk DESC LIMIT :limit OFFSET :skip"
        ),
        {**params, "limit": limit, "skip": skip},
    )
    return list(rows), int(total or 0)
