"""The ways in, end to end: a document posted over HTTP or sent with `incidentd ingest` is
queued, relayed to the alerts topic by a real worker, and becomes stored alerts and incidents;
the same document again changes nothing; bad input reaches neither the topic nor the worker."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from incidentd.api.app import create_app
from incidentd.api.routes.intake import MAX_DOCUMENT_BYTES
from incidentd.app.demo_dbt import DBT_TARGET, SHOP_LINEAGE, SHOP_SPACE
from incidentd.lineage.document import load_document
from incidentd.schemas.lineage import EdgeSpec, LineageDocument, ProductSpec
from incidentd.schemas.settings import Settings
from incidentd.storage.lineage import import_document
from incidentd.storage.users import create_user
from tests.support.services import TopicSet
from tests.support.spaces import space_engine
from tests.support.tools import finish_dbt, run_dbt
from tests.support.wait import wait_until
from tests.support.workers import TopicReader, WorkerProcess, metric, worker_env

SPACE = "shop"
EVENT = {
    "schema_version": 1,
    "alert_type": "quality_check_failed",
    "severity": "high",
}


LINEAGE = LineageDocument(
    products=[
        ProductSpec(id="src", space=SPACE),
        ProductSpec(id="stg", space=SPACE, datasets=["model.shop.stg"]),
        ProductSpec(id="mart", space=SPACE),
    ],
    edges=[
        EdgeSpec(upstream="src", downstream="stg"),
        EdgeSpec(upstream="stg", downstream="mart"),
    ],
)


@pytest.fixture
def engine(migrated_db: str) -> Iterator[Engine]:
    """Space `shop` with `src -> stg -> mart`; `stg` claims a dbt node."""
    with space_engine(migrated_db, [SPACE], LINEAGE) as eng:
        yield eng


@pytest.fixture
def client(engine: Engine, migrated_db: str, topics: TopicSet) -> Iterator[tuple[TestClient, str]]:
    """The HTTP API on the worker's database and topics, and an `ingest` token."""
    with engine.begin() as conn:
        token = create_user(conn, "pipeline@example.com", SPACE, "ingest")
    settings = Settings(
        database_url=migrated_db, alerts_topic=topics.alerts, incidents_topic=topics.incidents
    )
    with TestClient(create_app(settings)) as api:
        yield api, token


def stored(engine: Engine) -> dict[str, str | None]:
    """alert_id -> incident id of every stored alert."""
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT alert_id, incident_id FROM alerts")).fetchall()
    return {r.alert_id: (str(r.incident_id) if r.incident_id else None) for r in rows}


