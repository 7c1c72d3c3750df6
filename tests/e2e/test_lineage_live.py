"""A running worker follows lineage changes (import and OpenLineage topic) without a restart."""

from __future__ import annotations

import re
import time
import urllib.request
from collections.abc import Iterator

import orjson
import pytest
from kafka import KafkaProducer
from sqlalchemy import Engine, text

from incidentd.schemas.lineage import EdgeSpec, LineageDocument, ProductSpec
from incidentd.storage.lineage import import_document
from tests.support.services import TopicSet
from tests.support.spaces import space_engine
from tests.support.wait import wait_until
from tests.support.workers import TopicReader, WorkerProcess, alert, latest_by_incident, produce

SPACE = "live"
PICKUP_SECONDS = 5.0
DLQ_HEADERS = {"error", "error_type", "source_topic", "source_partition", "source_offset"}


LINEAGE = LineageDocument(
    products=[
        ProductSpec(id="a", space=SPACE),
        ProductSpec(id="b", space=SPACE),
        ProductSpec(id="x_prod", space=SPACE, datasets=["warehouse/x"]),
        ProductSpec(id="y_prod", space=SPACE, datasets=["warehouse/y"]),
    ]
)


@pytest.fixture
def engine(migrated_db: str) -> Iterator[Engine]:
    """An engine on the worker's database, with the space and two unconnected products."""
    with space_engine(migrated_db, [SPACE], LINEAGE) as eng:
        yield eng


def running(worker: WorkerProcess) -> None:
    """Fail at once, with the worker's log, when the worker process has died."""
    assert worker.proc is not None
    code = worker.proc.poll()
    if code is not None:
        raise AssertionError(f"worker exited with {code}\n{worker.log_text()}")


def lineage_version_metric(port: int, space: str) -> float | None:
    """`incidentd_lineage_version{space=...}` on the worker, None if absent or not listening."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
            body = resp.read().decode()
    except OSError:
        return None
    pattern = rf'^incidentd_lineage_version\{{space="{re.escape(space)}"\}} (\S+)$'
    found = re.search(pattern, body, re.M)
    return None if found is None else float(found.group(1))


def db_version(engine: Engine) -> int:
    """The space's lineage version in the database."""
    with engine.connect() as conn:
        value = conn.execute(
            text("SELECT lineage_version FROM spaces WHERE slug = :s"), {"s": SPACE}
        ).scalar_one()
    return int(value)


def incident_holding(worker: WorkerProcess, reader: TopicReader, alert_id: str) -> str:
    """Id of the incident whose events list `alert_id` (newest event wins), "" if none yet."""
    running(worker)
    reader.poll()
    holder = ""
    for event in reader.json():
        if alert_id in event["alert_ids"]:
            holder = event["incident_id"]
    return holder


def test_worker_picks_up_an_imported_edge_without_restart(
    worker: WorkerProcess, engine: Engine, kafka_bootstrap: str, topics: TopicSet
) -> None:
    incidents = TopicReader(kafka_bootstrap, topics.incidents)
    produce(kafka_bootstrap, topics.alerts, [alert("la1", "a", 0, space=SPACE)])
    first = wait_until(
        lambda: incident_holding(worker, incidents, "la1"),
        timeout=60,
        message=lambda: f"no incident for la1\n{worker.log_text()}",
    )

    def held() -> float | None:
        running(worker)
        return lineage_version_metric(worker.metrics_port, SPACE)

    before = db_version(engine)
    wait_until(
        lambda: held() == before,
        timeout=PICKUP_SECONDS,
        message="the worker does not report the lineage version it holds",
    )

    with engine.begin() as conn:
        import_document(
            conn, LineageDocument(edges=[EdgeSpec(upstream="a", downstream="b", space=SPACE)])
        )
    imported_at = time.monotonic()
    after = db_version(engine)
    assert after == before + 1
    wait_until(
        lambda: held() == after,
        timeout=PICKUP_SECONDS,
        message=lambda: f"worker still at lineage version {held()}, database at {after}",
    )
    picked_up = time.monotonic() - imported_at
    assert picked_up <= PICKUP_SECONDS

    produce(kafka_bootstrap, topics.alerts, [alert("lb1", "b", 10, space=SPACE)])
    second = wait_until(
        lambda: incident_holding(worker, incidents, "lb1"),
        timeout=60,
        message=lambda: f"no incident for lb1\n{incidents.json()}\n{worker.log_text()}",
    )
    assert second == first, "the alert on b did not join the incident of a after a -> b"
    final = latest_by_incident(incidents.json())
    assert set(final) == {first}
    incident = final[first]["incident"]
    assert incident["alert_count"] == 2
    assert incident["products"] == ["a", "b"]
    assert incident["root_product_id"] == "a"
    assert incident["blast_radius_snapshot"] == ["a", "b"]
    assert worker.proc is not None
    assert worker.proc.poll() is None  # same process, no restart
    incidents.close()


