"""`incidentd users tokens list|create|revoke`: the life cycle of API tokens."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from incidentd.schemas.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy import Connection

tokens_app = typer.Typer(help="List, create and revoke API tokens.", no_args_is_help=True)
console = Console()
err = Console(stderr=True)


@contextmanager
def _transaction() -> Iterator[Connection]:
    from incidentd.storage.db import make_engine

    url = Settings().database_url
    if not url:
        err.print("[red]INCIDENTD_DATABASE_URL is not set[/red]")
        raise typer.Exit(2)
    engine = make_engine(url, pool_size=1)
    try:
        with engine.begin() as conn:
            yield conn
    finally:
        engine.dispose()


def _when(value: object) -> str:
    return "-" if value is None else str(value)[:19]


@tokens_app.command("list")
def tokens_list(
    email: Annotated[str | None, typer.Option(help="Only this user's tokens.")] = None,
    space: Annotated[str | None, typer.Option(help="Only tokens of this space's members.")] = None,
) -> None:
    """Show tokens (never the tokens themselves): id, user, name, state, dates."""
    from incidentd.storage.tokens import list_tokens

    with _transaction() as conn:
        found = list_tokens(conn, email=email, space=space)
    table = Table("id", "user", "name", "state", "created", "expires", "last used", title="tokens")
    for t in found:
        table.add_row(
            str(t.id),
            escape(t.email),
            escape(t.name or ""),
            t.state,
            _when(t.created_at),
            _when(t.expires_at),
            _when(t.last_used_at),
        )
    console.print(table)


@tokens_app.command("create")
def tokens_create(
    email: Annotated[str, typer.Argument(help="The user's e-mail address.")],
    name: Annotated[str | None, typer.Option(help="What the token is for.")] = None,
    days: Annotated[
        float | None,
        typer.Option(help="Days until it expires (0: never; default INCIDENTD_TOKEN_DAYS)."),
    ] = None,
) -> None:
    """Give an existing user a new token, printed alone on the last line."""
    from incidentd.storage.tokens import issue_for

    life = Settings().token_days if days is None else days
    try:
        with _transaction() as conn:
            token_id, token = issue_for(conn, email, name=name, days=life or None)
    except ValueError as exc:
        err.print(f"[red]cannot create token:[/red] {escape(str(exc))}")
        raise typer.Exit(2) from exc
    expiry = f"expires in {life:g} days" if life else "never expires"
    console.print(f"token {token_id} of {escape(email)} ({expiry}), shown once:")
    print(token)


@tokens_app.command("revoke")
def tokens_revoke(token_id: Annotated[int, typer.Argument(help="Token id (see list).")]) -> None:
    """Revoke a token: it stops working at once, and so do UI sessions opened with it."""
    from incidentd.storage.tokens import revoke_token

    with _transaction() as conn:
        done = revoke_token(conn, token_id)
    if not done:
        err.print(f"[red]no token {token_id}[/red]")
        raise typer.Exit(1)
    console.print(f"token {token_id} revoked")
