"""Binary COPY inside a SQLAlchemy transaction, with the driver's errors raised as SQLAlchemy's
(so callers tell a lost connection from a refused row exactly as for any statement)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import psycopg
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError


def copy_rows(
    conn: Connection, statement: str, types: Sequence[str], rows: Iterable[Sequence[Any]]
) -> int:
    """Stream `rows` through `statement` (a `COPY ... FROM STDIN (FORMAT BINARY)`); the count."""
    raw = conn.connection.driver_connection
    assert isinstance(raw, psycopg.Connection)
    count = 0
    try:
        with raw.cursor() as cur, cur.copy(statement) as copy:
            copy.set_types(list(types))
            for row in rows:
                copy.write_row(row)
                count += 1
    except psycopg.Error as exc:
        if raw.broken:
            conn.invalidate(exc)
        raise DBAPIError.instance(
            statement, None, exc, psycopg.Error, connection_invalidated=raw.broken
        ) from exc
    return count
