"""Hostile input on the alerts and lineage topics ends in the DLQ; the worker keeps going.

The corpus is drawn from a seeded `random.Random`, so every run publishes the same records.
Each hostile record is built to fail in one known way, so the test also checks the reason.
"""

from __future__ import annotations

import random
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from kafka import KafkaProducer
from sqlalchemy import text

from incidentd.storage.db import make_engine
from tests.support.services import TopicSet
from tests.support.spaces import with_spaces
from tests.support.wait import wait_until
from tests.support.workers import TopicReader, WorkerProcess, alert, metric, worker_running

SEED = 20260227
SPACE = "shop"
HEADERS = {"error", "error_type", "source_topic", "source_partition", "source_offset"}
HOLE = "@@HOLE@@"  # a placeholder string, replaced by raw bytes after serialisation
INVALID_UTF8 = [b"\xff", b"\xfe\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x80"]
SURROGATES = [b"\\ud800", b"\\udfff", b"x\\udbff", b"\\udc00\\ud800"]


@dataclass(frozen=True)
class Record:
    """One record to publish; `error_type` is None for a valid alert."""

    kind: str
    topic: str  # "alerts" or "lineage"
    key: bytes | None
    value: bytes | None
    error_type: str | None


def valid_alert(rng: random.Random, alert_id: str) -> dict[str, Any]:
    """A contract-valid alert event with some optional fields."""
    return {
        "schema_version": 1,
        "alert_id": alert_id,
        "space": SPACE,
        "product_id": rng.choice(["orders", "payments", "customers"]),
        "alert_type": "quality_check_failed",
        "status": "firing",
        "severity": rng.choice(["critical", "HIGH", "medium", "Low", "info"]),
        "occurred_at": f"2026-02-27T{rng.randrange(24):02d}:{rng.randrange(60):02d}:00+01:00",
        "title": "not_null failed",
        "check": {"id": f"chk-{rng.randrange(100)}"},
        "tags": ["prod"],
    }


def valid_lineage(rng: random.Random) -> dict[str, Any]:
    """A well-formed OpenLineage RunEvent (no product claims its datasets)."""
    return {
        "eventType": "COMPLETE",
        "job": {"namespace": "etl", "name": f"job{rng.randrange(1000)}"},
        "inputs": [{"namespace": "wh", "name": f"in{rng.randrange(1000)}"}],
        "outputs": [{"namespace": "wh", "name": f"out{rng.randrange(1000)}"}],
    }


def with_hole(body: dict[str, Any], field: str, raw: bytes) -> bytes:
    """Serialise `body` with `field`'s string value replaced by raw JSON bytes."""
    return orjson.dumps({**body, field: HOLE}).replace(f'"{HOLE}"'.encode(), raw)


def in_string(body: dict[str, Any], field: str, raw: bytes) -> bytes:
    """Serialise `body` with raw bytes inside `field`'s string value."""
    return with_hole(body, field, b'"ab' + raw + b'cd"')


def nested(rng: random.Random) -> bytes:
    """JSON nested deeper than any parser should follow (orjson stops at 1024)."""
    depth = rng.choice([1025, 2000, 10_000])
    if rng.random() < 0.5:
        return b"[" * depth + b"]" * depth
    return b'{"a":' * depth + b"1" + b"}" * depth


# Broken bytes: the same failures whichever topic they arrive on.
def _binary(rng: random.Random, body: dict[str, Any]) -> tuple[bytes | None, str]:
    return b"\xff" + bytes(rng.randrange(1, 256) for _ in range(rng.randrange(300))), "invalid_json"


def _invalid_utf8(rng: random.Random, body: dict[str, Any]) -> tuple[bytes | None, str]:
    field = rng.choice([k for k, v in body.items() if isinstance(v, str)])
    return in_string(body, field, rng.choice(INVALID_UTF8)), "invalid_json"


def _lone_surrogate(rng: random.Random, body: dict[str, Any]) -> tuple[bytes | None, str]:
    field = rng.choice([k for k, v in body.items() if isinstance(v, str)])
    return in_string(body, field, rng.choice(SURROGATES)), "invalid_json"


def _nul(rng: random.Random, body: dict[str, Any]) -> tuple[bytes | None, str]:
    field = rng.choice([k for k, v in body.items() if isinstance(v, str)])
    return in_string(body, field, rng.choice([b"\\u0000", b"\x00"])), "invalid_characters"


def _deep(rng: random.Random, body: dict[str, Any]) -> tuple[bytes | None, str]:
    return (nested(rng) if rng.random() < 0.3 else with_hole(body, "x", nested(rng))), (
        "invalid_json"
    )


