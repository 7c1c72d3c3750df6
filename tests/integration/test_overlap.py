"""Batches correlated while the one before is written (`worker.overlap`) against a real
PostgreSQL: the same results as one batch at a time, and a plan whose ground moved is refused."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any
from uuid import uuid4

import pytest
from sqlalchemy import Engine

from incidentd.storage.alerts import NewAlert
from incidentd.storage.db import make_engine, migrate
from incidentd.storage.graphs import GraphCache
from incidentd.storage.spaces import bump_state_seq
from incidentd.worker.overlap import Plan, StalePlanError, plan_batch, write_plan
from incidentd.worker.pipeline import BatchResult, process_batch
from incidentd.worker.state import StateCache
from tests.integration.test_repositories import make_space, new_alert, rows, scalar

TOPIC = "dq.incidents"
EDGES = [("raw", "stg"), ("stg", "mart"), ("stg", "report"), ("other_raw", "other_mart")]
# Six more regions, so a stream makes many incidents.
WIDE = EDGES + [(f"r{n}_{a}", f"r{n}_{b}") for n in range(6) for a, b in (("a", "b"), ("b", "c"))]


@pytest.fixture
def engine(migrated_db: str) -> Iterator[Engine]:
    """An engine on a migrated per-test database (room for a reader and a writer)."""
    eng = make_engine(migrated_db, pool_size=3)
    yield eng
    eng.dispose()


class Overlapped:
    """Plans each batch before the one before it is written, as the worker's loop does."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.graphs = GraphCache()
        self.states = StateCache()
        self.pending: Plan | None = None

    def plan(self, alerts: list[NewAlert]) -> Plan:
        """Plan `alerts` on top of the plan in flight, which is then written first."""
        plan = plan_batch(self.engine, alerts, self.graphs, self.states, self.pending)
        self.flush(plan)
        plan.hand_over()
        self.pending = plan
        return plan

    def flush(self, after: Plan | None = None) -> BatchResult | None:
        """Write the plan in flight, as the writer thread would (`after`: planned on top)."""
        if self.pending is None:
            return None
        plan, self.pending = self.pending, None
        result = write_plan(self.engine, plan, TOPIC, None)
        plan.written()
        for space, state in plan.states().items():
            self.states.checkin(space, state, after.changed(space) if after else ())
        return result


def _stream(space: str, seed: int, count: int, days: int = 2) -> list[NewAlert]:
    """Firing alerts, their recoveries (some before the failure), repeats: shuffled over `days`.

    Over more than two days a worker forgets resolved incidents while alerts keep coming
    from before them (late data), and reads them back when an alert could reopen them.
    """
    rng = random.Random(seed)
    products = sorted({p for edge in WIDE for p in edge})
    out: list[NewAlert] = []
    for n in range(count):
        product = rng.choice(products)
        minute = rng.randint(0, days * 24 * 60)
        fp = f"fp-{product}-{rng.randint(0, 2)}"
        out.append(new_alert(f"a{n}", product, minute, space=space, fingerprint=fp))
        if rng.random() < 0.6:
            later = minute + rng.randint(-30, 600)  # a recovery may come before its failure
            out.append(
                new_alert(f"r{n}", product, later, space=space, fingerprint=fp, status="resolved")
            )
        if rng.random() < 0.1:
            out.append(out[rng.randrange(len(out))])  # a redelivery
    return out


def _groups(engine: Engine, space: str) -> set[tuple[str, frozenset[str]]]:
    found = rows(
        engine,
        "SELECT i.status, array_agg(a.alert_id) AS ids FROM incidents i JOIN alerts a "
        "ON a.incident_id = i.id WHERE i.space = :s GROUP BY i.id, i.status",
        s=space,
    )
    return {(r.status, frozenset(r.ids)) for r in found}


@pytest.fixture
def twin(postgres: Any) -> Iterator[Engine]:
    """A second migrated database: the same stream, the same space, the other way."""
    name = f"t_{uuid4().hex[:12]}"
    url = postgres.create_database(name)
    migrate(url)
    eng = make_engine(url, pool_size=3)
    yield eng
    eng.dispose()
    postgres.drop_database(name)


