"""Downstream notifications: who is told about an incident, the notification centre, e-mails.

Notifying writes, in the request's transaction and under the space lock (through
`change_incident`): one `notifications` row per newly told recipient, one e-mail outbox row
(`channel = 'email'`, sent later by the worker's channel sender) and, when anything was new, a
history line and an `incident.downstream_notified` event. A recipient is told again only when the
products that concern them in the blast radius grew, and then only about the new ones.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import Connection, Row, text

from incidentd.correlation.model import Incident
from incidentd.schemas.common import EventType
from incidentd.storage import outbox
from incidentd.storage.graphs import GraphCache
from incidentd.storage.incident_writes import Edit, change_incident
from incidentd.storage.outbox import Message

EMAIL_CHANNEL = "email"
_SUBJECT_MAX = 200


@dataclass(slots=True)
class NotifyOutcome:
    """What one notify-downstream call found and did."""

    notified_users: int = 0
    affected_products: int = 0
    newly_notified: list[str] = field(default_factory=list)
    already_notified: list[str] = field(default_factory=list)
    new_products: list[str] = field(default_factory=list)


def incident_link(space: str, incident_id: str) -> str:
    """Path of the incident in the HTTP API."""
    return f"/spaces/{space}/incidents/{incident_id}"


def _addresses(values: Iterable[str] | None) -> set[str]:
    return {v.strip().lower() for v in values or () if v and v.strip()}


def recipients_of(conn: Connection, space: str, products: Iterable[str]) -> dict[str, set[str]]:
    """Owners and stewards (lower-cased) of `products`, each with the products they look after."""
    ids = sorted(set(products))
    if not ids:
        return {}
    rows = conn.execute(
        text(
            "SELECT id, owners, stewards FROM products "
            "WHERE space = :s AND id = ANY(CAST(:ids AS text[]))"
        ),
        {"s": space, "ids": ids},
    )
    out: dict[str, set[str]] = {}
    for row in rows:
        for address in _addresses(row.owners) | _addresses(row.stewards):
            out.setdefault(address, set()).add(str(row.id))
    return out


def already_told(conn: Connection, incident_id: str) -> dict[str, set[str]]:
    """Per recipient, every product they were already notified about for this incident."""
    rows = conn.execute(
        text("SELECT recipient, products FROM notifications WHERE incident_id = :i"),
        {"i": uuid.UUID(incident_id)},
    )
    out: dict[str, set[str]] = {}
    for row in rows:
        out.setdefault(str(row.recipient), set()).update(row.products or ())
    return out


def _one_line(value: str) -> str:
    """Header-safe text: no line breaks, no runs of blanks, bounded length."""
    flat = " ".join(value.split())
    return flat if len(flat) <= _SUBJECT_MAX else flat[: _SUBJECT_MAX - 1] + "…"


def _message(incident: Incident, products: list[str], mine: list[str]) -> tuple[str, str]:
    """Title and body of a notification (and of its e-mail)."""
    title = _one_line(
        f"[{incident.severity.value}] Incident affecting your data products: "
        f"{incident.title or incident.id}"
    )
    lines = [
        f"Incident: {incident.title or '(untitled)'}",
        f"Space: {incident.space}",
        f"Severity: {incident.severity.value}",
        f"Impact: {incident.impact.value}",
        f"Status: {incident.status.value}",
        f"Root product: {incident.root_product_id or 'unknown'}",
        f"Alerted products: {', '.join(incident.products) or '-'}",
        f"Blast radius ({len(incident.blast_radius)}): {', '.join(incident.blast_radius) or '-'}",
        f"Your products newly affected: {', '.join(products)}",
        f"All your products in the blast radius: {', '.join(mine)}",
        f"Link: {incident_link(incident.space, incident.id)}",
    ]
    if incident.root_cause:
        lines.insert(6, f"Root cause: {incident.root_cause}")
    return title, "\n".join(lines) + "\n"


def _plan(
    incident: Incident, wanted: dict[str, set[str]], told: dict[str, set[str]]
) -> tuple[NotifyOutcome, dict[str, list[str]]]:
    """Who is new (with the products new to them) and who was already told."""
    outcome = NotifyOutcome(
        notified_users=len(wanted), affected_products=len(incident.blast_radius)
    )
    fresh: dict[str, list[str]] = {}
    for recipient in sorted(wanted):
        new = wanted[recipient] - told.get(recipient, set())
        if new:
            fresh[recipient] = sorted(new)
            outcome.newly_notified.append(recipient)
        else:
            outcome.already_notified.append(recipient)
    outcome.new_products = sorted({p for products in fresh.values() for p in products})
    return outcome, fresh


def _write(
    conn: Connection,
    incident: Incident,
    recipient: str,
    products: list[str],
    mine: list[str],
) -> None:
    title, body = _message(incident, products, mine)
    key = uuid.UUID(incident.id)
    conn.execute(
        text(
            "INSERT INTO notifications (recipient, space, incident_id, products, title, body) "
            "VALUES (:r, :s, :i, CAST(:p AS text[]), :t, :b)"
        ),
        {"r": recipient, "s": incident.space, "i": key, "p": products, "t": title, "b": body},
    )
    payload = orjson.dumps({"to": recipient, "subject": title, "body": body})
    outbox.enqueue(conn, [Message(recipient, incident.id, payload, incident.id, EMAIL_CHANNEL)])


def notify_downstream(
    conn: Connection,
    space: str,
    incident_id: str,
    *,
    actor: str,
    topic: str,
    graphs: GraphCache,
) -> NotifyOutcome:
    """Tell the owners and stewards of the blast radius what is new to them.

    Raises IncidentNotFoundError (no such incident) and IncidentMergedError (change_incident).
    """
    result = NotifyOutcome()

    def edit(incident: Incident) -> Edit:
        nonlocal result
        wanted = recipients_of(conn, space, incident.blast_radius)
        outcome, fresh = _plan(incident, wanted, already_told(conn, incident.id))
        for recipient, products in fresh.items():
            _write(conn, incident, recipient, products, sorted(wanted[recipient]))
        result = outcome
        return Edit(
            EventType.DOWNSTREAM_NOTIFIED,
            detail={
                "notified_users": outcome.notified_users,
                "affected_products": outcome.affected_products,
                "newly_notified": len(outcome.newly_notified),
                "already_notified": len(outcome.already_notified),
                "new_products": outcome.new_products,
            },
            changed=bool(fresh),
        )

    change_incident(conn, space, incident_id, edit, actor=actor, topic=topic, graphs=graphs)
    return result


# -- the notification centre ------------------------------------------------------------------

_COLUMNS = "id, recipient, space, incident_id, products, title, body, created_at, read_at"


_MINE = "recipient = :r AND space = ANY(CAST(:sp AS text[]))"
"""Addressed to the recipient, about a space they are a member of (now: roles change)."""


def list_notifications(
    conn: Connection,
    recipient: str,
    spaces: Collection[str],
    *,
    skip: int,
    limit: int,
    unread_only: bool,
) -> tuple[list[Row[Any]], int, int]:
    """A page of the recipient's notifications of `spaces`, newest first; total and unread."""
    where = _MINE + (" AND read_at IS NULL" if unread_only else "")
    params: dict[str, Any] = {"r": recipient.lower(), "sp": sorted(spaces)}
    counts = conn.execute(
        text(
            f"SELECT count(*) FILTER (WHERE {where}) AS total, "
            "count(*) FILTER (WHERE read_at IS NULL) AS unread "
            f"FROM notifications WHERE {_MINE}"
        ),
        params,
    ).one()
    rows = conn.execute(
        text(
            f"SELECT {_COLUMNS} FROM notifications WHERE {where} "
            "ORDER BY id DESC LIMIT :limit OFFSET :skip"
        ),
        {**params, "limit": limit, "skip": skip},
    ).fetchall()
    return list(rows), int(counts.total), int(counts.unread)