def _truncated(rng: random.Random, body: dict[str, Any]) -> tuple[bytes | None, str]:
    whole = orjson.dumps(body)
    return whole[: rng.randrange(0, len(whole) - 1)], "invalid_json"


def _tombstone(rng: random.Random, body: dict[str, Any]) -> tuple[bytes | None, str]:
    return None, "empty_record"


BROKEN: dict[str, Callable[[random.Random, dict[str, Any]], tuple[bytes | None, str]]] = {
    "binary": _binary,
    "invalid_utf8": _invalid_utf8,
    "lone_surrogate": _lone_surrogate,
    "nul": _nul,
    "deep_nesting": _deep,
    "truncated": _truncated,
    "tombstone": _tombstone,
}

REQUIRED = ["alert_id", "space", "product_id", "alert_type", "severity", "occurred_at"]
WRONG_TYPES: list[Any] = [17, 2.5, True, False, [1], ["a"], {"a": 1}, {}]


def _not_object(rng: random.Random, body: dict[str, Any]) -> tuple[bytes | None, str]:
    return orjson.dumps(rng.choice([[body], 1, "alert", None, True, 3.5, []])), "invalid_alert"


def _missing(rng: random.Random, body: dict[str, Any]) -> tuple[bytes | None, str]:
    del body[rng.choice(REQUIRED)]
    return orjson.dumps(body), "invalid_alert"


def _wrong_type(rng: random.Random, body: dict[str, Any]) -> tuple[bytes | None, str]:
    field = rng.choice([*REQUIRED, "status", "title", "tags", "check", "metric"])
    if field == "tags":
        body[field] = rng.choice(["prod", [1, 2], [["a"]], {"a": "b"}])
    elif field == "metric":
        body[field] = {"value": rng.choice(["high", [1], {"v": 1}])}
    elif field == "check":
        body[field] = rng.choice(["chk-1", 5, ["chk"], {"id": 5}])
    else:  # str and enum fields; numbers would be a valid unix time for occurred_at
        body[field] = rng.choice(WRONG_TYPES[2:] if field == "occurred_at" else WRONG_TYPES)
    return orjson.dumps(body), "invalid_alert"


def _naive_date(rng: random.Random, body: dict[str, Any]) -> tuple[bytes | None, str]:
    day = f"{rng.randrange(1970, 2100)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}"
    body["occurred_at"] = rng.choice([day, f"{day}T12:34:56", f"{day} 01:02", f"{day}T00:00:00.5"])
    return orjson.dumps(body), "invalid_alert"


def _schema_version(rng: random.Random, body: dict[str, Any]) -> tuple[bytes | None, str]:
    if rng.random() < 0.2:
        del body["schema_version"]
    else:
        body["schema_version"] = rng.choice([0, 2, 99, -1, 10**12, "1", "v1", None, [1], {"v": 1}])
    return orjson.dumps(body), "unsupported_schema_version"


def _bad_value(rng: random.Random, body: dict[str, Any]) -> tuple[bytes | None, str]:
    choice = rng.randrange(5)
    if choice == 0:
        body["severity"] = rng.choice(["urgent", "sev1", "", " high"])
    elif choice == 1:
        body["status"] = rng.choice(["open", "closed", ""])
    elif choice == 2:
        body["alert_id"] = rng.choice(["", "x" * rng.randrange(201, 50_000)])
    elif choice == 3:
        body["space"] = rng.choice(["Shop", "a b", "-x", "s" * 64, ""])
    else:
        body["product_id"] = rng.choice(["", "p" * rng.randrange(501, 50_000)])
    return orjson.dumps(body), "invalid_alert"


ALERT_ONLY = {
    "not_object": _not_object,
    "missing_field": _missing,
    "wrong_type": _wrong_type,
    "naive_date": _naive_date,
    "schema_version": _schema_version,
    "bad_value": _bad_value,
}


def _lineage_shape(rng: random.Random, body: dict[str, Any]) -> tuple[bytes | None, str]:
    choice = rng.randrange(6)
    if choice == 0:
        return orjson.dumps(rng.choice([[body], 1, "event", None, False])), "invalid_lineage"
    if choice == 1:
        del body["job"]
    elif choice == 2:
        body["job"] = rng.choice([*WRONG_TYPES, "etl/job", {"namespace": "etl"}])
    elif choice == 3:
        body[rng.choice(["inputs", "outputs"])] = rng.choice([*WRONG_TYPES, [{"name": "x"}]])
    elif choice == 4:
        body["inputs"] = [{"namespace": "", "name": ""}]
    # choice 5: well formed, but no product claims its datasets and no default space is set
    return orjson.dumps(body), "invalid_lineage"


