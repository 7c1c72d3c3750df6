"""`incidentd subscriptions …`: a space's notification channels from the command line.

The same operations as `/spaces/{slug}/subscriptions` and `/spaces/{slug}/deliveries`, for
whoever holds the database URL (an operator): add (a webhook's secret is printed once, alone
on the last line), list (targets masked), remove, deliveries, redeliver.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table
from sqlalchemy import Connection

from incidentd.app.logs import configure_logging
from incidentd.schemas.settings import Settings
from incidentd.schemas.subscription import CHANNEL_NAMES, SubscriptionFilter

subscriptions_app = typer.Typer(
    help="Manage a space's notification channels (subscriptions) and their deliveries.",
    no_args_is_help=True,
)
console = Console()
err = Console(stderr=True)
Space = Annotated[str, typer.Argument(help="Space slug.")]


@contextmanager
def _transaction() -> Iterator[Connection]:
    from incidentd.storage.db import make_engine

    settings = Settings()
    configure_logging(settings.log_format, settings.log_level)
    if not settings.database_url:
        err.print("[red]INCIDENTD_DATABASE_URL is not set[/red]")
        raise typer.Exit(2)
    engine = make_engine(settings.database_url, pool_size=1)
    try:
        with engine.begin() as conn:
            yield conn
    finally:
        engine.dispose()


def _fail(message: str) -> typer.Exit:
    err.print(f"[red]{message}[/red]", markup=True, highlight=False)
    return typer.Exit(2)


def _filter(parts: dict[str, object]) -> SubscriptionFilter:
    try:
        return SubscriptionFilter.model_validate(parts)
    except ValidationError as exc:
        raise _fail(f"filter: {exc.errors()[0]['msg']}") from exc


@subscriptions_app.command("add")
def add(
    space: Space,
    *,
    channel: Annotated[str, typer.Option(help=f"One of: {', '.join(CHANNEL_NAMES)}.")],
    target: Annotated[str, typer.Option(help="URL, routing key or e-mail address.")],
    event_type: Annotated[
        list[str] | None, typer.Option("--event-type", help="created, resolved, … (repeat).")
    ] = None,
    min_severity: Annotated[str | None, typer.Option(help="critical … info.")] = None,
    min_impact: Annotated[str | None, typer.Option(help="HIGH, MEDIUM or LOW.")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="Any of these tags.")] = None,
    product: Annotated[
        list[str] | None, typer.Option("--product", help="Touching any of these products.")
    ] = None,
) -> None:
    """Subscribe a channel; a webhook's signing secret is printed once, on the last line."""
    from incidentd.channels.registry import check_target
    from incidentd.channels.webhook import new_secret
    from incidentd.storage.spaces import list_spaces
    from incidentd.storage.subscriptions import create_subscription

    if channel not in CHANNEL_NAMES:
        raise _fail(f"unknown channel '{channel}' (one of: {', '.join(CHANNEL_NAMES)})")
    problem = check_target(channel, target)
    if problem is not None:
        raise _fail(f"target: {problem}")
    filter_ = _filter(
        {
            "event_types": event_type or [],
            "min_severity": min_severity,
            "min_impact": min_impact,
            "tags": tag or [],
            "products": product or [],
        }
    )
    secret = new_secret() if channel == "webhook" else None
    with _transaction() as conn:
        if space not in {s.slug for s in list_spaces(conn)}:
            raise _fail(f"space '{space}' not found")
        sub = create_subscription(
            conn, space, channel, target.strip(), filter_, secret=secret, created_by="cli"
        )
    console.print(f"subscription {sub.id}: {channel} in {space}")
    if secret is not None:
        console.print("signing secret (shown once):")
        print(secret)


@subscriptions_app.command("list")
def list_(space: Space) -> None:
    """The space's subscriptions (targets masked)."""
    from incidentd.channels.registry import mask
    from incidentd.storage.subscriptions import list_subscriptions

    with _transaction() as conn:
        subs = list_subscriptions(conn, [space])
    table = Table("id", "channel", "target", "filter", "created")
    for s in subs:
        shown = s.filter.model_dump_json(exclude_defaults=True)
        table.add_row(s.id, s.channel, mask(s.channel, s.target), shown, str(s.created_at))
    console.print(table)


@subscriptions_app.command("remove")
def remove(space: Space, subscription_id: Annotated[str, typer.Argument()]) -> None:
    """Remove a subscription and its deliveries."""
    from incidentd.storage.subscriptions import delete_subscription

    with _transaction() as conn:
        if not delete_subscription(conn, space, subscription_id):
            raise _fail(f"subscription '{subscription_id}' not found in {space}")
    console.print(f"removed {subscription_id}")


@subscriptions_app.command("deliveries")
def deliveries(
    space: Space,
    status: Annotated[str | None, typer.Option(help="pending, sent or failed.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
) -> None:
    """The newest deliveries of the space's subscriptions."""
    from incidentd.storage.outbox import STATUSES
    from incidentd.storage.subscriptions import space_deliveries

    if status is not None and status not in STATUSES:
        raise _fail(f"status must be one of: {', '.join(STATUSES)}")
    with _transaction() as conn:
        rows, total = space_deliveries(conn, space, status=status, skip=0, limit=limit)
    table = Table("id", "channel", "event", "incident", "status", "attempts", "last error")
    for r in rows:
        table.add_row(
            str(r.id),
            r.channel,
            r.event_type or "",
            str(r.incident_id or ""),
            r.status,
            str(r.attempts),
            (r.last_error or "")[:80],
        )
    console.print(table)
    console.print(f"{len(rows)} of {total}")


@subscriptions_app.command("redeliver")
def redeliver_cmd(space: Space, delivery_id: Annotated[int, typer.Argument()]) -> None:
    """Send a delivery again."""
    from incidentd.storage.subscriptions import redeliver

    with _transaction() as conn:
        if not redeliver(conn, space, delivery_id):
            raise _fail(f"delivery {delivery_id} not found in {space}")
    console.print(f"delivery {delivery_id} queued again")