def test_lineage_topic_adds_edges_and_dead_letters_bad_records(
    worker: WorkerProcess, engine: Engine, kafka_bootstrap: str, topics: TopicSet
) -> None:
    run_event = {
        "eventType": "COMPLETE",
        "eventTime": "2026-02-27T14:00:00.000Z",
        "run": {"runId": "0195c2a4-1f4b-7c3e-9d4e-6c1f2a3b4c5d"},
        "job": {"namespace": "airflow", "name": "build_y"},
        "inputs": [{"namespace": "warehouse", "name": "x"}],
        "outputs": [{"namespace": "warehouse", "name": "y"}],
        "producer": "https://github.com/OpenLineage/OpenLineage/tree/1.20.0/integration/airflow",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
    }
    not_json = b"this is {not json"
    no_job = orjson.dumps({"eventType": "START", "inputs": [], "outputs": []})
    before = db_version(engine)

    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, linger_ms=5)
    try:
        bad_meta = producer.send(topics.lineage, key=b"k-bad", value=not_json).get(timeout=30)
        no_job_meta = producer.send(topics.lineage, key=b"k-nojob", value=no_job).get(timeout=30)
        producer.send(topics.lineage, key=b"k-good", value=orjson.dumps(run_event)).get(timeout=30)
    finally:
        producer.close()

    def edges() -> list[tuple[str, str, str]]:
        running(worker)
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT space, upstream, downstream FROM edges")).all()
        return [(r[0], r[1], r[2]) for r in rows]

    wait_until(
        edges,
        timeout=60,
        message=lambda: f"no edge from the RunEvent\n{worker.log_text()}",
    )
    assert edges() == [(SPACE, "x_prod", "y_prod")]
    assert db_version(engine) == before + 1
    with engine.connect() as conn:
        products = conn.execute(text("SELECT id FROM products ORDER BY id")).scalars().all()
    assert products == ["a", "b", "x_prod", "y_prod"]  # claimed datasets add no nodes

    # a replay changes nothing; an unclaimed dataset becomes its own node `namespace/name`
    to_z = dict(run_event, outputs=[{"namespace": "warehouse", "name": "z"}])
    produce(
        kafka_bootstrap,
        topics.lineage,
        [(b"k-good", orjson.dumps(run_event)), (b"k-good", orjson.dumps(to_z))],
    )
    wait_until(
        lambda: len(edges()) == 2,
        timeout=30,
        message=lambda: f"edges: {edges()}\n{worker.log_text()}",
    )
    assert sorted(edges()) == [(SPACE, "x_prod", "warehouse/z"), (SPACE, "x_prod", "y_prod")]
    assert db_version(engine) == before + 2  # same partition: the replay was applied first
    with engine.connect() as conn:
        z = conn.execute(
            text("SELECT space, datasets FROM products WHERE id = 'warehouse/z'")
        ).one()
    assert tuple(z) == (SPACE, ["warehouse/z"])

    dlq = TopicReader(kafka_bootstrap, topics.dlq)

    def dead_letters() -> int:
        running(worker)
        return len(dlq.poll())

    wait_until(
        lambda: dead_letters() >= 2,
        timeout=30,
        message=lambda: f"dead letters: {dlq.records}\n{worker.log_text()}",
    )
    by_key = {r.key: r for r in dlq.records}
    assert set(by_key) == {b"k-bad", b"k-nojob"}
    for key, value, meta, kind in (
        (b"k-bad", not_json, bad_meta, "invalid_json"),
        (b"k-nojob", no_job, no_job_meta, "invalid_lineage"),
    ):
        record = by_key[key]
        headers = {k: v.decode() for k, v in record.headers}
        assert set(headers) >= DLQ_HEADERS
        assert record.value == value  # the original bytes, unchanged
        assert headers["error_type"] == kind
        assert headers["error"]
        assert headers["source_topic"] == topics.lineage
        assert headers["source_partition"] == str(meta.partition)
        assert headers["source_offset"] == str(meta.offset)
    assert worker.proc is not None
    assert worker.proc.poll() is None  # a bad record never stops the worker
    dlq.close()
