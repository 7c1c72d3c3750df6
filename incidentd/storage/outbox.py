"""The outbox: every message incidentd sends later is a row here, written in the caller's
transaction and sent after it commits.

One module writes and reads it: `enqueue` (rows in one statement, in order), `claim_due` and
`claim_next_in_order` (what is due for a channel), `mark_sent` / `mark_failed` (a failure
retried later, or given up), `requeue`, `purge`, `backlog` and `list_rows`. A row names its
channel (`kafka` for the relay; `email`, `webhook`, … for the channel sender), a topic (a Kafka
topic, an address, a subscription), a key (the incident, for order) and opaque payload bytes.
Rows get increasing ids in the order they are enqueued, which is the order they are sent in.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection, Row, text

KAFKA = "kafka"


@dataclass(frozen=True, slots=True)
class Message:
    """One row to enqueue."""

    topic: str
    key: str | None
    payload: bytes
    incident_id: str | uuid.UUID | None = None
    channel: str = KAFKA
    subscription_id: str | None = None
    event_id: str | None = None
    event_type: str | None = None


@dataclass(frozen=True, slots=True)
class Queued:
    """An outbox row claimed for sending."""

    id: int
    channel: str
    topic: str
    key: str | None
    payload: bytes
    attempts: int
    incident_id: str | None
    subscription_id: str | None = None
    event_id: str | None = None
    event_type: str | None = None


@dataclass(frozen=True, slots=True)
class Backlog:
    """What waits in one channel: how many rows and the age of the oldest, in seconds."""

    count: int
    oldest_age: float


_INSERT = text(
    """
    INSERT INTO outbox (topic, key, payload, incident_id, channel, subscription_id, event_id,
                        event_type)
    SELECT x.topic, x.key, decode(x.payload, 'base64'), x.incident_id, x.channel,
           x.subscription_id, x.event_id, x.event_type
    FROM jsonb_to_recordset(CAST(:rows AS jsonb))
         AS x(topic text, key text, payload text, incident_id uuid, channel text,
              subscription_id uuid, event_id text, event_type text, n bigint)
    ORDER BY x.n
    """
)


def enqueue(conn: Connection, messages: Iterable[Message]) -> int:
    """Queue messages in the caller's transaction, in one statement; returns how many.

    Rows get ids in the order given, so they are sent in that order.
    """
    docs = [
        {
            "topic": m.topic,
            "key": m.key,
            "payload": base64.b64encode(_as_bytes(m.payload)).decode(),
            "incident_id": None if m.incident_id is None else str(m.incident_id),
            "channel": m.channel,
            "subscription_id": m.subscription_id,
            "event_id": m.event_id,
            "event_type": m.event_type,
            "n": k,
        }
        for k, m in enumerate(messages)
    ]
    if docs:
        conn.execute(_INSERT, {"rows": orjson.dumps(docs).decode()})
    return len(docs)


def claim_due(conn: Connection, channel: str, *, limit: int) -> list[Queued]:
    """Unsent rows of `channel` that are due now, oldest first, not locked.

    For a single reader that serialises itself (the relay holds an advisory lock); senders
    that share a channel use `claim_next_in_order`.
    """
    rows = conn.execute(
        text(
            f"SELECT {_QUEUED} FROM outbox "
            "WHERE channel = :c AND sent_at IS NULL AND failed_at IS NULL "
            "AND (next_attempt_at IS NULL OR next_attempt_at <= now()) "
            "ORDER BY id LIMIT :n"
        ),
        {"c": channel, "n": limit},
    ).fetchall()
    return [_queued(r) for r in rows]


_QUEUED = (
    "id, channel, topic, key, payload, attempts, incident_id, subscription_id, event_id, event_type"
)


def _queued(r: Row[Any]) -> Queued:
    return Queued(
        id=int(r.id),
        channel=str(r.channel),
        topic=str(r.topic),
        key=r.key,
        payload=bytes(r.payload),
        attempts=int(r.attempts),
        incident_id=str(r.incident_id) if r.incident_id else None,
        subscription_id=str(r.subscription_id) if r.subscription_id else None,
        event_id=r.event_id,
        event_type=r.event_type,
    )


def claim_next_in_order(
    conn: Connection,
    channels: Sequence[str],
    *,
    gather: str | None = None,
    gather_channels: Sequence[str] = (),
    gather_seconds: float = 0.0,
) -> list[Queued]:
    """Lock the oldest due row that heads its (channel, topic, key); [] when none is due.

    Channels are tried in the order given (callers rotate it, so a long queue on one channel
    does not hold the others up). A row waits while an earlier row of its channel, topic and
    key is pending, so each key (an incident) is sent in order to each topic (a subscription,
    an address), by however many senders. Rows of event type `gather` on `gather_channels`
    are due once `gather_seconds` old and come back with the pending rows of that type right
    behind them, to go as one.
    """
    for channel in channels:
        held = gather if channel in gather_channels else None
        head = conn.execute(_HEAD, {"c": channel, "g": held, "gs": gather_seconds}).first()
        if head is None:
            continue
        first = _queued(head)
        if held is None or first.event_type != held:
            return [first]
        return [first, *_followers(conn, first, held)]
    return []


# Both scans ride partial indexes of pending rows (ix_outbox_unsent for the id order of one
# channel, ix_outbox_pending_order for the earlier row of the same topic and key), so a claim
# costs the same however many sent rows wait to be purged.
_HEAD = text(
    f"SELECT {_QUEUED} FROM outbox o "
    "WHERE o.channel = :c AND o.sent_at IS NULL AND o.failed_at IS NULL "
    "AND (o.next_attempt_at IS NULL OR o.next_attempt_at <= now()) "
    "AND NOT coalesce(o.event_type = CAST(:g AS text) AND o.created_at > now() - "
    "make_interval(secs => CAST(:gs AS double precision)), false) "
    "AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.channel = o.channel "
    "AND p.topic = o.topic AND p.key = o.key AND p.id < o.id "
    "AND p.sent_at IS NULL AND p.failed_at IS NULL) "
    "ORDER BY o.id LIMIT 1 FOR UPDATE SKIP LOCKED"
)


def _followers(conn: Connection, first: Queued, event_type: str) -> list[Queued]:
    """The pending rows of `event_type` right behind `first` for its topic and key."""
    rows = conn.execute(
        text(
            f"SELECT {_QUEUED} FROM outbox WHERE channel = :c AND topic = :t "
            "AND key IS NOT DISTINCT FROM :k AND id > :i AND sent_at IS NULL "
            "AND failed_at IS NULL ORDER BY id LIMIT 500 FOR UPDATE"
        ),
        {"c": first.channel, "t": first.topic, "k": first.key, "i": first.id},
    ).fetchall()
    out: list[Queued] = []
    for row in rows:
        if row.event_type != event_type:
            break
        out.append(_queued(row))
    return out


def mark_sent(conn: Connection, ids: Sequence[int]) -> None:
    """The rows went out (each attempt counted)."""
    conn.execute(
        text(
            "UPDATE outbox SET sent_at = now(), attempts = attempts + 1 "
            "WHERE id = ANY(CAST(:ids AS bigint[]))"
        ),
        {"ids": list(ids)},
    )


def mark_failed(
    conn: Connection, ids: int | Sequence[int], error: str, retry_in: float | None
) -> None:
    """Count a failed attempt; retry after `retry_in` seconds, or never (failed) when None."""
    conn.execute(
        text(
            "UPDATE outbox SET attempts = attempts + 1, last_error = :e, "
            "next_attempt_at = CASE WHEN CAST(:d AS double precision) IS NULL THEN NULL "
            "ELSE now() + make_interval(secs => CAST(:d AS double precision)) END, "
            "failed_at = CASE WHEN CAST(:d AS double precision) IS NULL THEN now() END "
            "WHERE id = ANY(CAST(:ids AS bigint[]))"
        ),
        {"ids": [ids] if isinstance(ids, int) else list(ids), "e": error[:1000], "d": retry_in},
    )


def postpone(conn: Connection, channel: str, topic: str, seconds: float) -> int:
    """Hold every pending row of `channel` and `topic` for at least `seconds`; how many.

    After a failed attempt at a target, its other keys wait with it: a target that is down
    costs one attempt per backoff step, not one per incident.
    """
    result = conn.execute(
        text(
            "UPDATE outbox SET next_attempt_at = greatest(coalesce(next_attempt_at, now()), "
            "now() + make_interval(secs => CAST(:s AS double precision))) "
            "WHERE channel = :c AND topic = :t AND sent_at IS NULL AND failed_at IS NULL"
        ),
        {"c": channel, "t": topic, "s": seconds},
    )
    return int(result.rowcount)


def requeue(conn: Connection, ids: Sequence[int]) -> int:
    """Send these rows again from scratch (sent, failed or waiting); returns how many."""
    result = conn.execute(
        text(
            "UPDATE outbox SET sent_at = NULL, failed_at = NULL, next_attempt_at = NULL, "
            "attempts = 0, last_error = NULL WHERE id = ANY(CAST(:ids AS bigint[]))"
        ),
        {"ids": list(ids)},
    )
    return int(result.rowcount)


def subscription_of(conn: Connection, row_id: int) -> str | None:
    """The subscription a row is queued for; None for other rows and unknown ids."""
    found = conn.execute(
        text("SELECT subscription_id FROM outbox WHERE id = :i"), {"i": row_id}
    ).scalar()
    return None if found is None else str(found)


STATUSES = ("pending", "sent", "failed")
_STATUS_SQL = {
    "pending": "sent_at IS NULL AND failed_at IS NULL",
    "sent": "sent_at IS NOT NULL",
    "failed": "failed_at IS NOT NULL",
}


def list_rows(
    conn: Connection,
    subscription_ids: Sequence[str],
    *,
    status: str | None,
    skip: int,
    limit: int,
) -> tuple[list[Row[Any]], int]:
    """A page of the rows of these subscriptions, newest first, and how many there are.

    Rows carry the queue's columns plus `status`; `status` filters (`STATUSES`).
    """
    where = "subscription_id = ANY(CAST(:subs AS uuid[]))"
    if status is not None:
        where += " AND " + _STATUS_SQL[status]
    params: dict[str, Any] = {"subs": list(subscription_ids)}
    total = conn.execute(text(f"SELECT count(*) FROM outbox WHERE {where}"), params).scalar_one()
    rows = conn.execute(
        text(
            "SELECT id, channel, subscription_id, event_id, event_type, incident_id, attempts, "
            "last_error, created_at, sent_at, failed_at, next_attempt_at, "
            "CASE WHEN sent_at IS NOT NULL THEN 'sent' WHEN failed_at IS NOT NULL THEN 'failed' "
            f"ELSE 'pending' END AS status FROM outbox WHERE {where} "
            "ORDER BY id DESC LIMIT :limit OFFSET :skip"
        ),
        {**params, "limit": limit, "skip": skip},
    ).fetchall()
    return list(rows), int(total)


def purge(conn: Connection, older_than_seconds: float) -> int:
    """Delete rows sent longer ago than that; returns how many."""
    result = conn.execute(
        text(
            "DELETE FROM outbox WHERE sent_at < now() - make_interval(secs => CAST(:s AS "
            "double precision))"
        ),
        {"s": older_than_seconds},
    )
    return int(result.rowcount)


def backlog(conn: Connection, channel: str) -> Backlog:
    """Rows of `channel` still to send (not sent, not given up) and the age of the oldest."""
    row = conn.execute(
        text(
            "SELECT count(*) AS n, "
            "coalesce(extract(epoch FROM now() - min(created_at)), 0) AS age "
            "FROM outbox WHERE sent_at IS NULL AND failed_at IS NULL AND channel = :c"
        ),
        {"c": channel},
    ).one()
    return Backlog(int(row.n), float(row.age))


def sent_count(conn: Connection, channel: str, topic: str | None = None) -> int:
    """Rows of `channel` (and `topic`, if given) sent and not purged yet."""
    where = "sent_at IS NOT NULL AND channel = :c" + (" AND topic = :t" if topic else "")
    return int(
        conn.execute(
            text(f"SELECT count(*) FROM outbox WHERE {where}"), {"c": channel, "t": topic}
        ).scalar_one()
    )


def _as_bytes(value: object) -> bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    raise TypeError(f"an outbox payload must be bytes, not {type(value).__name__}")
