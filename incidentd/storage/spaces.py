"""Spaces: tenants with features and correlation settings."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.dialects.postgresql import insert

from incidentd.correlation.model import SpacePolicy
from incidentd.storage.tables import Space

INCIDENTS_FEATURE = "quality.incidents"


@dataclass(frozen=True, slots=True)
class SpaceRow:
    """A space's settings as the worker reads them."""

    slug: str
    features: tuple[str, ...]
    correlation_window_seconds: int
    auto_resolve: bool
    lineage_version: int
    state_seq: int = 0

    @property
    def policy(self) -> SpacePolicy:
        """Correlation policy of the space."""
        return SpacePolicy(
            correlate=INCIDENTS_FEATURE in self.features,
            window=timedelta(seconds=self.correlation_window_seconds),
            auto_resolve=self.auto_resolve,
        )


def upsert_space(
    conn: Connection,
    slug: str,
    *,
    name: str | None = None,
    features: list[str] | None = None,
    correlation_window_seconds: int | None = None,
    auto_resolve: bool | None = None,
) -> bool:
    """Create the space or update the given settings; True when it was created."""
    values: dict[str, object] = {"slug": slug, "name": name or slug}
    updates: dict[str, object] = {}
    if name is not None:
        updates["name"] = name
    if features is not None:
        values["features"] = updates["features"] = sorted(set(features))
    if correlation_window_seconds is not None:
        values["correlation_window_seconds"] = correlation_window_seconds
        updates["correlation_window_seconds"] = correlation_window_seconds
    if auto_resolve is not None:
        values["auto_resolve"] = updates["auto_resolve"] = auto_resolve
    stmt = insert(Space).values(**values)
    stmt = (
        stmt.on_conflict_do_update(index_elements=["slug"], set_=updates)
        if updates
        else stmt.on_conflict_do_nothing(index_elements=["slug"])
    )
    created = conn.execute(stmt.returning(text("xmax = 0"))).scalar()
    return bool(created)


def ensure_spaces(conn: Connection, slugs: set[str]) -> list[str]:
    """Create missing spaces with no features; returns the ones created."""
    if not slugs:
        return []
    rows = conn.execute(
        text(
            "INSERT INTO spaces (slug, name) SELECT s, s FROM unnest(CAST(:s AS text[])) AS s "
            "ON CONFLICT (slug) DO NOTHING RETURNING slug"
        ),
        {"s": sorted(slugs)},
    )
    return sorted(r[0] for r in rows)


def lock_spaces(
    conn: Connection,
    slugs: set[str],
    timeout_ms: int | None = None,
    on_wait: Callable[[float], None] | None = None,
) -> dict[str, SpaceRow]:
    """Lock the spaces' rows (in slug order, so never a deadlock) until the transaction ends.

    Every correlation of a space happens under this lock, so workers see each other's
    committed incidents and never build two incidents from related alerts. The rows are first
    taken without waiting; only when another transaction holds one is that undone and the
    lock waited for, and `on_wait` told how long (also when the wait times out).
    """
    if not slugs:
        return {}
    if timeout_ms:  # give up (SQLSTATE 55P03) rather than wait past the caller's deadline
        conn.execute(text(f"SET LOCAL lock_timeout = {int(timeout_ms)}"))
    conn.execute(text("SAVEPOINT lock_spaces"))
    free = conn.execute(_LOCK_FREE, {"s": sorted(slugs)}).all()
    rows = [r for r in free if r.slug is not None]
    if free[0].existing != len(rows):
        # Someone holds one: drop the locks taken out of order, then wait in slug order.
        conn.execute(text("ROLLBACK TO SAVEPOINT lock_spaces"))
        started = time.perf_counter()
        try:
            rows = list(conn.execute(_LOCK_WAITING, {"s": sorted(slugs)}))
        finally:
            if on_wait is not None:
                on_wait(time.perf_counter() - started)
    return {r.slug: _space_row(r) for r in rows}


def read_spaces(conn: Connection, slugs: set[str]) -> dict[str, SpaceRow]:
    """The spaces' rows as committed, without locking them (for a plan checked under lock)."""
    if not slugs:
        return {}
    rows = conn.execute(
        text(f"SELECT {_SPACE_COLUMNS} FROM spaces WHERE slug = ANY(CAST(:s AS text[]))"),
        {"s": sorted(slugs)},
    )
    return {r.slug: _space_row(r) for r in rows}


def _space_row(r: Any) -> SpaceRow:
    return SpaceRow(
        r.slug,
        tuple(r.features),
        r.correlation_window_seconds,
        r.auto_resolve,
        r.lineage_version,
        r.state_seq,
    )


_SPACE_COLUMNS = (
    "slug, features, correlation_window_seconds, auto_resolve, lineage_version, state_seq"
)
_LOCK_WAITING = text(
    f"SELECT {_SPACE_COLUMNS} FROM spaces WHERE slug = ANY(CAST(:s AS text[])) "
    "ORDER BY slug FOR UPDATE"
)
# The rows nobody holds, each with how many of the asked spaces exist (one row of NULLs and
# that count when every one is held or none exists).
_LOCK_FREE = text(
    f"WITH free AS (SELECT {_SPACE_COLUMNS} FROM spaces WHERE slug = ANY(CAST(:s AS text[])) "
    "ORDER BY slug FOR UPDATE SKIP LOCKED) "
    "SELECT free.*, (SELECT count(*) FROM spaces WHERE slug = ANY(CAST(:s AS text[]))) "
    "AS existing FROM (SELECT 1) AS one LEFT JOIN free ON true"
)


def bump_state_seq(conn: Connection, slug: str) -> int:
    """Advance the space's state sequence (call with the space locked); returns the new value.

    Every transaction that changes a space's incidents stamps them with the new value, so
    a worker holding a copy of the state at sequence N reads back only `state_seq > N`.
    """
    return int(
        conn.execute(
            text("UPDATE spaces SET state_seq = state_seq + 1 WHERE slug = :s RETURNING state_seq"),
            {"s": slug},
        ).scalar_one()
    )


def list_spaces(conn: Connection) -> list[SpaceRow]:
    """Every space, by slug."""
    rows = conn.execute(
        text(
            "SELECT slug, features, correlation_window_seconds, auto_resolve, lineage_version "
            "FROM spaces ORDER BY slug"
        )
    )
    return [
        SpaceRow(
            r.slug,
            tuple(r.features),
            r.correlation_window_seconds,
            r.auto_resolve,
            r.lineage_version,
        )
        for r in rows
    ]
