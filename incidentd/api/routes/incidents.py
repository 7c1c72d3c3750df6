"""Seed 000: list, get, timeline, update, resolve and link a ticket."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from incidentd.api.deps import AppState, Conn, IncidentSpace, IncidentSpaceWrite, app_state
from incidentd.api.params import (
    Impacts,
    ProductIds,
    ProductMatch,
    ProductMatchParam,
    Severities,
    Tags,
    TextToSearch,
    choices,
    time_range,
    values,
)
from incidentd.correlation import lifecycle
from incidentd.correlation.model import Incident
from incidentd.schemas.api.incidents import (
    AlertOut,
    BlastRadiusProduct,
    IncidentDetail,
    IncidentList,
    IncidentPatch,
    LinkTicket,
    TimelineEntry,
)
from incidentd.schemas.common import Impact, IncidentStatus, Severity
from incidentd.schemas.incident import IncidentResource
from incidentd.storage.incident_queries import (
    IncidentFilter,
    alert_rows,
    list_incidents,
    products_info,
)
from incidentd.storage.incident_writes import Changer, change_incident, load_incident_counted
from incidentd.storage.incidents import to_resource

router = APIRouter(prefix="/spaces/{slug}/incidents", tags=["incidents"])
State = Annotated[AppState, Depends(app_state)]
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such space (for you) or incident."}
}


def incident_filter(  # noqa: PLR0917 - FastAPI passes query parameters by keyword
    severities: Severities = None,
    impacts: Impacts = None,
    tags: Tags = None,
    product_ids: ProductIds = None,
    from_time: Annotated[
        datetime | None, Query(description="Problem started (first_alert_at) at or after.")
    ] = None,
    to_time: Annotated[datetime | None, Query(description="Problem started before.")] = None,
    text_to_search: TextToSearch = None,
    status_: Annotated[IncidentStatus | None, Query(alias="status")] = None,
    product_match: ProductMatchParam = ProductMatch.ALERTED,
) -> IncidentFilter:
    """The list filters of both seed documents (lists as `?x=a&x=b` or `?x=a,b`)."""
    return filter_of(
        severities,
        impacts,
        tags,
        product_ids,
        time_range(from_time, to_time),
        text_to_search,
        product_match,
        status_,
    )


def filter_of(  # noqa: PLR0917 - mirrors the query parameters
    severities: list[str] | None,
    impacts: list[str] | None,
    tags: list[str] | None,
    product_ids: list[str] | None,
    span: tuple[datetime | None, datetime | None],
    text_to_search: str | None,
    product_match: ProductMatch,
    status_: IncidentStatus | None = None,
) -> IncidentFilter:
    """The incident filter of the list's query parameters, `span` their checked time bounds."""
    return IncidentFilter(
        status=status_.value if status_ is not None else None,
        severities=choices("severities", severities, Severity),
        impacts=choices("impacts", impacts, Impact),
        tags=values("tags", tags),
        product_ids=values("product_ids", product_ids),
        in_blast_radius=product_match is ProductMatch.BLAST_RADIUS,
        from_time=span[0],
        to_time=span[1],
        text=text_to_search or None,
    )


