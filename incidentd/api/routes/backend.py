"""The asset-incident API under `/api/backend/{tenant}` (Telmai's incidents API as written).

`{tenant}` is a space slug; tokens, roles and the 401/403/404 rules are the native API's.
The mapping of incidentd's incidents onto the document's shapes is in the README.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, status
from sqlalchemy import Row

from incidentd.api.deps import Caller, Conn, SpaceAccess, space_access
from incidentd.api.params import choices, invalid, time_range, values, window
from incidentd.schemas.api.backend import (
    COUNT_KEYS,
    HISTORY_STATE_OF,
    PRIORITY_OF,
    AlertRef,
    AlertsByFilters,
    AssetAlert,
    AssetDay,
    AssetDistribution,
    AssetHistoryStep,
    AssetIncident,
    AssetIncidentDetail,
    AssetMetric,
    AssetSummary,
    Priority,
    asset_status,
    severities_of,
    truncate_millis,
)
from incidentd.schemas.api.errors import ApiError
from incidentd.schemas.common import Impact, IncidentStatus, Severity
from incidentd.storage.backend import (
    AlertQuery,
    AssetFilter,
    alerts_by_filters,
    asset_incident,
    incident_metrics,
    incident_steps,
    list_asset_incidents,
)
from incidentd.storage.insights import incident_distribution, incident_summary
from incidentd.storage.subscriptions import alert_channels, list_subscriptions

router = APIRouter(prefix="/api/backend/{tenant}", tags=["asset incidents"])
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing, invalid or revoked bearer token.", "model": ApiError},
    403: {"description": "The tenant lacks the `quality.incidents` feature.", "model": ApiError},
    404: {"description": "No such tenant (for you) or incident.", "model": ApiError},
    422: {"description": "An invalid filter or body; `detail` says which.", "model": ApiError},
}

TenantPath = Annotated[str, Path(min_length=1, max_length=63, description="The space slug.")]


def tenant_space(tenant: TenantPath, conn: Conn, caller: Caller) -> SpaceAccess:
    """The caller's access to the space `tenant`, which needs the incidents feature."""
    space = space_access(tenant, conn, caller)
    space.require_incidents()
    return space


Tenant = Annotated[SpaceAccess, Depends(tenant_space)]
_List = Annotated[list[str] | None, Query()]


def _integers(name: str, raw: list[str] | None) -> tuple[int, ...]:
    out = []
    for value in values(name, raw):
        if not (value.isascii() and value.isdigit()) or int(value) > 2**31 - 1:
            raise invalid(f"{name}: '{value}' is not a project id (an integer from 0)")
        out.append(int(value))
    return tuple(dict.fromkeys(out))


def _filter(
    *,
    project_ids: list[str] | None,
    connection_types: list[str] | None,
    alert_policy_ids: list[str] | None,
    severities: list[str] | None,
    impacts: list[str] | None,
    connection_ids: list[str] | None,
    text_to_search: str | None,
    start: datetime | None,
    end: datetime | None,
) -> AssetFilter:
    priorities = choices("severities", severities, Priority)
    return AssetFilter(
        severities=tuple(s.value for p in priorities for s in severities_of(Priority(p))),
        impacts=choices("impacts", impacts, Impact),
        from_time=start,
        to_time=end,
        project_ids=_integers("project_ids", project_ids),
        connection_types=tuple(v.upper() for v in values("connection_types", connection_types)),
        connection_ids=values("connection_ids", connection_ids),
        policy_ids=values("alert_policy_ids", alert_policy_ids),
        source_text=text_to_search.strip() if text_to_search and text_to_search.strip() else None,
    )


