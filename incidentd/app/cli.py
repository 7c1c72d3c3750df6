"""The `incidentd` command line."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from incidentd.app.ingest_cli import ingest_app
from incidentd.app.logs import configure_logging
from incidentd.app.subscriptions_cli import subscriptions_app
from incidentd.app.tokens_cli import tokens_app
from incidentd.schemas.settings import Settings

app = typer.Typer(
    name="incidentd",
    help="Turns data-quality alerts into correlated incidents with their blast radius.",
    no_args_is_help=True,
    add_completion=False,
)
lineage_app = typer.Typer(help="Manage the lineage catalog.", no_args_is_help=True)
spaces_app = typer.Typer(help="Manage spaces.", no_args_is_help=True)
app.add_typer(lineage_app, name="lineage")
app.add_typer(spaces_app, name="spaces")
dlq_app = typer.Typer(help="Work with the dead-letter topic.", no_args_is_help=True)
app.add_typer(dlq_app, name="dlq")
app.add_typer(ingest_app, name="ingest")
app.add_typer(subscriptions_app, name="subscriptions")
console = Console()
err = Console(stderr=True)


def _settings() -> Settings:
    settings = Settings()
    configure_logging(settings.log_format, settings.log_level)
    return settings


def _database_url(settings: Settings) -> str:
    if not settings.database_url:
        err.print("[red]INCIDENTD_DATABASE_URL is not set[/red]")
        raise typer.Exit(2)
    return settings.database_url


@app.command()
def migrate() -> None:
    """Bring the database to the newest schema (safe to run concurrently)."""
    from incidentd.storage.db import current_revision
    from incidentd.storage.db import migrate as run_migrate

    url = _database_url(_settings())
    run_migrate(url)
    console.print(f"database at revision [bold]{current_revision(url)}[/bold]")


@app.command()
def worker() -> None:
    """Consume alerts and lineage, correlate, persist and publish incident events."""
    from incidentd.storage.db import make_engine
    from incidentd.worker import gcpolicy
    from incidentd.worker.runner import Worker

    settings = _settings()
    engine = make_engine(_database_url(settings))
    runner = Worker(settings, engine)
    runner.install_signal_handlers()
    gcpolicy.tune()  # after the imports and set-up: all of that is frozen out of collections
    try:
        runner.run()
    finally:
        engine.dispose()


@lineage_app.command("import")
def lineage_import(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="YAML or JSON file.")],
) -> None:
    """Import products and edges; importing the same file twice changes nothing."""
    from incidentd.lineage.document import LineageFileError, load_document
    from incidentd.storage.db import make_engine
    from incidentd.storage.lineage import import_document

    engine = make_engine(_database_url(_settings()), pool_size=1)
    try:
        document = load_document(file)
        with engine.begin() as conn:
            report = import_document(conn, document)
    except (LineageFileError, ValueError) as exc:
        err.print(f"[red]lineage import failed:[/red] {exc}")
        raise typer.Exit(1) from exc
    finally:
        engine.dispose()
    table = Table("what", "count", title=f"lineage import of {file.name}")
    table.add_row("spaces created", str(len(report.spaces_created)))
    table.add_row("products added", str(len(report.products_added)))
    table.add_row("products updated", str(len(report.products_updated)))
    table.add_row("products unchanged", str(report.products_unchanged))
    table.add_row("edges added", str(report.edges_added))
    table.add_row("edges unchanged", str(report.edges_unchanged))
    console.print(table)
    console.print("changed" if report.changed else "nothing changed")


@spaces_app.command("create")
def spaces_create(
    slug: Annotated[str, typer.Argument(help="Space identifier, e.g. finance.")],
    feature: Annotated[
        list[str] | None, typer.Option("--feature", help="Feature to enable (repeatable).")
    ] = None,
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
    window_hours: Annotated[
        float | None, typer.Option(help="correlation_window in hours (default 6).")
    ] = None,
    auto_resolve: Annotated[
        bool | None, typer.Option("--auto-resolve/--no-auto-resolve", help="auto_resolve.")
    ] = None,
) -> None:
    """Create a space (or update its settings)."""
    from pydantic import TypeAdapter, ValidationError

    from incidentd.schemas.common import Slug
    from incidentd.storage.db import make_engine
    from incidentd.storage.spaces import upsert_space

    try:
        TypeAdapter(Slug).validate_python(slug)
    except ValidationError as exc:
        err.print(f"[red]invalid space slug {slug!r}[/red]: lower-case letters, digits, - and _")
        raise typer.Exit(2) from exc
    engine = make_engine(_database_url(_settings()), pool_size=1)
    window = None if window_hours is None else int(window_hours * 3600)
    try:
        with engine.begin() as conn:
            created = upsert_space(
                conn,
                slug,
                name=name,
                features=feature,
                correlation_window_seconds=window,
                auto_resolve=auto_resolve,
            )
    finally:
        engine.dispose()
    console.print(f"space {slug} {'created' if created else 'updated'}")


@dlq_app.command("replay")
def dlq_replay(
    error_type: Annotated[
        str | None,
        typer.Option(
            "--error-type", help="Only letters with this error_type header, e.g. invalid_json."
        ),
    ] = None,
    limit: Annotated[
        int | None, typer.Option(min=1, help="Replay at most this many letters.")
    ] = None,
) -> None:
    """Re-publish dead letters to the topic they came from (after a fix), and say how many.

    Each filter keeps its own position (consumer group `<INCIDENTD_CONSUMER_GROUP>-dlq-replay.
    <error_type>`, or `.all` without a filter): the same replay run twice replays nothing the
    second time, and a filtered replay leaves the letters of other types for later.
    """
    from rich.markup import escape

    from incidentd.worker.broker import BrokerError
    from incidentd.worker.dlq import DlqReplayError, replay_dead_letters

    settings = _settings()
    if not settings.kafka_bootstrap_servers:
        err.print("[red]INCIDENTD_KAFKA_BOOTSTRAP_SERVERS is not set[/red]")
        raise typer.Exit(2)
    try:
        with err.status(f"replaying dead letters from {escape(settings.dlq_topic)}"):
            report = replay_dead_letters(
                settings.kafka_bootstrap_servers,
                settings.dlq_topic,
                error_type=error_type,
                group=f"{settings.consumer_group}-dlq-replay",
                limit=limit,
            )
    except (DlqReplayError, BrokerError) as exc:
        err.print(f"[red]dlq replay failed:[/red] {escape(str(exc))}")
        raise typer.Exit(1) from exc
    kinds = ", ".join(f"{kind}: {n}" for kind, n in report.by_error_type.items())
    line = f"replayed {report.replayed} dead letter{'' if report.replayed == 1 else 's'}"
    line += f" ({kinds})" if kinds else ""
    line += f"; skipped {report.skipped}"
    if report.unreplayable:
        line += f"; {report.unreplayable} without a source topic or payload"
    console.print(line, markup=False, highlight=False, soft_wrap=True)


users_app = typer.Typer(help="Manage API users.", no_args_is_help=True)
app.add_typer(users_app, name="users")
users_app.add_typer(tokens_app, name="tokens")


@users_app.command("create")
def users_create(
    email: Annotated[str, typer.Argument(help="The user's e-mail address.")],
    space: Annotated[str, typer.Option("--space", help="Space the user joins.")],
    role: Annotated[
        str, typer.Option("--role", help="viewer, editor, admin, or ingest (may only post alerts).")
    ] = "viewer",
) -> None:
    """Create a user (or change their role) and print a new API token on the last line."""
    from incidentd.storage.db import make_engine
    from incidentd.storage.users import create_user

    settings = _settings()
    engine = make_engine(_database_url(settings), pool_size=1)
    try:
        with engine.begin() as conn:
            token = create_user(conn, email, space, role, days=settings.token_days or None)
    except ValueError as exc:
        err.print(f"[red]cannot create user:[/red] {exc}")
        raise typer.Exit(2) from exc
    finally:
        engine.dispose()
    console.print(f"user {email} is {role} in {space}; API token (shown once):")
    print(token)


@app.command()
def api(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Serve the HTTP API."""
    import uvicorn

    from incidentd.api.app import create_app

    settings = _settings()
    _database_url(settings)
    uvicorn.run(create_app(settings), host=host, port=port, log_level="warning")


@app.command()
def demo(
    serve: Annotated[
        bool, typer.Option("--serve", help="Afterwards serve the API on the demo data.")
    ] = False,
    host: Annotated[str, typer.Option(help="API address with --serve.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="API port with --serve.")] = 8000,
) -> None:
    """Run everything on embedded PostgreSQL and an embedded broker, and show the incidents."""
    from incidentd.app.demo import run_demo

    settings = Settings()
    configure_logging(settings.log_format, "ERROR", quiet_kafka=True)
    wide = Console(width=max(console.width, 170))
    sys.exit(run_demo(settings, wide, serve=serve, host=host, port=port))


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