@router.get("", response_model=IncidentList, responses=NOT_FOUND)
def list_(
    space: IncidentSpace,
    conn: Conn,
    flt: Annotated[IncidentFilter, Depends(incident_filter)],
    skip: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> IncidentList:
    """List incidents, newest first, filtered and paginated."""
    rows, total = list_incidents(conn, space.slug, flt, skip, limit)
    return IncidentList(items=[to_resource(i, n) for i, n in rows], total=total)


def _load(conn: Conn, slug: str, incident_id: str) -> tuple[Incident, int]:
    return load_incident_counted(conn, slug, incident_id)  # IncidentNotFound: 404


@router.get("/{incident_id}", response_model=IncidentDetail, responses=NOT_FOUND)
def get(incident_id: str, space: IncidentSpace, conn: Conn, state: State) -> IncidentDetail:
    """An incident with its alerts and its blast radius (hops, tier, owners)."""
    incident, count = _load(conn, space.slug, incident_id)
    alerts = [AlertOut.model_validate(r, from_attributes=True) for r in alert_rows(conn, incident)]
    radius = _blast_radius(conn, state, incident)
    resource = to_resource(incident, count)
    return IncidentDetail(**resource.model_dump(), alerts=alerts, blast_radius=radius)


def _blast_radius(conn: Conn, state: AppState, incident: Incident) -> list[BlastRadiusProduct]:
    from sqlalchemy import text

    version = conn.execute(
        text("SELECT lineage_version FROM spaces WHERE slug = :s"), {"s": incident.space}
    ).scalar_one()
    graph = state.graphs.get(conn, incident.space, int(version))
    hops = graph.blast_radius(incident.products)
    if incident.is_open:
        for product in incident.blast_radius:
            hops.setdefault(product, 0)
    else:  # resolved or merged: the snapshot it had, whatever the lineage became since
        hops = {p: hops.get(p, 0) for p in incident.blast_radius}
    info = products_info(conn, incident.space, sorted(hops))
    alerted = set(incident.products)
    out = []
    for product in sorted(hops, key=lambda p: (hops[p], p)):
        row = info.get(product)
        out.append(
            BlastRadiusProduct(
                product_id=product,
                name=row.name if row else None,
                hops=hops[product],
                tier=row.tier if row else None,
                owners=list(row.owners) if row else [],
                stewards=list(row.stewards) if row else [],
                alerted=product in alerted,
            )
        )
    return out


@router.get("/{incident_id}/timeline", response_model=list[TimelineEntry], responses=NOT_FOUND)
def timeline(incident_id: str, space: IncidentSpace, conn: Conn) -> list[TimelineEntry]:
    """Every alert of the incident, failures and recoveries, in the order they were added.

    Each entry says when the alert happened (`occurred_at`), whether a check failed or passed
    again (`status`), and which incident stores it (a merged incident's alerts moved there).
    """
    incident, _ = _load(conn, space.slug, incident_id)
    return [
        TimelineEntry.model_validate(r, from_attributes=True)
        for r in alert_rows(conn, incident)
        if r.added_at is not None
    ]


def _apply(
    conn: Conn, state: State, space: IncidentSpaceWrite, incident_id: str, edit: Changer
) -> IncidentResource:
    incident, _, count = change_incident(
        conn,
        space.slug,
        incident_id,
        edit,
        actor=space.principal.email,
        topic=state.settings.incidents_topic,
        graphs=state.graphs,
    )
    return to_resource(incident, count)


@router.patch("/{incident_id}", response_model=IncidentResource, responses=NOT_FOUND)
def update(
    incident_id: str, body: IncidentPatch, space: IncidentSpaceWrite, conn: Conn, state: State
) -> IncidentResource:
    """Update root cause, status, severity, root product or description.

    Null and unchanged fields change nothing; a PATCH that changes nothing bumps no version
    and writes no history or event. A merged incident is read-only (409).
    """
    patch = lifecycle.Patch(**body.model_dump())
    return _apply(
        conn, state, space, incident_id, lambda i: lifecycle.apply_patch(i, patch, _now())
    )


@router.post("/{incident_id}/resolve", response_model=IncidentResource, responses=NOT_FOUND)
def resolve(
    incident_id: str, space: IncidentSpaceWrite, conn: Conn, state: State
) -> IncidentResource:
    """Mark the incident resolved (sets `resolved_at`)."""
    return _apply(conn, state, space, incident_id, lambda i: lifecycle.resolve(i, _now()))


@router.post("/{incident_id}/link-ticket", response_model=IncidentResource, responses=NOT_FOUND)
def link_ticket(
    incident_id: str, body: LinkTicket, space: IncidentSpaceWrite, conn: Conn, state: State
) -> IncidentResource:
    """Link an issue-tracker ticket to the incident."""
    return _apply(
        conn, state, space, incident_id, lambda i: lifecycle.link_ticket(i, body.ticket_id)
    )


def _now() -> datetime:
    return datetime.now(UTC)