def list_filter(  # noqa: PLR0917 - FastAPI passes query parameters by keyword
    project_ids: Annotated[list[str] | None, Query(description="Integers, `0,24`.")] = None,
    connection_types: Annotated[list[str] | None, Query(description="`GCS,BIGQUERY`.")] = None,
    alert_policy_ids: Annotated[list[str] | None, Query(description="`4,5`.")] = None,
    severities: Annotated[list[str] | None, Query(description="LOW, MEDIUM, HIGH.")] = None,
    impacts: Annotated[list[str] | None, Query(description="LOW, MEDIUM, HIGH.")] = None,
    connection_ids: Annotated[list[str] | None, Query(description="Namespaces.")] = None,
    from_time: Annotated[
        datetime | None, Query(description="`created_time` at or after (ISO 8601).")
    ] = None,
    to_time: Annotated[datetime | None, Query(description="`created_time` before.")] = None,
    text_to_search: Annotated[
        str | None, Query(max_length=500, description="In policy names and source names.")
    ] = None,
) -> AssetFilter:
    """The document's nine filters; lists as `a,b` or repeated parameters."""
    start, end = time_range(from_time, to_time)
    return _filter(
        project_ids=project_ids,
        connection_types=connection_types,
        alert_policy_ids=alert_policy_ids,
        severities=severities,
        impacts=impacts,
        connection_ids=connection_ids,
        text_to_search=text_to_search,
        start=start,
        end=end,
    )


def window_filter(flt: Annotated[AssetFilter, Depends(list_filter)]) -> AssetFilter:
    """The same filters over a window: by default the last 30 days, at most 366."""
    start, end = window(flt.from_time, flt.to_time)
    return replace(flt, from_time=start, to_time=end)


def _ticket(value: str | None) -> int | str | None:
    if value is not None and value.isascii() and value.isdigit() and len(value) < 19:
        return int(value)
    return value


def _asset_incident(row: Row[Any]) -> dict[str, Any]:
    return {
        "id": row.number,
        "project_id": row.project_id,
        "asset_id": row.root_product_id,
        "last_upload_timestamp": row.last_alert_at,
        "created_time": row.problem_start,
        "severity": PRIORITY_OF[Severity(row.severity)],
        "impact": Priority(row.impact),
        "status": asset_status(IncidentStatus(row.status)),
        "ticket_id": _ticket(row.ticket_id),
        "alert_policy_id": row.policy_id,
        "alert_policy_name": row.policy_name,
        "description": row.description,
        "tags": list(row.tags),
    }


@router.get("/incidents", response_model=list[AssetIncident], responses=ERRORS)
def incidents(
    space: Tenant,
    conn: Conn,
    flt: Annotated[AssetFilter, Depends(list_filter)],
    skip: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: Annotated[int | None, Query(ge=1, le=10_000, description="Default: all.")] = None,
) -> list[AssetIncident]:
    """Incidents, the latest `created_time` first, as a bare array (merged ones left out)."""
    rows = list_asset_incidents(conn, space.slug, flt, skip, limit)
    return [AssetIncident(**_asset_incident(r)) for r in rows]


@router.get("/incidents/distribution", response_model=AssetDistribution, responses=ERRORS)
def distribution(
    space: Tenant, conn: Conn, flt: Annotated[AssetFilter, Depends(window_filter)]
) -> AssetDistribution:
    """Incidents per UTC day of the window, by severity and by impact, every day listed."""
    days = []
    for day in incident_distribution(conn, space.slug, flt):
        counts = dict.fromkeys(COUNT_KEYS, 0)
        for severity, n in day.by_severity.items():
            counts[PRIORITY_OF[Severity(severity)].value] += n
        by_impact = {i.value: day.by_impact.get(i.value, 0) for i in Priority}
        days.append(AssetDay(date=day.day.isoformat(), counts=counts, counts_by_impact=by_impact))
    return AssetDistribution(incidents=days)


def _hours(value: float | None) -> int | None:
    return None if value is None else int(value + 0.5)  # whole hours, half up


