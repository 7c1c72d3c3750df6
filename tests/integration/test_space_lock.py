"""The space lock against a real PostgreSQL: free spaces are taken without a wait being
counted, a held one is waited for (and counted) in slug order, never while holding a later one."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from incidentd.storage.db import make_engine
from incidentd.storage.spaces import lock_spaces, upsert_space
from tests.support.wait import wait_until


@pytest.fixture
def engine(migrated_db: str) -> Iterator[Engine]:
    engine = make_engine(migrated_db, pool_size=4)
    with engine.begin() as conn:
        for slug in ("a", "b"):
            upsert_space(conn, slug)
    yield engine
    engine.dispose()


def test_free_spaces_are_locked_without_a_wait(engine: Engine) -> None:
    waits: list[float] = []
    with engine.begin() as conn:
        rows = lock_spaces(conn, {"a", "b", "missing"}, 1000, waits.append)
    assert sorted(rows) == ["a", "b"]
    assert waits == []


def test_spaces_that_do_not_exist_are_no_wait(engine: Engine) -> None:
    waits: list[float] = []
    with engine.begin() as conn:
        assert lock_spaces(conn, {"missing"}, 1000, waits.append) == {}
    assert waits == []


def test_a_held_space_is_waited_for_and_the_wait_counted(engine: Engine) -> None:
    waits: list[float] = []
    with engine.begin() as holder:
        lock_spaces(holder, {"a"})
        with pytest.raises(DBAPIError) as caught, engine.begin() as conn:
            lock_spaces(conn, {"a"}, 200, waits.append)
    assert getattr(caught.value.orig, "sqlstate", None) == "55P03"
    assert len(waits) == 1 and waits[0] >= 0.19


def test_a_wait_holds_no_space_taken_out_of_order(engine: Engine) -> None:
    """Waiting for `a`, a batch must not keep `b`: a holder of `b` waiting for `a` deadlocks."""
    waits: list[float] = []
    done = threading.Event()
    with engine.begin() as holder:
        lock_spaces(holder, {"a"})

        def batch() -> None:
            with engine.begin() as conn:
                assert sorted(lock_spaces(conn, {"a", "b"}, 30_000, waits.append)) == ["a", "b"]
            done.set()

        waiter = threading.Thread(target=batch)
        waiter.start()
        wait_until(lambda: _waiting_on_a_lock(engine), timeout=10)
        with engine.begin() as other:  # `b` is free while the batch waits for `a`
            other.execute(text("SET LOCAL lock_timeout = 1000"))
            assert sorted(lock_spaces(other, {"b"})) == ["b"]
    waiter.join(timeout=30)
    assert done.is_set()
    assert len(waits) == 1 and waits[0] > 0


def _waiting_on_a_lock(engine: Engine) -> bool:
    with engine.connect() as conn:
        waiting = conn.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        ).scalar_one()
    return bool(waiting)
