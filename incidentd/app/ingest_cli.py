"""`incidentd ingest TOOL PATH`: a pipeline step sending a tool's results to incidentd.

The document is mapped against the space's catalog and its alerts are queued in the outbox in
one transaction (the worker's relay publishes them to the alerts topic): all of them or, when
the file is missing or unusable, none. `--dry-run` prints the alerts and queues nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from incidentd.app.artifacts import ArtifactError, load_dbt_target, load_tool_file
from incidentd.app.logs import configure_logging
from incidentd.intake import registry
from incidentd.intake.base import IntakeError
from incidentd.schemas.settings import Settings

if TYPE_CHECKING:
    from incidentd.storage.intake import IntakeResult

ingest_app = typer.Typer(
    help="Send a monitoring tool's results to incidentd (queued for the alerts topic).",
    no_args_is_help=True,
)
console = Console()
err = Console(stderr=True)

SpaceOption = Annotated[
    str,
    typer.Option("--space", help="Space the alerts belong to.", envvar="INCIDENTD_INGEST_SPACE"),
]
DryRunOption = Annotated[
    bool, typer.Option("--dry-run", help="Print the alerts as a table and publish nothing.")
]
FileArgument = Annotated[Path, typer.Argument(help="The tool's JSON result file.")]


@ingest_app.command("dbt")
def ingest_dbt(
    target_dir: Annotated[
        Path, typer.Argument(help="dbt's target/ directory (run_results.json and manifest.json).")
    ],
    space: SpaceOption,
    dry_run: DryRunOption = False,
) -> None:
    """dbt test or build results: failing tests and models fire, passing tests recover."""
    run("dbt", lambda: load_dbt_target(target_dir), space, dry_run=dry_run)


@ingest_app.command("gx")
def ingest_gx(file: FileArgument, space: SpaceOption, dry_run: DryRunOption = False) -> None:
    """A Great Expectations 1.x validation result (one alert per expectation)."""
    run("gx", lambda: load_tool_file(file), space, dry_run=dry_run)


@ingest_app.command("soda")
def ingest_soda(file: FileArgument, space: SpaceOption, dry_run: DryRunOption = False) -> None:
    """A Soda scan result (`soda scan -srf FILE`): failing or warning checks fire."""
    run("soda", lambda: load_tool_file(file), space, dry_run=dry_run)


@ingest_app.command("alertmanager")
def ingest_alertmanager(
    file: FileArgument, space: SpaceOption, dry_run: DryRunOption = False
) -> None:
    """A Prometheus Alertmanager webhook payload (version 4)."""
    run("alertmanager", lambda: load_tool_file(file), space, dry_run=dry_run)


def run(tool: str, load: Callable[[], dict[str, Any]], space: str, *, dry_run: bool) -> None:
    """Load, map and queue one document; exit 2 queueing nothing when it is unusable, 1 when
    some items were rejected (the others are queued)."""
    settings = Settings()
    configure_logging(settings.log_format, settings.log_level)
    try:
        document = load()
        source = registry.source(tool)
        if source is None:
            raise LookupError(f"incidentd does not read {tool} documents")
        result = _map_and_queue(settings, source, document, space, dry_run=dry_run)
    except (ArtifactError, IntakeError, LookupError) as exc:
        _fail(f"{tool}: {exc}")
    show(result, settings.alerts_topic, dry_run=dry_run, resolved=bool(settings.database_url))
    if result.rejected:
        raise typer.Exit(1)


def _map_and_queue(
    settings: Settings, source: Any, document: dict[str, Any], space: str, *, dry_run: bool
) -> IntakeResult:
    from pydantic import TypeAdapter, ValidationError

    from incidentd.schemas.common import Slug
    from incidentd.storage.db import make_engine
    from incidentd.storage.intake import CatalogProducts, ingest, map_document, space_exists

    try:
        TypeAdapter(Slug).validate_python(space)
    except ValidationError as exc:
        raise LookupError(f"invalid space slug {space!r}") from exc
    if dry_run and not settings.database_url:
        return map_document(source, document, space=space, products=CatalogProducts(space, {}, ()))
    if not settings.database_url:
        raise LookupError("INCIDENTD_DATABASE_URL is not set (alerts are queued in the database)")
    engine = make_engine(settings.database_url, pool_size=1)
    try:
        with engine.begin() as conn:
            if not space_exists(conn, space):
                raise LookupError(
                    f"space {space!r} does not exist; create it with 'incidentd spaces create'"
                )
            return ingest(
                conn, source, document, space=space, topic=settings.alerts_topic, dry_run=dry_run
            )
    finally:
        engine.dispose()


def _fail(message: str) -> NoReturn:
    err.print(f"[red]ingest failed:[/red] {escape(message)}; nothing was published")
    raise typer.Exit(2)


def show(result: IntakeResult, topic: str, *, dry_run: bool, resolved: bool = True) -> None:
    """The alerts as a table, then rejections, unresolved targets and what was queued."""
    table = Table(title=f"{result.source} -> {len(result.alerts)} alerts of space {result.space}")
    for column in ("status", "severity", "product", "check", "alert_id"):
        table.add_column(column, overflow="fold")
    for alert in result.alerts:
        check = alert.check.name if alert.check and alert.check.name else alert.alert_type
        table.add_row(
            alert.status.value,
            alert.severity.value,
            alert.product_id,
            check,
            alert.alert_id,
            style="red" if alert.status.value == "firing" else "green",
        )
    console.print(table)
    for rejected in result.rejected:
        console.print(f"rejected {escape(rejected.item)}: {escape(rejected.reason)}")
    if result.unresolved:
        names = ", ".join(result.unresolved)
        console.print(f"no product claims (each is its own node): {escape(names)}")
    if dry_run and not resolved:
        console.print("no database: nothing resolved against the catalog")
    if dry_run:
        console.print("dry run: nothing published")
    else:
        console.print(f"queued {len(result.alerts)} alerts for {topic}")