@router.get("/incidents/summary", response_model=AssetSummary, responses=ERRORS)
def summary(
    space: Tenant, conn: Conn, flt: Annotated[AssetFilter, Depends(window_filter)]
) -> AssetSummary:
    """Incidents whose problem started in the window: open, closed, by tag, and the MTTR.

    MTTR is the mean time from an incident's first alert to its resolution over incidents
    resolved in the window, in whole hours (half up); the previous one is over the window of
    the same length just before.
    """
    found = incident_summary(conn, space.slug, flt)
    return AssetSummary(
        total=found.total,
        open=found.open,
        closed=found.closed,
        mean_time_to_resolve=_hours(found.mttr_hours),
        previous_mean_time_to_resolve=_hours(found.previous_mttr_hours),
        open_by_tag=found.open_by_tag,
        closed_by_tag=found.closed_by_tag,
    )


@router.get("/incidents/{incidentId}", response_model=AssetIncidentDetail, responses=ERRORS)
def incident(
    incident_id: Annotated[
        int, Path(alias="incidentId", ge=1, le=2**63 - 1, description="The incident's number.")
    ],
    space: Tenant,
    conn: Conn,
) -> AssetIncidentDetail:
    """One incident with the metrics its alerts measured and its history with alert refs."""
    row = asset_incident(conn, space.slug, incident_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"incident {incident_id} not found")
    metrics = [AssetMetric(**m._asdict(), rule=None) for m in incident_metrics(conn, row.id)]
    history = [
        AssetHistoryStep(
            timestamp=step.at,
            state=HISTORY_STATE_OF[step.state],
            alert_refs=[AlertRef(metric_time=t, violation_name=v) for t, v in step.alerts],
        )
        for step in incident_steps(conn, space.slug, row.id)
        if step.state in HISTORY_STATE_OF
    ]
    return AssetIncidentDetail(**_asset_incident(row), metrics=metrics, history=history)


def _text(raw: dict[str, Any], *path: str) -> str | None:
    value: Any = raw
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value if isinstance(value, str) else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _asset_alert(row: Row[Any], channels: list[str], subscribed: bool) -> AssetAlert:
    raw: dict[str, Any] = row.raw if isinstance(row.raw, dict) else {}
    metric = raw.get("metric") if isinstance(raw.get("metric"), dict) else {}
    value = metric.get("value") if isinstance(metric, dict) else None
    priority = PRIORITY_OF[Severity(row.severity)]
    said = _text(raw, "description") or row.title or row.fingerprint
    return AssetAlert(
        type=row.alert_type.upper(),
        source=row.product_id,
        attribute=_text(raw, "attribute"),
        job_id=row.alert_id,
        create_time=row.occurred_at,
        save_time=row.received_at,
        violation_data=metric or {},
        violation_name=row.fingerprint,
        notification_channels=channels,
        is_notification_enabled=subscribed,
        metric_time=row.occurred_at,
        is_notified=row.notified or bool(channels),
        metric_value=_number(value),
        policy_name=_text(raw, "check", "policy_name"),
        segment=_text(raw, "segment"),
        priority=priority,
        description={priority.value: [said]},
        source_name=row.product_name or row.product_id,
        source_type=row.connection_types[0] if row.connection_types else "",
        project_name=str(row.project_id),
        tags=list(row.tags),
    )


@router.post("/configuration/alerts/by_filters", response_model=list[AssetAlert], responses=ERRORS)
def alerts(body: AlertsByFilters, space: Tenant, conn: Conn) -> list[AssetAlert]:
    """The alerts of an incident, from its `asset_id` and its history's `alert_refs`.

    `sources` match an alert's product or the asset of the incident holding it, so the
    document's recipe finds every alert of an incident; `upload_dates` match `metric_time` to
    the millisecond, `violation_names` the fingerprint. Reads only.
    """
    query = AlertQuery(
        sources=tuple(body.sources),
        upload_dates=tuple(truncate_millis(t) for t in body.upload_dates),
        violation_names=tuple(body.violation_names),
    )
    rows = alerts_by_filters(conn, space.slug, query)
    told = alert_channels(conn, space.slug, [r.alert_id for r in rows]) if rows else {}
    subscribed = bool(list_subscriptions(conn, [space.slug]))
    return [_asset_alert(r, told.get(r.alert_id, []), subscribed) for r in rows]
