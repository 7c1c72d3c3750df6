"""Alembic environment: runs migrations on the connection handed over by `migrate()`."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, text

from incidentd.storage.tables import Base

config = context.config
target_metadata = Base.metadata
_LOCK = 7_140_001  # one migrator at a time, however many start together


def run_migrations_online() -> None:
    """Upgrade with a session advisory lock held."""
    connection = config.attributes.get("connection")
    if connection is None:
        engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
        with engine.connect() as conn:
            _run(conn)
        return
    _run(connection)


def _run(connection: object) -> None:
    context.configure(connection=connection, target_metadata=target_metadata)  # type: ignore[arg-type]
    connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _LOCK})  # type: ignore[attr-defined]
    try:
        with context.begin_transaction():
            context.run_migrations()
    finally:
        connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _LOCK})  # type: ignore[attr-defined]
        connection.commit()  # type: ignore[attr-defined]


run_migrations_online()
