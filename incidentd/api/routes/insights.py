"""Seed 001 adapted to spaces: history, distribution, summary and alert search (reads only).

Include this router before the incidents router: `/incidents/distribution` and
`/incidents/summary` would otherwise be taken for incident ids.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from incidentd.api.deps import Conn, IncidentSpace
from incidentd.api.params import (
    FromTime,
    Impacts,
    ProductIds,
    ProductMatch,
    ProductMatchParam,
    Severities,
    Tags,
    TextToSearch,
    ToTime,
    choices,
    invalid,
    time_range,
    values,
    window,
)
from incidentd.api.routes.incidents import NOT_FOUND, filter_of
from incidentd.correlation.lifecycle import IncidentNotFoundError
from incidentd.schemas.api.alerts import AlertPage, AlertSearch, AlertSearchItem
from incidentd.schemas.api.history import HistoryEntryOut
from incidentd.schemas.api.insights import DayDistribution, IncidentDistribution, IncidentSummary
from incidentd.schemas.common import (
    AlertStatus,
    IncidentStatus,
    Severity,
)
from incidentd.storage.incident_queries import IncidentFilter
from incidentd.storage.incident_refs import IncidentRef
from incidentd.storage.insights import (
    AlertFilter,
    incident_distribution,
    incident_history,
    incident_summary,
    search_alerts,
)

router = APIRouter(prefix="/spaces/{slug}")
INVALID: dict[int | str, dict[str, Any]] = {
    422: {"description": "An invalid filter or window; `detail` says which."}
}


def distribution_filter(  # noqa: PLR0917 - FastAPI passes query parameters by keyword
    severities: Severities = None,
    impacts: Impacts = None,
    tags: Tags = None,
    product_ids: ProductIds = None,
    from_time: FromTime = None,
    to_time: ToTime = None,
    text_to_search: TextToSearch = None,
    status_: Annotated[
        IncidentStatus | None, Query(alias="status", description="Their status now.")
    ] = None,
    product_match: ProductMatchParam = ProductMatch.ALERTED,
) -> IncidentFilter:
    """The list filters (seed 001) over a window of at most 366 days."""
    return filter_of(
        severities,
        impacts,
        tags,
        product_ids,
        window(from_time, to_time),
        text_to_search,
        product_match,
        status_,
    )


def summary_filter(  # noqa: PLR0917 - FastAPI passes query parameters by keyword
    severities: Severities = None,
    impacts: Impacts = None,
    tags: Tags = None,
    product_ids: ProductIds = None,
    from_time: FromTime = None,
    to_time: ToTime = None,
    text_to_search: TextToSearch = None,
    product_match: ProductMatchParam = ProductMatch.ALERTED,
) -> IncidentFilter:
    """The list filters but `status` (the summary splits by status itself)."""
    return distribution_filter(
        severities=severities,
        impacts=impacts,
        tags=tags,
        product_ids=product_ids,
        from_time=from_time,
        to_time=to_time,
        text_to_search=text_to_search,
        product_match=product_match,
    )


# --- incidents -----------------------------------------------------------------------------


@router.get(
    "/incidents/distribution",
    response_model=IncidentDistribution,
    responses={**NOT_FOUND, **INVALID},
    tags=["incidents"],
)
def distribution(
    space: IncidentSpace, conn: Conn, flt: Annotated[IncidentFilter, Depends(distribution_filter)]
) -> IncidentDistribution:
    """Incidents per UTC day their problem started, by severity and impact, in the window.

    Every day the window touches is listed, zeros included; merged incidents are left out.
    The list filters apply (`status` is the incidents' status now).
    """
    assert flt.from_time is not None and flt.to_time is not None
    days = incident_distribution(conn, space.slug, flt)
    return IncidentDistribution(
        from_time=flt.from_time,
        to_time=flt.to_time,
        days=[
            DayDistribution(
                date=d.day, total=d.total, by_severity=d.by_severity, by_impact=d.by_impact
            )
            for d in days
        ],
    )


@router.get(
    "/incidents/summary",
    response_model=IncidentSummary,
    responses={**NOT_FOUND, **INVALID},
    tags=["incidents"],
)
def summary(
    space: IncidentSpace, conn: Conn, flt: Annotated[IncidentFilter, Depends(summary_filter)]
) -> IncidentSummary:
    """Totals of incidents whose problem started in the window, and the mean time to resolve.

    Merged incidents are left out everywhere: they were folded into another incident, not
    resolved. `open` counts `open` and `investigating`, `closed` counts `resolved` (status
    now). `mttr_hours` is the mean `resolved_at - first_alert_at` of incidents resolved inside
    the window, wherever they were created; `previous_mttr_hours` the same over the window of
    equal length right before. Both are null when nothing was resolved, rounded to 0.01 h.
    The list filters but `status` apply to all figures.
    """
    assert flt.from_time is not None and flt.to_time is not None
    found = incident_summary(conn, space.slug, flt)
    return IncidentSummary(
        total=found.total,
        open=found.open,
        closed=found.closed,
        mttr_hours=found.mttr_hours,
        previous_mttr_hours=found.previous_mttr_hours,
        open_by_tag=found.open_by_tag,
        closed_by_tag=found.closed_by_tag,
        from_time=flt.from_time,
        to_time=flt.to_time,
    )


@router.get(
    "/incidents/{incident_id}/history",
    response_model=list[HistoryEntryOut],
    responses=NOT_FOUND,
    tags=["incidents"],
)
def history(incident_id: str, space: IncidentSpace, conn: Conn) -> list[HistoryEntryOut]:
    """The incident's life, oldest first: NEW, ONGOING, RESOLVED, REOPENED, MERGED.

    Each step lists the alerts it concerns (added, moved by a merge, or the one that cleared
    it); `detail` holds `merged_into` / `merged_from` for merges and `changed` for edits,
    `actor` who made a change through the API. A merged incident keeps its history.
    """
    rows = incident_history(conn, space.slug, incident_id)
    if rows is None:
        raise IncidentNotFoundError(incident_id)
    return [
        HistoryEntryOut(
            state=r.state,
            at=r.at,
            alert_ids=list(r.alert_ids or ()),
            actor=r.actor,
            detail=r.detail if isinstance(r.detail, dict) else {},
        )
        for r in rows
    ]


# --- alerts --------------------------------------------------------------------------------


def _incident_key(value: str | None) -> IncidentRef | None:
    if value is None or not value.strip():
        return None
    ref = IncidentRef.parse(value)
    if ref is None:
        raise invalid("incident_id must be an incident id (a UUID) or number")
    return ref


def alert_filter(  # noqa: PLR0917 - FastAPI passes query parameters by keyword
    severities: Severities = None,
    statuses: Annotated[
        list[str] | None, Query(description="firing, resolved (any case, a,b)")
    ] = None,
    product_ids: Annotated[list[str] | None, Query()] = None,
    alert_types: Annotated[list[str] | None, Query()] = None,
    alert_ids: Annotated[
        list[str] | None, Query(description="Exact ids, e.g. a history step's `alert_ids`.")
    ] = None,
    incident_id: Annotated[str | None, Query(max_length=100)] = None,
    from_time: Annotated[
        datetime | None, Query(description="occurred_at >= from_time (RFC 3339).")
    ] = None,
    to_time: Annotated[datetime | None, Query(description="occurred_at < to_time.")] = None,
    text_to_search: Annotated[
        str | None, Query(max_length=500, description="In the title, alert id or fingerprint.")
    ] = None,
) -> AlertFilter:
    """The alert search filters from the query string."""
    start, end = time_range(from_time, to_time)
    return AlertFilter(
        severities=choices("severities", severities, Severity),
        statuses=choices("statuses", statuses, AlertStatus),
        product_ids=values("product_ids", product_ids),
        alert_types=values("alert_types", alert_types),
        alert_ids=values("alert_ids", alert_ids, limit=200),
        incident=_incident_key(incident_id),
        from_time=start,
        to_time=end,
        text=text_to_search or None,
    )


def _alert_page(conn: Conn, slug: str, flt: AlertFilter, skip: int, limit: int) -> AlertPage:
    rows, total = search_alerts(conn, slug, flt, skip, limit)
    items = [
        AlertSearchItem(
            alert_id=r.alert_id,
            space=r.space,
            product_id=r.product_id,
            alert_type=r.alert_type,
            status=r.status,
            severity=r.severity,
            occurred_at=r.occurred_at,
            fingerprint=r.fingerprint,
            title=r.title,
            tags=list(r.tags or ()),
            incident_id=None if r.incident_id is None else str(r.incident_id),
            added_at=r.added_at,
            received_at=r.received_at,
            description=r.description,
            attribute=r.attribute,
            segment=r.segment,
            source=r.source,
            check=r.check,
            metric=r.metric,
        )
        for r in rows
    ]
    return AlertPage(items=items, total=total)


@router.get("/alerts", response_model=AlertPage, responses=INVALID, tags=["alerts"])
def alerts(
    space: IncidentSpace,
    conn: Conn,
    flt: Annotated[AlertFilter, Depends(alert_filter)],
    skip: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> AlertPage:
    """Search the space's alerts, newest `occurred_at` first, with the incident of each.

    Lists take `?x=a&x=b` or `?x=a,b`; severities and statuses are case-insensitive. The
    time window is on `occurred_at`, `[from_time, to_time)`.
    """
    return _alert_page(conn, space.slug, flt, skip, limit)


@router.post("/alerts/search", response_model=AlertPage, responses=INVALID, tags=["alerts"])
def alerts_by_filters(body: AlertSearch, space: IncidentSpace, conn: Conn) -> AlertPage:
    """Seed 001 "alerts by filters": the filters of `GET /alerts` as a JSON body (reads only)."""
    start, end = time_range(body.from_time, body.to_time)
    flt = AlertFilter(
        severities=choices("severities", body.severities, Severity, split=False),
        statuses=choices("statuses", body.statuses, AlertStatus, split=False),
        product_ids=values("product_ids", body.product_ids, split=False),
        alert_types=values("alert_types", body.alert_types, split=False),
        alert_ids=values("alert_ids", body.alert_ids, split=False, limit=200),
        incident=_incident_key(body.incident_id),
        from_time=start,
        to_time=end,
        text=body.text_to_search or None,
    )
    return _alert_page(conn, space.slug, flt, body.skip, body.limit)
