"""How many alerts per second one worker handles end to end (a figure, and a floor)."""

from __future__ import annotations

import json
import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from sqlalchemy import text

from incidentd.schemas.alert import alert_key
from incidentd.schemas.lineage import EdgeSpec, LineageDocument, ProductSpec
from incidentd.storage.db import make_engine
from incidentd.storage.lineage import import_document
from incidentd.storage.spaces import INCIDENTS_FEATURE, upsert_space
from tests.support.services import TopicSet
from tests.support.wait import wait_until
from tests.support.workers import WorkerProcess, metric, produce, worker_env

ALERTS = 20_000
SPACE = "bulk"
OUTPUT = Path(__file__).resolve().parents[2] / "test-output"


def layered_lineage(seed: int, layers: tuple[int, ...] = (40, 80, 100, 80)) -> LineageDocument:
    """Sources -> staging -> marts -> reports with fan-in and fan-out."""
    rng = random.Random(seed)
    names = [[f"l{i}_p{j}" for j in range(n)] for i, n in enumerate(layers)]
    products = [ProductSpec(id=p, space=SPACE) for layer in names for p in layer]
    edges = [
        EdgeSpec(upstream=rng.choice(names[i - 1]), downstream=p)
        for i in range(1, len(names))
        for p in names[i]
        for _ in range(rng.randint(1, 2))
    ]
    return LineageDocument(products=products, edges=edges)


def alert_stream(seed: int, doc: LineageDocument) -> list[tuple[bytes, bytes]]:
    """Cascades over four days: each picks a region, repeats, some recover."""
    rng = random.Random(seed)
    base = datetime(2026, 2, 1, tzinfo=UTC)
    products = [p.id for p in doc.products]
    out = []
    for i in range(ALERTS):
        product = rng.choice(products)
        at = base + timedelta(minutes=rng.randint(0, 4 * 24 * 60))
        body = {
            "schema_version": 1,
            "alert_id": f"bulk-{i}",
            "space": SPACE,
            "product_id": product,
            "alert_type": "quality_check_failed",
            "severity": rng.choice(["high", "low"]),
            "occurred_at": at.isoformat().replace("+00:00", "Z"),
            "fingerprint": f"{product}/{rng.randint(0, 2)}",
        }
        out.append((alert_key(SPACE), orjson.dumps(body)))
    return out


def test_one_worker_throughput(
    migrated_db: str, kafka_bootstrap: str, topics: TopicSet, tmp_path: Path
) -> None:
    doc = layered_lineage(7)
    engine = make_engine(migrated_db, pool_size=1)
    with engine.begin() as conn:
        upsert_space(conn, SPACE, features=[INCIDENTS_FEATURE])
        import_document(conn, doc)
    produce(kafka_bootstrap, topics.alerts, alert_stream(7, doc))
    worker = WorkerProcess(
        worker_env(migrated_db, kafka_bootstrap, topics, INCIDENTD_LOG_LEVEL="WARNING"),
        tmp_path / "worker.log",
    ).start()
    try:
        port = worker.metrics_port
        wait_until(
            lambda: metric(port, "incidentd_alerts_processed_total") > 0,
            timeout=60,
            interval=0.01,
            message=worker.log_text,
        )
        started = time.monotonic()
        wait_until(
            lambda: metric(port, "incidentd_alerts_processed_total") >= ALERTS,
            timeout=300,
            interval=0.05,
            message=worker.log_text,
        )
        stored = time.monotonic()
        with engine.connect() as conn:
            wait_until(
                lambda: (
                    conn.execute(text("SELECT count(*) FROM outbox WHERE sent_at IS NULL")).scalar()
                    == 0
                    and conn.commit() is None
                ),
                timeout=120,
            )
            incidents = conn.execute(text("SELECT count(*) FROM incidents")).scalar()
        published = time.monotonic()
    finally:
        worker.kill()
        engine.dispose()
    figures = {
        "alerts": ALERTS,
        "products": len(doc.products),
        "incidents": incidents,
        "stored_and_correlated_per_s": round(ALERTS / (stored - started)),
        "end_to_end_per_s": round(ALERTS / (published - started)),
    }
    OUTPUT.mkdir(exist_ok=True)
    (OUTPUT / "throughput.json").write_text(json.dumps(figures, indent=2))
    print(json.dumps(figures))
    assert figures["end_to_end_per_s"] >= 1000, figures
