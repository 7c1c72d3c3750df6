"""`incidentd demo`: the whole pipeline on embedded services, with a realistic burst."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from prometheus_client import Counter
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, text

from incidentd.app.demo_alerts import DEMO_SPACE, demo_alert_burst
from incidentd.app.demo_dbt import feed_dbt_run
from incidentd.app.embedded import EmbeddedBroker, EmbeddedPostgres, create_topics
from incidentd.lineage.document import load_document
from incidentd.schemas.settings import Settings
from incidentd.storage import outbox
from incidentd.storage.db import make_engine, migrate
from incidentd.storage.lineage import import_document
from incidentd.storage.spaces import INCIDENTS_FEATURE, upsert_space
from incidentd.storage.users import create_user
from incidentd.worker.broker import publish
from incidentd.worker.runner import Worker
from incidentd.worker.source import open_topic_reader

LINEAGE_FILE = Path(__file__).parent / "demo_data" / "finance_lineage.yaml"
DEADLINE_SECONDS = 45.0


@contextlib.contextmanager
def services(settings: Settings, console: Console) -> Iterator[Settings]:
    """Start embedded PostgreSQL and broker unless the settings name real ones."""
    with contextlib.ExitStack() as stack:
        updates: dict[str, object] = {}
        if not settings.database_url:
            with console.status("starting embedded PostgreSQL"):
                pg = stack.enter_context(EmbeddedPostgres())
            console.print(f"PostgreSQL: embedded, {pg.url}")
            updates["database_url"] = pg.url
        if not settings.kafka_bootstrap_servers:
            with console.status("starting embedded Kafka-compatible broker"):
                broker = stack.enter_context(EmbeddedBroker())
            console.print(f"Broker: embedded Tansu at {broker.bootstrap_servers}")
            updates["kafka_bootstrap_servers"] = broker.bootstrap_servers
            updates["producer_idempotence"] = broker.idempotent_producer
        yield settings.model_copy(update=updates)


def run_demo(
    settings: Settings,
    console: Console,
    *,
    serve: bool = False,
    host: str = "127.0.0.1",
    port: int = 8000,
) -> int:
    """Run the demo end to end (then serve the API if asked); returns the exit code."""
    started = time.monotonic()
    with services(settings, console) as base:
        s = base.model_copy(
            update={
                "metrics_port": 0,
                "max_poll_interval_ms": 6000,
                "session_timeout_ms": 6000,
                "heartbeat_interval_ms": 2000,
                "consumer_group": f"incidentd-demo-{int(time.time())}",
            }
        )
        assert s.database_url and s.kafka_bootstrap_servers
        migrate(s.database_url)
        create_topics(
            s.kafka_bootstrap_servers,
            [s.alerts_topic, s.incidents_topic, s.dlq_topic, s.lineage_topic],
            partitions=4,
        )
        engine = make_engine(s.database_url)
        worker = Worker(s, engine)
        thread = threading.Thread(target=worker.run, name="demo-worker", daemon=True)
        try:
            _load_catalog(engine, console)
            expected = _publish(s, console) + feed_dbt_run(engine, s, console)
            thread.start()
            _wait_until_done(worker, engine, expected, console)
            _show_incidents(engine, s.incidents_topic, console)
            _show_dead_letters(s, console)
            if serve:
                _serve(s, engine, console, host, port)
        finally:
            worker.stop()
            if thread.is_alive():
                thread.join(30)
            engine.dispose()
    console.print(f"demo finished in {time.monotonic() - started:.1f} s; nothing left running")
    return 0


def _serve(s: Settings, engine: Engine, console: Console, host: str, port: int) -> None:
    import uvicorn

    from incidentd.api.app import create_app

    with engine.begin() as conn:
        token = create_user(conn, "demo@example.com", DEMO_SPACE, "admin")
    base = f"http://{host}:{port}"
    console.print(f"\nAPI at {base} (OpenAPI: {base}/docs); the worker keeps running.")
    console.print("Try:")
    console.print(f"  export TOKEN={token}")
    console.print(
        f'  curl -s -H "Authorization: Bearer $TOKEN" {base}/spaces/{DEMO_SPACE}/incidents'
    )
    console.print("Press Ctrl-C to stop.")
    config = uvicorn.Config(create_app(s), host=host, port=port, log_level="warning")
    uvicorn.Server(config).run()


def _load_catalog(engine: Engine, console: Console) -> None:
    with engine.begin() as conn:
        upsert_space(conn, DEMO_SPACE, name="Finance", features=[INCIDENTS_FEATURE])
        report = import_document(conn, load_document(LINEAGE_FILE))
    console.print(
        f"lineage: {len(report.products_added)} products, {report.edges_added} edges "
        f"imported into space '{DEMO_SPACE}'"
    )


def _publish(s: Settings, console: Console) -> int:
    records = demo_alert_burst(datetime.now(UTC))
    assert s.kafka_bootstrap_servers
    publish(s.kafka_bootstrap_servers, s.alerts_topic, records)
    console.print(f"published {len(records)} alert records to {s.alerts_topic}")
    return len(records)


def _wait_until_done(worker: Worker, engine: Engine, expected: int, console: Console) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    with console.status("worker correlating alerts"):
        while time.monotonic() < deadline:
            # Handled, not consumed: the intake's alerts sit in the outbox before the topic.
            metrics = worker.metrics
            counters = (metrics.processed, metrics.duplicates, metrics.dead_letters)
            handled = sum(_total(counter) for counter in counters)
            if handled >= expected and _outbox_drained(engine):
                return
            time.sleep(0.2)
    console.print("[yellow]the worker did not finish within the demo's deadline[/yellow]")


def _total(counter: Counter) -> float:
    """A counter's value summed over its labels."""
    return sum(
        sample.value
        for family in counter.collect()
        for sample in family.samples
        if sample.name.endswith("_total")
    )


