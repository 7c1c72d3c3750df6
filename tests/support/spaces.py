"""A test database's spaces and lineage, set up in one transaction before a worker starts."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from sqlalchemy import Engine

from incidentd.schemas.lineage import LineageDocument
from incidentd.storage.db import make_engine
from incidentd.storage.lineage import import_document
from incidentd.storage.spaces import INCIDENTS_FEATURE, upsert_space


def add_spaces(engine: Engine, spaces: Iterable[str], *documents: LineageDocument) -> None:
    """Create `spaces` with the incidents feature, then import `documents`."""
    with engine.begin() as conn:
        for slug in spaces:
            upsert_space(conn, slug, features=[INCIDENTS_FEATURE])
        for document in documents:
            import_document(conn, document)


@contextmanager
def space_engine(
    db_url: str, spaces: Iterable[str], *documents: LineageDocument, pool_size: int = 2
) -> Iterator[Engine]:
    """An engine on `db_url` with `spaces` and `documents` set up; disposed on exit."""
    engine = make_engine(db_url, pool_size=pool_size)
    try:
        add_spaces(engine, spaces, *documents)
        yield engine
    finally:
        engine.dispose()


def with_spaces(db_url: str, spaces: Iterable[str], *documents: LineageDocument) -> str:
    """`db_url`, once `spaces` and `documents` are set up there."""
    with space_engine(db_url, spaces, *documents, pool_size=1):
        return db_url
