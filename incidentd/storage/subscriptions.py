"""Subscriptions of a space (CONTRACT §9) and the deliveries queued for them.

A subscription's secret (a webhook's signing key) is stored to sign with and never read back
by the API; its target may hold a token too (a Slack URL, a routing key), so API reads show
it masked (see `incidentd.channels.registry.mask`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, text

from incidentd.schemas.incident import IncidentEvent
from incidentd.schemas.subscription import SubscriptionFilter
from incidentd.storage import outbox


@dataclass(frozen=True, slots=True)
class Subscription:
    """A stored subscription."""

    id: str
    space: str
    channel: str
    target: str
    secret: str | None
    filter: SubscriptionFilter
    created_by: str | None
    created_at: Any


_COLUMNS = "id, space, channel, target, secret, filter, created_by, created_at"


def _of(row: Row[Any]) -> Subscription:
    return Subscription(
        id=str(row.id),
        space=str(row.space),
        channel=str(row.channel),
        target=str(row.target),
        secret=row.secret,
        filter=SubscriptionFilter.model_validate(row.filter or {}),
        created_by=row.created_by,
        created_at=row.created_at,
    )


def create_subscription(
    conn: Connection,
    space: str,
    channel: str,
    target: str,
    filter_: SubscriptionFilter,
    *,
    secret: str | None,
    created_by: str | None,
) -> Subscription:
    """Store a new subscription."""
    row = conn.execute(
        text(
            "INSERT INTO subscriptions (id, space, channel, target, secret, filter, created_by) "
            "VALUES (:i, :s, :c, :t, :k, CAST(:f AS jsonb), :b) "
            f"RETURNING {_COLUMNS}"
        ),
        {
            "i": uuid.uuid4(),
            "s": space,
            "c": channel,
            "t": target,
            "k": secret,
            "f": filter_.model_dump_json(),
            "b": created_by,
        },
    ).one()
    return _of(row)


def list_subscriptions(conn: Connection, spaces: list[str]) -> list[Subscription]:
    """The subscriptions of these spaces, oldest first."""
    rows = conn.execute(
        text(
            f"SELECT {_COLUMNS} FROM subscriptions WHERE space = ANY(CAST(:s AS text[])) "
            "ORDER BY created_at, id"
        ),
        {"s": spaces},
    ).fetchall()
    return [_of(r) for r in rows]


def get_subscription(conn: Connection, subscription_id: str) -> Subscription | None:
    """One subscription by id; None when absent or not an id."""
    key = _uuid(subscription_id)
    if key is None:
        return None
    row = conn.execute(
        text(f"SELECT {_COLUMNS} FROM subscriptions WHERE id = :i"), {"i": key}
    ).first()
    return None if row is None else _of(row)


def delete_subscription(conn: Connection, space: str, subscription_id: str) -> bool:
    """Delete it and its deliveries; False when the space has no such subscription."""
    key = _uuid(subscription_id)
    if key is None:
        return False
    result = conn.execute(
        text("DELETE FROM subscriptions WHERE id = :i AND space = :s"), {"i": key, "s": space}
    )
    return bool(result.rowcount)


def deliveries_for(
    conn: Connection, events: list[tuple[IncidentEvent, bytes]]
) -> list[outbox.Message]:
    """One outbox row per (event, subscription of its space whose filter it passes).

    Each event comes with its JSON payload, which is what a delivery carries.
    """
    spaces = sorted({e.space for e, _ in events})
    subscriptions = list_subscriptions(conn, spaces) if spaces else []
    messages: list[outbox.Message] = []
    for event, payload in events:
        mine = [s for s in subscriptions if s.space == event.space]
        if not mine:
            continue
        incident = event.incident.model_dump(mode="json")
        for sub in mine:
            if sub.filter.matches(event.event_type.value, incident):
                messages.append(
                    outbox.Message(
                        topic=sub.id,
                        key=event.incident_id,
                        payload=payload,
                        incident_id=event.incident_id,
                        channel=sub.channel,
                        subscription_id=sub.id,
                        event_id=event.event_id,
                        event_type=event.event_type.value,
                    )
                )
    return messages


def publish_events(conn: Connection, events: list[IncidentEvent], topic: str) -> int:
    """Queue incident events for `topic` and for every subscription they pass; how many.

    In the caller's transaction; one incident's events keep their order everywhere.
    """
    pairs = [(e, e.model_dump_json().encode()) for e in events]
    messages = [outbox.Message(topic, e.incident_id, p, e.incident_id) for e, p in pairs]
    outbox.enqueue(conn, messages + deliveries_for(conn, pairs))
    return len(messages)


def record_told(conn: Connection, incident_id: str | None, channel: str) -> None:
    """Remember that `channel` told someone about the incident (and so about its alerts)."""
    if incident_id is None:
        return
    conn.execute(
        text(
            "INSERT INTO incident_channels (incident_id, channel) VALUES (:i, :c) "
            "ON CONFLICT (incident_id, channel) DO UPDATE SET last_at = now()"
        ),
        {"i": uuid.UUID(incident_id), "c": channel},
    )


def alert_channels(conn: Connection, space: str, alert_ids: list[str]) -> dict[str, list[str]]:
    """Per alert, the channels that told anyone about its incident (sorted; [] for none).

    An alert is notified (`is_notified`) when its list is not empty.
    """
    rows = conn.execute(
        text(
            "SELECT a.alert_id, array_remove(array_agg(DISTINCT n.channel), NULL) AS channels "
            "FROM alerts a LEFT JOIN incident_channels n ON n.incident_id = a.incident_id "
            "WHERE a.space = :s AND a.alert_id = ANY(CAST(:ids AS text[])) GROUP BY a.alert_id"
        ),
        {"s": space, "ids": alert_ids},
    ).fetchall()
    return {str(r.alert_id): sorted(r.channels or ()) for r in rows}


def space_deliveries(
    conn: Connection, space: str, *, status: str | None, skip: int, limit: int
) -> tuple[list[Row[Any]], int]:
    """A page of the deliveries of the space's subscriptions, newest first, and the total."""
    ids = [s.id for s in list_subscriptions(conn, [space])]
    if not ids:
        return [], 0
    return outbox.list_rows(conn, ids, status=status, skip=skip, limit=limit)


def redeliver(conn: Connection, space: str, delivery_id: int) -> bool:
    """Queue a delivery of the space again from scratch; False when the space has none such."""
    subscription_id = outbox.subscription_of(conn, delivery_id)
    sub = get_subscription(conn, subscription_id) if subscription_id else None
    if sub is None or sub.space != space:
        return False
    return outbox.requeue(conn, [delivery_id]) == 1


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None