def corpus(rng: random.Random, alerts: int, lineage: int) -> list[Record]:
    """`alerts` + `lineage` hostile records, each with the error type it must get."""
    records = []
    alert_kinds = {**BROKEN, **ALERT_ONLY}
    lineage_kinds = {**BROKEN, "shape": _lineage_shape}
    for n, (topic, kinds) in enumerate(
        [("alerts", alert_kinds)] * alerts + [("lineage", lineage_kinds)] * lineage
    ):
        kind = rng.choice(sorted(kinds))
        body = valid_alert(rng, f"bad-{n}") if topic == "alerts" else valid_lineage(rng)
        value, error_type = kinds[kind](rng, body)
        records.append(Record(kind, topic, hostile_key(rng, value), value, error_type))
    return records


def hostile_key(rng: random.Random, value: bytes | None) -> bytes | None:
    """Keys are opaque bytes too: absent, empty, invalid UTF-8 (never absent with no value)."""
    keys: list[bytes | None] = [
        b"orders",
        b"",
        b"\xff\xfe",
        bytes(rng.randrange(256) for _ in "xyz"),
    ]
    return rng.choice(keys if value is None else [*keys, None])


def big_alert(rng: random.Random, alert_id: str, size: int) -> bytes:
    """A valid alert of exactly `size` bytes (the description fills it up)."""
    body = valid_alert(rng, alert_id)
    body["description"] = ""
    padding = size - len(orjson.dumps(body))
    body["description"] = "d" * padding
    value = orjson.dumps(body)
    assert len(value) == size
    return value


@pytest.fixture
def shop_db(migrated_db: str) -> str:
    """A database with the shop space (incidents enabled)."""
    return with_spaces(migrated_db, [SPACE])


@pytest.fixture
def worker(
    shop_db: str, kafka_bootstrap: str, topics: TopicSet, tmp_path: Path
) -> Iterator[WorkerProcess]:
    """One running worker; killed at the end."""
    with worker_running(shop_db, kafka_bootstrap, topics, tmp_path) as proc:
        yield proc


def publish(
    bootstrap: str, topics: TopicSet, records: list[Record]
) -> dict[tuple[str, int, int], Record]:
    """Publish in order; returns each record by (topic, partition, offset)."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, max_request_size=8 << 20)
    futures = []
    for rec in records:
        topic = topics.alerts if rec.topic == "alerts" else topics.lineage
        futures.append((topic, rec, producer.send(topic, key=rec.key, value=rec.value)))
    producer.flush()
    placed = {}
    for topic, rec, future in futures:
        meta = future.get(timeout=30)
        placed[(topic, meta.partition, meta.offset)] = rec
    producer.close()
    return placed


def healthz(port: int) -> int:
    """HTTP status of the worker's /healthz."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def wait_for_letters(dlq: TopicReader, count: int, worker: WorkerProcess) -> list[Any]:
    """Wait until the DLQ holds `count` letters; fails at once when the worker has died."""

    def enough() -> bool:
        assert worker.proc is not None
        assert worker.proc.poll() is None, f"the worker died:\n{worker.log_text()[-3000:]}"
        return len(dlq.poll()) >= count

    wait_until(enough, timeout=90, message=lambda: f"{len(dlq.records)}/{count} dead letters")
    return dlq.records


def stored_alert_ids(db_url: str) -> set[str]:
    """alert_id of every stored alert."""
    engine = make_engine(db_url, pool_size=1)
    try:
        with engine.connect() as conn:
            return {r[0] for r in conn.execute(text("SELECT alert_id FROM alerts"))}
    finally:
        engine.dispose()


def check_letters(letters: list[Any], placed: dict[tuple[str, int, int], Record]) -> None:
    """Each hostile record is dead-lettered exactly once, unchanged, with its reason."""
    hostile = {where: rec for where, rec in placed.items() if rec.error_type is not None}
    seen: dict[tuple[str, int, int], Any] = {}
    for letter in letters:
        headers = {k: v.decode() for k, v in letter.headers}
        assert set(headers) >= HEADERS, headers
        where = (
            headers["source_topic"],
            int(headers["source_partition"]),
            int(headers["source_offset"]),
        )
        assert where in hostile, f"dead letter for a record that is fine: {where} {headers}"
        assert where not in seen, f"dead-lettered twice: {where}"
        seen[where] = letter
        rec = hostile[where]
        assert (letter.key, letter.value) == (rec.key, rec.value), rec.kind
        assert headers["error"], rec.kind
        assert headers["error_type"] == rec.error_type, (rec.kind, headers["error"])
    assert set(seen) == set(hostile)