def incidents(engine: Engine) -> list[dict[str, Any]]:
    """Every incident not merged away, oldest first."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT id, status, root_product_id, alert_count, version FROM incidents "
                "WHERE merged_into IS NULL ORDER BY created_at, id"
            )
        ).fetchall()
    return [dict(r._mapping) for r in rows]


def alerts_on_topic(reader: TopicReader) -> list[tuple[str, str]]:
    """(key, alert_id) of every record the alerts topic holds so far."""
    reader.poll()
    return [(r.key.decode(), orjson.loads(r.value)["alert_id"]) for r in reader.records]


def alert(alert_id: str, product: str, minute: int, **extra: Any) -> dict[str, Any]:
    """An alert event v1 at 14:MM on 2026-02-27."""
    at = f"2026-02-27T14:{minute:02d}:00Z"
    return {**EVENT, "alert_id": alert_id, "product_id": product, "occurred_at": at, **extra}


def test_http_alerts_become_one_incident_and_a_resend_changes_nothing(
    worker: WorkerProcess,
    engine: Engine,
    client: tuple[TestClient, str],
    kafka_bootstrap: str,
    topics: TopicSet,
) -> None:
    api, token = client
    headers = {"Authorization": f"Bearer {token}"}
    body = [
        alert("h-src", "src", 0),
        alert("h-stg", "stg", 2),
        alert("h-bad", "mart", 3, severity="catastrophic"),
    ]
    answer = api.post(f"/spaces/{SPACE}/alerts", json=body, headers=headers)
    assert answer.status_code == 422 and answer.json()["accepted"] == 2
    wait_until(
        lambda: set(stored(engine)) == {"h-src", "h-stg"} and all(stored(engine).values()),
        timeout=60,
        message=lambda: f"stored {stored(engine)}\n{worker.log_text()}",
    )
    [incident] = incidents(engine)
    assert (incident["root_product_id"], incident["alert_count"]) == ("src", 2)

    again = api.post(f"/spaces/{SPACE}/alerts", json=body, headers=headers)
    assert again.status_code == 422 and again.json()["accepted"] == 2
    wait_until(
        lambda: metric(worker.metrics_port, "incidentd_alerts_duplicate_total") >= 2,
        timeout=60,
        message=lambda: f"the worker did not see the re-sent alerts\n{worker.log_text()}",
    )
    assert incidents(engine) == [incident]
    assert set(stored(engine)) == {"h-src", "h-stg"}
    reader = TopicReader(kafka_bootstrap, topics.alerts)
    assert sorted(alerts_on_topic(reader)) == sorted([(SPACE, "h-src"), (SPACE, "h-stg")] * 2), (
        "a rejected item reached the alerts topic"
    )
    reader.close()
    assert metric(worker.metrics_port, "incidentd_dead_letters_total") == 0


def ingest_cli(db_url: str, topics: TopicSet, *args: str) -> subprocess.CompletedProcess[str]:
    """`incidentd ingest ARGS` as a pipeline step runs it."""
    env = worker_env(db_url, "unused:9092", topics, COLUMNS="200")
    return subprocess.run(
        [sys.executable, "-m", "incidentd.app.cli", "ingest", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_dbt_run_sent_with_the_cli_becomes_one_incident_rooted_at_the_source(
    worker: WorkerProcess, engine: Engine, migrated_db: str, topics: TopicSet
) -> None:
    with engine.begin() as conn:
        import_document(conn, load_document(SHOP_LINEAGE))
    dry = ingest_cli(
        migrated_db, topics, "dbt", str(DBT_TARGET), "--space", SHOP_SPACE, "--dry-run"
    )
    assert dry.returncode == 0, dry.stderr
    assert "dry run: nothing published" in dry.stdout and "orders_raw" in dry.stdout
    sent = ingest_cli(migrated_db, topics, "dbt", str(DBT_TARGET), "--space", SHOP_SPACE)
    assert sent.returncode == 0, sent.stderr
    assert f"queued 9 alerts for {topics.alerts}" in sent.stdout
    wait_until(
        lambda: len(stored(engine)) == 9,
        timeout=60,
        message=lambda: f"stored {stored(engine)}\n{worker.log_text()}",
    )
    [incident] = wait_until(
        lambda: [i for i in incidents(engine) if i["alert_count"] == 4],
        timeout=30,
        message=lambda: f"incidents {incidents(engine)}",
    )
    assert (incident["root_product_id"], incident["status"]) == ("orders_raw", "open")

    again = ingest_cli(migrated_db, topics, "dbt", str(DBT_TARGET), "--space", SHOP_SPACE)
    assert again.returncode == 0, again.stderr
    wait_until(
        lambda: metric(worker.metrics_port, "incidentd_alerts_duplicate_total") >= 9,
        timeout=60,
        message=lambda: f"the worker did not see the re-sent run\n{worker.log_text()}",
    )
    assert incidents(engine) == [incident]
    assert len(stored(engine)) == 9


def test_bad_input_reaches_neither_the_topic_nor_the_worker(
    worker: WorkerProcess,
    engine: Engine,
    client: tuple[TestClient, str],
    topics: TopicSet,
    tmp_path: Path,
) -> None:
    api, token = client
    db_url, bootstrap = (
        worker.env[f"INCIDENTD_{k}"] for k in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS")
    )
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    path = f"/spaces/{SPACE}/alerts"
    refused = {
        "malformed": api.post(path, content=b"[{", headers=headers),
        "no manifest": api.post(f"{path}/dbt", json={"run_results": {}}, headers=headers),
        "wrong tool": api.post(f"{path}/nagios", json={}, headers=headers),
        "unknown space": api.post("/spaces/nowhere/alerts", json=[], headers=headers),
        "oversized": api.post(
            path, content=b"[" + b" " * MAX_DOCUMENT_BYTES + b"]", headers=headers
        ),
    }
    codes = {name: answer.status_code for name, answer in refused.items()}
    assert codes == {
        "malformed": 422,
        "no manifest": 422,
        "wrong tool": 404,
        "unknown space": 404,
        "oversized": 413,
    }
    assert all(answer.json()["detail"] for answer in refused.values())
    (tmp_path / "run_results.json").write_bytes((DBT_TARGET / "run_results.json").read_bytes())
    cli = ingest_cli(db_url, topics, "dbt", str(tmp_path), "--space", SPACE)
    assert cli.returncode == 2 and "has no manifest.json" in cli.stderr

    marker = api.post(path, json=[alert("marker", "src", 0)], headers=headers)
    assert marker.status_code == 202
    wait_until(
        lambda: "marker" in stored(engine),
        timeout=60,
        message=lambda: f"stored {stored(engine)}\n{worker.log_text()}",
    )
    reader = TopicReader(bootstrap, topics.alerts)
    assert alerts_on_topic(reader) == [(SPACE, "marker")]
    reader.close()
    assert set(stored(engine)) == {"marker"}
    assert metric(worker.metrics_port, "incidentd_dead_letters_total") == 0


def test_dbt_runs_sent_after_each_step_open_the_incident_and_the_green_run_resolves_it(
    worker: WorkerProcess, engine: Engine, migrated_db: str, topics: TopicSet, tmp_path: Path
) -> None:
    runs = {"broken": tmp_path / "broken", "green": tmp_path / "green"}
    for name, out in runs.items():  # dbt runs beside the worker; the green run is the later one
        finish_dbt(run_dbt(out, broken=name == "broken"))
    with engine.begin() as conn:
        import_document(conn, load_document(SHOP_LINEAGE))

    def send(run: str) -> None:
        for step in ("run", "test"):  # as a pipeline does after `dbt run` and after `dbt test`
            done = ingest_cli(
                migrated_db, topics, "dbt", str(runs[run] / step), "--space", SHOP_SPACE
            )
            assert done.returncode == 0, done.stdout + done.stderr

    def open_incidents() -> list[dict[str, Any]]:
        return [i for i in incidents(engine) if i["status"] != "resolved"]

    send("broken")
    [incident] = wait_until(
        lambda: [i for i in open_incidents() if i["alert_count"] == 5],
        timeout=90,
        message=lambda: f"incidents {incidents(engine)}\n{worker.log_text()}",
    )
    assert incident["root_product_id"] == "orders_raw"
    send("green")
    wait_until(
        lambda: not open_incidents() and incidents(engine),
        timeout=90,
        message=lambda: f"the green run did not resolve {incidents(engine)}\n{worker.log_text()}",
    )
    assert [i["id"] for i in incidents(engine)] == [incident["id"]]