def mark_read(
    conn: Connection, recipient: str, spaces: Collection[str], notification_id: int
) -> Row[Any] | None:
    """Mark one of the recipient's notifications read (kept if already); None if not theirs."""
    return conn.execute(
        text(
            "UPDATE notifications SET read_at = coalesce(read_at, now()) "
            f"WHERE id = :n AND {_MINE} RETURNING {_COLUMNS}"
        ),
        {"n": notification_id, "r": recipient.lower(), "sp": sorted(spaces)},
    ).first()


def mark_all_read(conn: Connection, recipient: str, spaces: Collection[str]) -> int:
    """Mark every unread notification of the recipient (of `spaces`) read; returns how many."""
    result = conn.execute(
        text(f"UPDATE notifications SET read_at = now() WHERE {_MINE} AND read_at IS NULL"),
        {"r": recipient.lower(), "sp": sorted(spaces)},
    )
    return int(result.rowcount)


def as_dict(row: Row[Any]) -> dict[str, Any]:
    """A notification row as the API shows it."""
    data = dict(row._mapping)
    incident = data.get("incident_id")
    data["incident_id"] = str(incident) if incident else None
    data["products"] = list(data.get("products") or ())
    data["link"] = incident_link(str(data["space"]), str(incident)) if incident else None
    data["read"] = data.get("read_at") is not None
    return data