@pytest.mark.parametrize(("seed", "days"), [(1, 2), (2, 2), (3, 5), (4, 30), (5, 30)])
def test_overlapped_batches_store_what_one_at_a_time_stores(
    engine: Engine, twin: Engine, seed: int, days: int
) -> None:
    # Same space name in both databases: incident ids (and so ties) are the same.
    for eng in (engine, twin):
        make_space(eng, "shop", WIDE)
    stream = _stream("shop", seed, 300, days)
    graphs, states = GraphCache(), StateCache()
    overlapped = Overlapped(twin)
    size = random.Random(seed).randint(7, 40)
    for start in range(0, len(stream), size):
        batch = stream[start : start + size]
        process_batch(
            engine, batch, [], graphs, incidents_topic=TOPIC, default_space=None, states=states
        )
        overlapped.plan(batch)
    overlapped.flush()

    groups = _groups(engine, "shop")
    assert _groups(twin, "shop") == groups
    assert len(groups) > 5  # the stream made incidents to compare
    assert {s for s, _ in groups} == {"open", "resolved"}
    for sql in (
        "SELECT count(*) FROM alerts WHERE incident_id IS NULL",
        "SELECT array_agg(number ORDER BY number) FROM incidents",
        "SELECT state_seq FROM spaces",
        "SELECT count(*) FROM outbox",
    ):
        assert scalar(twin, sql) == scalar(engine, sql), sql


def test_a_recovery_in_the_write_in_flight_is_claimed_by_the_next_plan(engine: Engine) -> None:
    make_space(engine, "shop", EDGES)
    run = Overlapped(engine)
    run.plan([new_alert("r1", "stg", 30, fingerprint="f", status="resolved")])  # an orphan
    second = run.plan([new_alert("f1", "stg", 0, fingerprint="f")])  # its failure, earlier
    run.flush()

    assert second.result.stored == 1
    found = rows(engine, "SELECT alert_id, incident_id FROM alerts ORDER BY alert_id")
    assert [r.alert_id for r in found] == ["f1", "r1"]
    assert found[0].incident_id is not None
    assert found[0].incident_id == found[1].incident_id  # the failure claimed its recovery
    assert scalar(engine, "SELECT status FROM incidents") == "resolved"


def test_an_alert_of_the_write_in_flight_is_a_duplicate_in_the_next(engine: Engine) -> None:
    make_space(engine, "shop", EDGES)
    run = Overlapped(engine)
    first = new_alert("a1", "raw", 0)
    run.plan([first])
    second = run.plan([first, new_alert("a2", "stg", 5)])
    run.flush()

    assert second.result.duplicates == 1
    assert second.result.stored == 1
    assert scalar(engine, "SELECT count(DISTINCT incident_id) FROM alerts") == 1


def test_a_plan_is_refused_when_the_space_changed_before_its_write(engine: Engine) -> None:
    make_space(engine, "shop", EDGES)
    run = Overlapped(engine)
    run.plan([new_alert("a1", "raw", 0)])
    run.flush()
    plan = plan_batch(engine, [new_alert("a2", "stg", 5)], run.graphs, run.states, None)
    plan.hand_over()
    with engine.begin() as conn:  # the API (or another worker) writes meanwhile
        bump_state_seq(conn, "shop")

    with pytest.raises(StalePlanError, match="state_seq"):
        write_plan(engine, plan, TOPIC, None)
    assert scalar(engine, "SELECT count(*) FROM alerts") == 1  # nothing of the plan written


def test_a_plan_is_refused_when_an_orphan_appeared_before_its_write(engine: Engine) -> None:
    make_space(engine, "shop", EDGES)
    states, graphs = StateCache(), GraphCache()
    plan = plan_batch(engine, [new_alert("f1", "stg", 0, fingerprint="f")], graphs, states, None)
    plan.hand_over()
    # Another member stores a recovery of that fingerprint without an incident: no seq bump.
    process_batch(
        engine,
        [new_alert("r1", "stg", 30, fingerprint="f", status="resolved")],
        [],
        GraphCache(),
        incidents_topic=TOPIC,
        default_space=None,
    )

    with pytest.raises(StalePlanError, match="orphan"):
        write_plan(engine, plan, TOPIC, None)
    assert scalar(engine, "SELECT count(*) FROM alerts WHERE alert_id = 'f1'") == 0