def test_hostile_corpus_is_dead_lettered_and_the_worker_survives(
    worker: WorkerProcess, kafka_bootstrap: str, topics: TopicSet, shop_db: str
) -> None:
    rng = random.Random(SEED)
    hostile = corpus(rng, alerts=120, lineage=80)
    hostile.append(Record("too_large", "alerts", b"big", b"x" * 1_020_000, "too_large"))
    hostile.append(
        Record("too_large", "lineage", None, b"[" + b" " * 1_000_000 + b"]", "too_large")
    )
    valid = [Record("valid", "alerts", *alert(f"ok-{i}", "orders", i), None) for i in range(20)]
    valid.append(
        Record("valid_900kb", "alerts", b"orders", big_alert(rng, "ok-big", 900_000), None)
    )
    records = hostile + valid
    rng.shuffle(records)
    assert {r.kind for r in hostile} >= {*BROKEN, *ALERT_ONLY, "shape", "too_large"}

    placed = publish(kafka_bootstrap, topics, records)
    dlq = TopicReader(kafka_bootstrap, topics.dlq)
    letters = wait_for_letters(dlq, len(hostile), worker)
    wait_until(
        lambda: stored_alert_ids(shop_db) == {f"ok-{i}" for i in range(20)} | {"ok-big"},
        timeout=60,
        message=lambda: f"stored: {sorted(stored_alert_ids(shop_db))}",
    )
    wait_until(
        lambda: metric(worker.metrics_port, "incidentd_dead_letters_total") == len(hostile),
        timeout=30,
        message=lambda: f"{metric(worker.metrics_port, 'incidentd_dead_letters_total')} counted",
    )
    check_letters(dlq.poll(), placed)
    assert len(letters) == len(hostile)
    assert worker.proc is not None and worker.proc.poll() is None
    assert healthz(worker.metrics_port) == 200
    dlq.close()


# Records found by fuzzing that stop the worker today (see the report). Each must end in the
# DLQ (or, for a contract-valid alert, be stored) while the worker goes on.
def _pill(seed: int, **fields: Any) -> bytes:
    return orjson.dumps({**valid_alert(random.Random(seed), "pill"), **fields})


PILLS: dict[str, bytes] = {
    # parse_alert lets OverflowError escape: the offset moves the time out of datetime's range.
    "offset_moves_time_out_of_range": _pill(1, occurred_at="0001-01-01T00:00:00+01:00"),
    # Valid alerts, but correlation computes occurred_at -/+ window (and - 24 h): OverflowError.
    "earliest_time": _pill(2, occurred_at="0001-01-01T00:00:00Z"),
    "latest_time": _pill(3, occurred_at="9999-12-31T23:59:59Z"),
    # orjson reads 1e-20000 as 0.0; PostgreSQL's numeric (jsonb `raw`) refuses > 16383 decimals.
    "number_postgres_cannot_store": with_hole(
        valid_alert(random.Random(4), "pill"), "r", b"1e-20000"
    ),
    # Over the worker's own limit and over kafka-python's default max_request_size (1 MiB),
    # which the worker's DLQ producer keeps: sending the dead letter raises.
    "record_over_1_mib": b"x" * 1_500_000,
}


@pytest.mark.parametrize("pill", sorted(PILLS))
def test_poison_pill_does_not_stop_the_worker(
    pill: str, worker: WorkerProcess, kafka_bootstrap: str, topics: TopicSet, shop_db: str
) -> None:
    value = PILLS[pill]
    records = [
        Record(pill, "alerts", b"x", value, None),
        Record("valid", "alerts", *alert("ok", "orders", 0), None),
    ]
    publish(kafka_bootstrap, topics, records)
    dlq = TopicReader(kafka_bootstrap, topics.dlq)

    def settled() -> bool:
        assert worker.proc is not None
        assert worker.proc.poll() is None, f"the worker died:\n{worker.log_text()[-3000:]}"
        stored = stored_alert_ids(shop_db)
        return "ok" in stored and ("pill" in stored or bool(dlq.poll()))

    wait_until(settled, timeout=60, message=lambda: worker.log_text()[-3000:])
    for letter in dlq.poll():
        headers = {k: v.decode() for k, v in letter.headers}
        assert set(headers) >= HEADERS and headers["error"] and headers["error_type"]
        assert (letter.key, letter.value) == (b"x", value)
    assert healthz(worker.metrics_port) == 200
    dlq.close()