def _outbox_drained(engine: Engine) -> bool:
    with engine.connect() as conn:
        waiting = outbox.backlog(conn, outbox.KAFKA)
        sent = outbox.sent_count(conn, outbox.KAFKA)
    return bool(sent) and waiting.count == 0


def _show_incidents(engine: Engine, topic: str, console: Console) -> None:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT title, status, severity, impact, alert_count, root_product_id, "
                "suspected_upstream, cardinality(blast_radius) AS radius, merged_into "
                "FROM incidents ORDER BY merged_into IS NOT NULL, created_at, id"
            )
        ).fetchall()
        alerts = conn.execute(text("SELECT count(*) FROM alerts")).scalar()
        events = outbox.sent_count(conn, outbox.KAFKA, topic)
    table = Table(title=f"incidents correlated from {alerts} stored alerts", show_lines=True)
    for column in (
        "title",
        "status",
        "severity",
        "impact",
        "alerts",
        "root",
        "suspected upstream",
        "blast radius",
    ):
        table.add_column(column)
    for r in rows:
        status = f"merged into {str(r.merged_into)[:8]}" if r.merged_into else r.status
        table.add_row(
            r.title,
            status,
            r.severity,
            r.impact,
            str(r.alert_count),
            r.root_product_id or "-",
            ", ".join(r.suspected_upstream[:3]) or "-",
            f"{r.radius} products",
        )
    console.print(table)
    console.print(f"{events} incident events published to the incidents topic")


def _show_dead_letters(s: Settings, console: Console) -> None:
    assert s.kafka_bootstrap_servers
    consumer = open_topic_reader(s.kafka_bootstrap_servers, s.dlq_topic)
    table = Table(title=f"dead letters on {s.dlq_topic}")
    table.add_column("offset")
    table.add_column("error_type")
    table.add_column("error")
    deadline = time.monotonic() + 5
    seen = 0
    while time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=300).values():
            for rec in records:
                headers = {k: (v or b"").decode() for k, v in rec.headers or ()}
                table.add_row(headers["source_offset"], headers["error_type"], headers["error"])
                seen += 1
        if seen:
            break
    consumer.close()
    console.print(table)
