"""Subscriptions and deliveries of a space (CONTRACT §9); admins only.

A webhook's signing secret is generated here and shown once, in the creation response;
reads show targets masked and never the secret.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Response, status

from incidentd.api.deps import AdminSpace, Conn
from incidentd.api.limits import body_limit
from incidentd.channels.registry import check_target, mask
from incidentd.channels.webhook import new_secret
from incidentd.schemas.api.subscriptions import (
    DeliveryList,
    DeliveryOut,
    DeliveryStatus,
    SubscriptionCreated,
    SubscriptionIn,
    SubscriptionList,
    SubscriptionOut,
)
from incidentd.storage.subscriptions import (
    Subscription,
    create_subscription,
    delete_subscription,
    list_subscriptions,
    redeliver,
    space_deliveries,
)

router = APIRouter(tags=["subscriptions"])
SUBSCRIPTION_BODY_LIMIT = 64 * 1024  # a target and a filter of up to 1,000 products
ERRORS: dict[int | str, dict[str, Any]] = {
    403: {"description": "Only admins of the space manage its subscriptions."},
    404: {"description": "No such space (for you), subscription or delivery."},
}


def _out(sub: Subscription) -> dict[str, Any]:
    return {
        "id": sub.id,
        "space": sub.space,
        "channel": sub.channel,
        "target": mask(sub.channel, sub.target),
        "filter": sub.filter,
        "created_by": sub.created_by,
        "created_at": sub.created_at,
    }


@router.post(
    "/spaces/{slug}/subscriptions",
    response_model=SubscriptionCreated,
    status_code=status.HTTP_201_CREATED,
    responses={**ERRORS, 422: {"description": "A target the channel cannot use."}},
)
@body_limit(SUBSCRIPTION_BODY_LIMIT)
def create(body: SubscriptionIn, space: AdminSpace, conn: Conn) -> SubscriptionCreated:
    """Subscribe a channel and target to the space's incident events (filtered).

    Body limit: 64 KiB. A webhook's signing secret is in this response and nowhere else.
    """
    problem = check_target(body.channel, body.target)
    if problem is not None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"target: {problem}")
    secret = new_secret() if body.channel == "webhook" else None
    sub = create_subscription(
        conn,
        space.slug,
        body.channel,
        body.target.strip(),
        body.filter,
        secret=secret,
        created_by=space.principal.email,
    )
    return SubscriptionCreated(**_out(sub), secret=secret)


@router.get("/spaces/{slug}/subscriptions", response_model=SubscriptionList, responses=ERRORS)
def list_(space: AdminSpace, conn: Conn) -> SubscriptionList:
    """The space's subscriptions, oldest first (targets masked, no secrets)."""
    subs = list_subscriptions(conn, [space.slug])
    return SubscriptionList(items=[SubscriptionOut(**_out(s)) for s in subs])


@router.delete(
    "/spaces/{slug}/subscriptions/{subscription_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=ERRORS,
)
def delete(subscription_id: str, space: AdminSpace, conn: Conn) -> Response:
    """Remove a subscription and its deliveries."""
    if not delete_subscription(conn, space.slug, subscription_id):
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"subscription '{subscription_id}' not found"
        )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/spaces/{slug}/deliveries", response_model=DeliveryList, responses=ERRORS)
def deliveries(
    space: AdminSpace,
    conn: Conn,
    status_: Annotated[DeliveryStatus | None, Query(alias="status")] = None,
    skip: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> DeliveryList:
    """The deliveries of the space's subscriptions, newest first (`status` to filter)."""
    rows, total = space_deliveries(conn, space.slug, status=status_, skip=skip, limit=limit)
    items = [
        DeliveryOut.model_validate(
            {
                **r._mapping,
                "subscription_id": str(r.subscription_id),
                "incident_id": str(r.incident_id) if r.incident_id else None,
            }
        )
        for r in rows
    ]
    return DeliveryList(items=items, total=total)


@router.post(
    "/spaces/{slug}/deliveries/{delivery_id}/redeliver",
    status_code=status.HTTP_202_ACCEPTED,
    responses=ERRORS,
)
def redeliver_one(
    delivery_id: Annotated[int, Path(ge=1, le=2**63 - 1)], space: AdminSpace, conn: Conn
) -> dict[str, Any]:
    """Send a delivery again (failed, sent or waiting), as soon as the sender gets to it."""
    if not redeliver(conn, space.slug, delivery_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"delivery {delivery_id} not found")
    return {"id": delivery_id, "status": "pending"}
