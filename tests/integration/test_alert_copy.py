"""Alerts stored by binary COPY against a real PostgreSQL: the incident and its time are stored,
an id stored already falls back to the statement that skips it, and a row PostgreSQL refuses
is a SQLAlchemy error with the server's SQLSTATE (so the worker isolates and dead-letters it)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from incidentd.storage.alerts import NewAlert, insert_alerts
from incidentd.storage.db import make_engine
from incidentd.worker.parsing import parse_alert
from tests.support.workers import alert

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
COLUMNS = "alert_id, incident_id, added_at, tags, jsonb_typeof(raw) AS kind"


@pytest.fixture
def engine(migrated_db: str) -> Iterator[Engine]:
    eng = make_engine(migrated_db, pool_size=2)
    yield eng
    eng.dispose()


def parsed(alert_id: str, minute: int = 0) -> NewAlert:
    return parse_alert(alert(alert_id, "orders", minute)[1])


def test_the_incident_and_the_time_it_was_added_are_stored(engine: Engine) -> None:
    incident = _incident(engine)
    with engine.begin() as conn:
        first = parsed("c-1")
        stored = insert_alerts(
            conn, [first, parsed("c-2", 1)], {(first.alert.space, "c-1"): incident}, NOW
        )
    assert stored == 2
    with engine.connect() as conn:
        got = {
            r.alert_id: (r.incident_id and str(r.incident_id), r.added_at, r.tags, r.kind)
            for r in conn.execute(text(f"SELECT {COLUMNS} FROM alerts"))
        }
    assert got == {"c-1": (incident, NOW, [], "object"), "c-2": (None, None, [], "object")}


def test_a_batch_holding_a_stored_id_inserts_only_the_new_ones(engine: Engine) -> None:
    with engine.begin() as conn:
        assert insert_alerts(conn, [parsed("d-1")]) == 1
    with engine.begin() as conn:  # the COPY fails as a whole and is undone to its savepoint
        assert insert_alerts(conn, [parsed("d-1"), parsed("d-2", 1)]) == 1
        conn.execute(text("SELECT 1"))  # the transaction is still usable
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM alerts")).scalar_one() == 2


def test_the_same_id_in_another_space_is_another_alert(engine: Engine) -> None:
    here = parsed("s-1")
    there = replace(here, alert=replace(here.alert, space="elsewhere"))
    with engine.begin() as conn:
        assert insert_alerts(conn, [here]) == 1
    with engine.begin() as conn:  # the COPY fails on `here`; the fallback skips only `here`
        assert insert_alerts(conn, [here, there]) == 1
    with engine.begin() as conn:
        assert insert_alerts(conn, [there, here]) == 0
    with engine.connect() as conn:
        spaces = conn.execute(text("SELECT space FROM alerts ORDER BY space")).scalars()
        assert list(spaces) == ["elsewhere", here.alert.space]


def test_a_row_the_database_refuses_raises_its_sqlstate(engine: Engine) -> None:
    broken = replace(parsed("e-1"), raw_json='{"truncated": ')
    with pytest.raises(DBAPIError) as caught, engine.begin() as conn:
        insert_alerts(conn, [parsed("e-0"), broken])
    assert str(getattr(caught.value.orig, "sqlstate", "")).startswith("22")
    with engine.begin() as conn:  # the pool hands out a healthy connection afterwards
        assert insert_alerts(conn, [parsed("e-0")]) == 1


def _incident(engine: Engine) -> str:
    incident = str(uuid.uuid4())
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO incidents (id, space, number, title, status, severity, impact, "
                "created_at, updated_at) "
                "VALUES (:id, 'shop', 1, 't', 'open', 'high', 'LOW', now(), now())"
            ),
            {"id": incident},
        )
    return incident
