"""Storage repositories and `process_batch` against a real PostgreSQL (no broker)."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine, text

from incidentd.schemas.lineage import EdgeSpec, LineageDocument, ProductSpec
from incidentd.storage.alerts import NewAlert, insert_alerts
from incidentd.storage.db import make_engine
from incidentd.storage.graphs import GraphCache
from incidentd.storage.lineage import import_document
from incidentd.storage.spaces import INCIDENTS_FEATURE, upsert_space
from incidentd.worker.parsing import parse_alert
from incidentd.worker.pipeline import BatchResult, process_batch
from tests.support.workers import alert

TOPIC = "dq.incidents"


# The worker may keep per-space state between batches (`states=`); where it does, "warm"
# shares it across batches like one long-running worker, "cold" starts afresh every batch
# like a restarted worker or another member of the group. Both must give the same results.
_STATE_KWARG = "states" in inspect.signature(process_batch).parameters


class Batches:
    """Runs batches through `process_batch` the way a worker does."""

    def __init__(self, engine: Engine, *, warm: bool) -> None:
        self.engine = engine
        self.warm = warm
        self.graphs = GraphCache()
        self.states = self._new_states()

    @staticmethod
    def _new_states() -> dict[str, Any]:
        if not _STATE_KWARG:
            return {}
        return {"states": importlib.import_module("incidentd.worker.state").StateCache()}

    def __call__(self, alerts: list[NewAlert]) -> BatchResult:
        """One batch in one transaction."""
        if not self.warm:
            self.graphs, self.states = GraphCache(), self._new_states()
        return process_batch(
            self.engine,
            alerts,
            [],
            self.graphs,
            incidents_topic=TOPIC,
            default_space=None,
            **self.states,
        )


@pytest.fixture
def engine(migrated_db: str) -> Iterator[Engine]:
    """An engine on a migrated per-test database."""
    eng = make_engine(migrated_db, pool_size=2)
    yield eng
    eng.dispose()


@pytest.fixture(params=["warm", "cold"])
def run(request: pytest.FixtureRequest, engine: Engine) -> Batches:
    """Process batches like one long-running worker (warm) or a fresh worker each (cold)."""
    return Batches(engine, warm=request.param == "warm")


def new_alert(alert_id: str, product: str, minute: int, **kwargs: Any) -> NewAlert:
    """A parsed alert, exactly as the worker builds it from a Kafka record."""
    return parse_alert(alert(alert_id, product, minute, **kwargs)[1])


def make_space(
    engine: Engine,
    slug: str,
    edges: list[tuple[str, str]],
    products: list[str] | None = None,
    *,
    features: list[str] | None = None,
    window_seconds: int | None = None,
    auto_resolve: bool | None = None,
) -> None:
    """A space with its settings and lineage."""
    names = set(products or []) | {p for edge in edges for p in edge}
    with engine.begin() as conn:
        upsert_space(
            conn,
            slug,
            features=[INCIDENTS_FEATURE] if features is None else features,
            correlation_window_seconds=window_seconds,
            auto_resolve=auto_resolve,
        )
        import_document(
            conn,
            LineageDocument(
                products=[ProductSpec(id=p, space=slug) for p in sorted(names)],
                edges=[EdgeSpec(upstream=u, downstream=d, space=slug) for u, d in edges],
            ),
        )


def rows(engine: Engine, sql: str, **params: Any) -> list[Any]:
    """All rows of a query."""
    with engine.connect() as conn:
        return list(conn.execute(text(sql), params))


def scalar(engine: Engine, sql: str, **params: Any) -> Any:
    """The single value of a query."""
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar()


def incident_of(engine: Engine, alert_id: str) -> str | None:
    """The incident an alert row points at."""
    value = scalar(engine, "SELECT incident_id FROM alerts WHERE alert_id = :a", a=alert_id)
    return None if value is None else str(value)


# -- insert_alerts ------------------------------------------------------------------------------


def test_insert_alerts_counts_only_new_ids_and_keeps_the_raw_payload(engine: Engine) -> None:
    body = {
        "schema_version": 1,
        "alert_id": "raw-1",
        "space": "shop",
        "product_id": "orders",
        "alert_type": "freshness",
        "severity": "HIGH",
        "occurred_at": "2026-02-27T15:00:00+01:00",
        "tags": ["prod", "T1"],
        "vendor_extra": {"run": 42, "links": ["https://example.com/run/42"]},
        "x_note": "kept",
    }
    first = [parse_alert(orjson.dumps(body)), new_alert("raw-2", "orders", 1)]
    with engine.begin() as conn:
        assert insert_alerts(conn, first) == 2
    with engine.begin() as conn:
        assert insert_alerts(conn, first) == 0
    with engine.begin() as conn:
        mixed = [*first, new_alert("raw-3", "orders", 2), new_alert("raw-3", "orders", 2)]
        assert insert_alerts(conn, mixed) == 1
    assert scalar(engine, "SELECT count(*) FROM alerts") == 3
    assert scalar(engine, "SELECT count(*) FROM alerts WHERE alert_id = 'raw-3'") == 1

    row = rows(
        engine,
        "SELECT jsonb_typeof(raw) AS kind, raw, severity, tags, occurred_at, fingerprint "
        "FROM alerts WHERE alert_id = 'raw-1'",
    )[0]
    assert row.kind == "object"
    assert row.raw == body  # unknown fields kept, nothing rewritten
    assert row.raw["vendor_extra"]["run"] == 42
    assert row.severity == "high"
    assert row.tags == ["prod", "T1"]
    assert row.occurred_at.isoformat() == "2026-02-27T14:00:00+00:00"
    assert row.fingerprint == "shop/orders/freshness///"
    assert (
        scalar(
            engine,
            "SELECT count(*) FROM alerts WHERE raw @> CAST(:q AS jsonb)",
            q='{"x_note": "kept"}',
        )
        == 1
    )


# -- process_batch ------------------------------------------------------------------------------


def test_batch_creates_incidents_history_and_one_outbox_row_per_incident(
    engine: Engine, run: Batches
) -> None:
    make_space(engine, "shop", [("raw", "clean"), ("clean", "mart")], ["lonely"])
    result = run(
        [
            new_alert("b1", "raw", 0),
            new_alert("b2", "clean", 3, severity="critical"),
            new_alert("b3", "mart", 7, severity="low"),
            new_alert("b4", "lonely", 1),
        ],
    )
    assert (result.stored, result.duplicates, result.uncorrelated) == (4, 0, 0)
    assert result.events == 2

    incidents = rows(
        engine, "SELECT id, status, alert_count, products, severity, version FROM incidents"
    )
    assert len(incidents) == 2
    by_products = {tuple(sorted(r.products)): r for r in incidents}
    assert set(by_products) == {("clean", "mart", "raw"), ("lonely",)}
    orders = by_products[("clean", "mart", "raw")]
    assert orders.status == "open"
    assert orders.alert_count == 3
    assert orders.severity == "critical"
    assert orders.version == 1
    assert {incident_of(engine, a) for a in ("b1", "b2", "b3")} == {str(orders.id)}
    assert incident_of(engine, "b4") == str(by_products[("lonely",)].id)

    history = rows(engine, "SELECT incident_id, state, alert_ids FROM incident_history ORDER BY id")
    assert sorted(str(h.incident_id) for h in history if h.state == "NEW") == sorted(
        str(r.id) for r in incidents
    )
    for entry in history:
        assert entry.state in ("NEW", "ONGOING")
    alerts_in_history = {a for h in history if h.incident_id == orders.id for a in h.alert_ids}
    assert alerts_in_history == {"b1", "b2", "b3"}

    outbox = rows(engine, "SELECT topic, key, payload, incident_id, sent_at FROM outbox")
    assert len(outbox) == 2
    assert sorted(str(r.incident_id) for r in outbox) == sorted(str(r.id) for r in incidents)
    for row in outbox:
        event = orjson.loads(row.payload)
        assert row.topic == TOPIC
        assert row.key == str(row.incident_id)
        assert row.sent_at is None
        assert event["event_type"] == "incident.created"
        assert event["incident_id"] == row.key
        assert event["space"] == "shop"
        assert event["schema_version"] == 1
    events = {orjson.loads(r.payload)["incident_id"]: orjson.loads(r.payload) for r in outbox}
    assert sorted(events[str(orders.id)]["alert_ids"]) == ["b1", "b2", "b3"]


def test_space_without_the_incidents_feature_stores_alerts_only(
    engine: Engine, run: Batches
) -> None:
    make_space(engine, "plain", [("a", "b")], features=[])
    result = run([new_alert("p1", "a", 0, space="plain")])
    assert (result.stored, result.uncorrelated, result.events) == (1, 1, 0)
    assert scalar(engine, "SELECT count(*) FROM alerts WHERE space = 'plain'") == 1
    assert incident_of(engine, "p1") is None
    assert scalar(engine, "SELECT count(*) FROM incidents") == 0
    assert scalar(engine, "SELECT count(*) FROM outbox") == 0


def test_unknown_space_stores_alerts_only(engine: Engine, run: Batches) -> None:
    make_space(engine, "shop", [("a", "b")])
    result = run([new_alert("u1", "a", 0, space="nowhere")])
    assert (result.stored, result.uncorrelated, result.events) == (1, 1, 0)
    assert scalar(engine, "SELECT space FROM alerts WHERE alert_id = 'u1'") == "nowhere"
    assert incident_of(engine, "u1") is None
    assert scalar(engine, "SELECT count(*) FROM incidents") == 0
    assert scalar(engine, "SELECT count(*) FROM outbox") == 0


def test_per_space_correlation_window_is_honoured(engine: Engine, run: Batches) -> None:
    make_space(engine, "wide", [("a", "b")])  # default window: 6 h
    make_space(engine, "narrow", [("a", "b")], window_seconds=3600)
    for space in ("wide", "narrow"):
        run([new_alert(f"{space}-1", "a", 0, space=space)])
        run([new_alert(f"{space}-2", "b", 120, space=space)])  # 2 h later

    assert incident_of(engine, "wide-1") == incident_of(engine, "wide-2") is not None
    narrow = {incident_of(engine, "narrow-1"), incident_of(engine, "narrow-2")}
    assert None not in narrow
    assert len(narrow) == 2
    counts = {
        r[0]: r[1] for r in rows(engine, "SELECT space, count(*) FROM incidents GROUP BY space")
    }
    assert counts == {"wide": 1, "narrow": 2}


def test_auto_resolve_off_keeps_the_incident_open(engine: Engine, run: Batches) -> None:
    make_space(engine, "manual", [("a", "b")], auto_resolve=False)
    make_space(engine, "auto", [("a", "b")])
    for space in ("manual", "auto"):
        run([new_alert(f"{space}-f", "a", 0, space=space, fingerprint="fp-a")])
        run(
            [new_alert(f"{space}-r", "a", 30, space=space, fingerprint="fp-a", status="resolved")],
        )

    status = {r[0]: r[1] for r in rows(engine, "SELECT space, status FROM incidents")}
    assert status == {"manual": "open", "auto": "resolved"}
    manual = incident_of(engine, "manual-f")
    assert incident_of(engine, "manual-r") == manual  # the recovery is recorded on it
    assert (
        scalar(
            engine,
            "SELECT resolved_at FROM incidents WHERE id = CAST(:i AS uuid)",
            i=manual,
        )
        is None
    )


def test_replaying_a_batch_changes_nothing(engine: Engine, run: Batches) -> None:
    make_space(engine, "shop", [("a", "b")], ["c"])
    batch = [new_alert("r1", "a", 0), new_alert("r2", "b", 5), new_alert("r3", "c", 9)]
    first = run(batch)
    assert (first.stored, first.events) == (3, 2)

    def snapshot() -> tuple[Any, ...]:
        return (
            rows(
                engine,
                "SELECT id, version, alert_count, status, updated_at FROM incidents ORDER BY id",
            ),
            rows(engine, "SELECT id FROM outbox ORDER BY id"),
            scalar(engine, "SELECT count(*) FROM incident_history"),
            rows(engine, "SELECT alert_id, incident_id, added_at FROM alerts ORDER BY alert_id"),
        )

    before = snapshot()
    for again_run in (run, Batches(engine, warm=False)):  # the same worker and a fresh one
        again = again_run(batch)
        assert (again.stored, again.duplicates, again.events) == (0, 3, 0)
        assert snapshot() == before


def test_merge_across_batches_moves_alerts_into_the_oldest_incident(
    engine: Engine, run: Batches
) -> None:
    # a and c are unrelated; b is downstream of both, so an alert on b relates to both.
    make_space(engine, "shop", [("a", "b"), ("c", "b")])
    run([new_alert("m1", "a", 0)])
    run([new_alert("m2", "c", 1)])
    older, newer = incident_of(engine, "m1"), incident_of(engine, "m2")
    assert older is not None
    assert newer is not None
    assert older != newer
    outbox_before = scalar(engine, "SELECT count(*) FROM outbox")

    result = run([new_alert("m3", "b", 2)])
    assert result.events == 2

    survivor = rows(
        engine,
        "SELECT status, merged_into, alert_count, products FROM incidents "
        "WHERE id = CAST(:i AS uuid)",
        i=older,
    )[0]
    assert survivor.status == "open"
    assert survivor.merged_into is None
    assert survivor.alert_count == 3
    assert sorted(survivor.products) == ["a", "b", "c"]
    merged = rows(
        engine,
        "SELECT status, merged_into, resolved_at FROM incidents WHERE id = CAST(:i AS uuid)",
        i=newer,
    )[0]
    assert merged.status == "resolved"
    assert str(merged.merged_into) == older
    assert merged.resolved_at is not None

    # the alert rows moved: every alert now points at the survivor
    assert {incident_of(engine, a) for a in ("m1", "m2", "m3")} == {older}
    assert scalar(engine, "SELECT count(*) FROM incidents WHERE status <> 'resolved'") == 1

    history = rows(
        engine,
        "SELECT state, alert_ids, detail FROM incident_history "
        "WHERE incident_id = CAST(:i AS uuid) ORDER BY id",
        i=newer,
    )
    assert [h.state for h in history] == ["NEW", "MERGED"]
    assert history[-1].alert_ids == ["m2"]
    assert history[-1].detail == {"merged_into": older}

    events = [
        orjson.loads(r.payload)
        for r in rows(engine, "SELECT payload FROM outbox WHERE id > 0 ORDER BY id")
    ][outbox_before:]
    by_incident = {e["incident_id"]: e for e in events}
    assert set(by_incident) == {older, newer}
    assert by_incident[newer]["event_type"] == "incident.merged"
    assert by_incident[newer]["incident"]["merged_into"] == older
    assert by_incident[older]["incident"]["alert_count"] == 3


def test_merge_sees_an_incident_another_worker_created(engine: Engine, run: Batches) -> None:
    make_space(engine, "shop", [("a", "b"), ("c", "b")])
    other = Batches(engine, warm=True)  # a second member of the consumer group
    run([new_alert("w1", "a", 0)])
    other([new_alert("w2", "c", 1)])
    first, second = incident_of(engine, "w1"), incident_of(engine, "w2")
    assert first is not None
    assert second is not None
    assert first != second

    run([new_alert("w3", "b", 2)])
    assert {incident_of(engine, a) for a in ("w1", "w2", "w3")} == {first}
    open_rows = rows(engine, "SELECT id, alert_count FROM incidents WHERE status <> 'resolved'")
    assert [(str(r.id), r.alert_count) for r in open_rows] == [(first, 3)]

    # and the other worker, whose copy of the space is now stale, builds on the merged state
    other([new_alert("w4", "c", 3)])
    assert incident_of(engine, "w4") == first
    assert scalar(engine, "SELECT count(*) FROM incidents WHERE status <> 'resolved'") == 1
    assert (
        scalar(engine, "SELECT alert_count FROM incidents WHERE id = CAST(:i AS uuid)", i=first)
        == 4
    )


def test_a_lineage_change_between_batches_is_used_by_the_next_batch(
    engine: Engine, run: Batches
) -> None:
    make_space(engine, "shop", [], ["a", "b"])
    run([new_alert("g1", "a", 0)])
    run([new_alert("g2", "b", 1)])
    assert incident_of(engine, "g1") != incident_of(engine, "g2")  # not related yet

    with engine.begin() as conn:
        import_document(
            conn, LineageDocument(edges=[EdgeSpec(upstream="a", downstream="b", space="shop")])
        )
    # b now sits downstream of a: a new alert on b relates to both open incidents
    run([new_alert("g3", "b", 2)])
    survivors = {incident_of(engine, a) for a in ("g1", "g2", "g3")}
    assert len(survivors) == 1
    assert scalar(engine, "SELECT count(*) FROM incidents WHERE status <> 'resolved'") == 1


def test_the_same_alert_id_in_two_spaces_is_two_alerts_each_correlated_in_its_space(
    engine: Engine, run: Batches
) -> None:
    # a and c are unrelated, b is downstream of both: an alert on b merges two incidents.
    for space in ("shop", "other"):
        make_space(engine, space, [("a", "b"), ("c", "b")])
    first = run([new_alert("s1", "a", 0, space="other"), new_alert("s2", "c", 1, space="other")])
    assert (first.stored, first.duplicates) == (2, 0)
    both = run([new_alert("s1", "a", 0), new_alert("s2", "c", 1), new_alert("s1", "a", 0)])
    assert (both.stored, both.duplicates, both.events) == (2, 1, 2)  # duplicate within shop only
    merged = run([new_alert("s3", "b", 2)])  # shop's s2 moves into shop's oldest incident
    assert merged.events == 2
    again = run([new_alert("s1", "a", 0, space="other"), new_alert("s3", "b", 2)])
    assert (again.stored, again.duplicates, again.events) == (0, 2, 0)

    stored = rows(
        engine,
        "SELECT a.space, a.alert_id, i.space AS home, i.id FROM alerts AS a "
        "JOIN incidents AS i ON i.id = a.incident_id ORDER BY a.space, a.alert_id",
    )
    assert [(r.space, r.alert_id, r.home) for r in stored] == [
        ("other", "s1", "other"),
        ("other", "s2", "other"),
        ("shop", "s1", "shop"),
        ("shop", "s2", "shop"),
        ("shop", "s3", "shop"),
    ]
    homes = {(r.space, r.alert_id): r.id for r in stored}
    assert homes["other", "s1"] != homes["other", "s2"]  # other's incidents were not merged
    assert homes["shop", "s1"] == homes["shop", "s2"] == homes["shop", "s3"]
    open_counts = rows(
        engine,
        "SELECT space, alert_count FROM incidents WHERE merged_into IS NULL ORDER BY space, id",
    )
    assert sorted((r.space, r.alert_count) for r in open_counts) == [
        ("other", 1),
        ("other", 1),
        ("shop", 3),
    ]
