"""Notify downstream (seed 000) and the caller's notification centre (`/notifications`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, status

from incidentd.api.deps import AppState, Caller, Conn, IncidentSpaceWrite, app_state
from incidentd.schemas.api.notify import (
    NotificationList,
    NotificationOut,
    NotifyResult,
    ReadAllResult,
)
from incidentd.storage.notifications import (
    as_dict,
    list_notifications,
    mark_all_read,
    mark_read,
    notify_downstream,
)

router = APIRouter()
State = Annotated[AppState, Depends(app_state)]
INCIDENT_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such space (for you) or incident."},
    409: {"description": "The incident was merged into another one."},
}


@router.post(
    "/spaces/{slug}/incidents/{incident_id}/notify-downstream",
    response_model=NotifyResult,
    responses=INCIDENT_ERRORS,
    tags=["incidents"],
)
def notify(incident_id: str, space: IncidentSpaceWrite, conn: Conn, state: State) -> NotifyResult:
    """Notify the owners and stewards of every product in the blast radius, once.

    Each gets an in-platform notification and an e-mail (sent by the worker, retried on
    failure). A recipient already told about all their products is not told again; one whose
    products in the blast radius grew is told about the new ones. Writes a history line and
    an `incident.downstream_notified` event when anyone was told.
    """
    outcome = notify_downstream(  # no such incident: 404; a merged one: 409 (errors.py)
        conn,
        space.slug,
        incident_id,
        actor=space.principal.email,
        topic=state.settings.incidents_topic,
        graphs=state.graphs,
    )
    return NotifyResult(
        notified_users=outcome.notified_users,
        affected_products=outcome.affected_products,
        newly_notified=outcome.newly_notified,
        already_notified=outcome.already_notified,
        new_products=outcome.new_products,
    )


@router.get("/notifications", response_model=NotificationList, tags=["notifications"])
def notifications(
    caller: Caller,
    conn: Conn,
    skip: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    unread_only: bool = False,
) -> NotificationList:
    """The caller's notifications (addressed to their e-mail), newest first.

    Only those about spaces the caller is a member of: an owner's address in a space's catalog
    shows that space's incident titles to its members only."""
    rows, total, unread = list_notifications(
        conn,
        caller.email,
        caller.readable_spaces(),
        skip=skip,
        limit=limit,
        unread_only=unread_only,
    )
    return NotificationList(
        items=[NotificationOut.model_validate(as_dict(r)) for r in rows],
        total=total,
        unread=unread,
    )


@router.post("/notifications/read-all", response_model=ReadAllResult, tags=["notifications"])
def read_all(caller: Caller, conn: Conn) -> ReadAllResult:
    """Mark every unread notification of the caller read."""
    return ReadAllResult(marked_read=mark_all_read(conn, caller.email, caller.readable_spaces()))


@router.post(
    "/notifications/{notification_id}/read",
    response_model=NotificationOut,
    responses={404: {"description": "No such notification of yours."}},
    tags=["notifications"],
)
def read_one(notification_id: int, caller: Caller, conn: Conn) -> NotificationOut:
    """Mark one of the caller's notifications read."""
    row = mark_read(conn, caller.email, caller.readable_spaces(), notification_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"notification {notification_id} not found")
    return NotificationOut.model_validate(as_dict(row))
