"""The outbox: every message incidentd sends later is a row here, written in the caller's
transaction and sent after it commits.

One module writes and reads it: `enqueue` (rows in one statement, in order), `claim_due` (what
is due for one channel), `mark_sent` / `mark_failed`, `purge` and `backlog`. A row names its
channel (`kafka` for the relay; `email`, `webhook`, … for the channel sender), a topic (a Kafka
topic, an address, a subscription), a key (the incident, for order) and opaque payload bytes.
Rows get increasing ids in the order they are enqueued, which is the order they are sent in.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import orjson
from sqlalchemy import Connection, text

KAFKA = "kafka"


@dataclass(frozen=True, slots=True)
class Message:
    """One row to enqueue."""

    topic: str
    key: str | None
    payload: bytes
    incident_id: str | uuid.UUID | None = None
    channel: str = KAFKA


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


@dataclass(frozen=True, slots=True)
class Backlog:
    """What waits in one channel: how many rows and the age of the oldest, in seconds."""

    count: int
    oldest_age: float


_INSERT = text(
    """
    INSERT INTO outbox (topic, key, payload, incident_id, channel)
    SELECT x.topic, x.key, decode(x.payload, 'base64'), x.incident_id, x.channel
    FROM jsonb_to_recordset(CAST(:rows AS jsonb))
         AS x(topic text, key text, payload text, incident_id uuid, channel text, n bigint)
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
            "n": k,
        }
        for k, m in enumerate(messages)
    ]
    if docs:
        conn.execute(_INSERT, {"rows": orjson.dumps(docs).decode()})
    return len(docs)


def claim_due(
    conn: Connection,
    channel: str,
    *,
    limit: int,
    max_attempts: int | None = None,
    lock: bool = False,
) -> list[Queued]:
    """Unsent rows of `channel` that are due now, oldest first.

    `max_attempts` leaves out rows that used up their attempts. With `lock`, the rows are
    locked until the transaction ends and rows another sender holds are skipped; without
    it the caller serialises senders itself (the relay holds an advisory lock).
    """
    rows = conn.execute(
        text(
            "SELECT id, channel, topic, key, payload, attempts, incident_id FROM outbox "
            "WHERE channel = :c AND sent_at IS NULL "
            "AND (CAST(:m AS integer) IS NULL OR attempts < CAST(:m AS integer)) "
            "AND (next_attempt_at IS NULL OR next_attempt_at <= now()) "
            "ORDER BY id LIMIT :n" + (" FOR UPDATE SKIP LOCKED" if lock else "")
        ),
        {"c": channel, "m": max_attempts, "n": limit},
    ).fetchall()
    return [
        Queued(
            id=int(r.id),
            channel=str(r.channel),
            topic=str(r.topic),
            key=r.key,
            payload=bytes(r.payload),
            attempts=int(r.attempts),
            incident_id=str(r.incident_id) if r.incident_id else None,
        )
        for r in rows
    ]


def mark_sent(conn: Connection, ids: Sequence[int], *, count_attempt: bool = True) -> None:
    """The rows went out."""
    attempts = "attempts + 1" if count_attempt else "attempts"
    conn.execute(
        text(
            f"UPDATE outbox SET sent_at = now(), attempts = {attempts} "
            "WHERE id = ANY(CAST(:ids AS bigint[]))"
        ),
        {"ids": list(ids)},
    )


def mark_failed(conn: Connection, row_id: int, error: str, retry_in: float | None) -> None:
    """Count a failed attempt; retry after `retry_in` seconds, or never when None."""
    conn.execute(
        text(
            "UPDATE outbox SET attempts = attempts + 1, last_error = :e, "
            "next_attempt_at = CASE WHEN CAST(:d AS double precision) IS NULL THEN NULL "
            "ELSE now() + make_interval(secs => CAST(:d AS double precision)) END "
            "WHERE id = :i"
        ),
        {"i": row_id, "e": error[:1000], "d": retry_in},
    )


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
    """Unsent rows of `channel` and the age of the oldest."""
    row = conn.execute(
        text(
            "SELECT count(*) AS n, "
            "coalesce(extract(epoch FROM now() - min(created_at)), 0) AS age "
            "FROM outbox WHERE sent_at IS NULL AND channel = :c"
        ),
        {"c": channel},
    ).one()
    return Backlog(int(row.n), float(row.age))


def sent_count(conn: Connection, channel: str) -> int:
    """Rows of `channel` sent and not purged yet."""
    return int(
        conn.execute(
            text("SELECT count(*) FROM outbox WHERE sent_at IS NOT NULL AND channel = :c"),
            {"c": channel},
        ).scalar_one()
    )


def _as_bytes(value: object) -> bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    raise TypeError(f"an outbox payload must be bytes, not {type(value).__name__}")
