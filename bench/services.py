"""PostgreSQL and the broker of a benchmark run: the environment's, or embedded ones.

`INCIDENTD_DATABASE_URL` / `INCIDENTD_KAFKA_BOOTSTRAP_SERVERS` name external services;
otherwise an `EmbeddedPostgres` (fsync off, or durable with `--durable`) and an
`EmbeddedBroker` (Tansu, memory storage) are started on loopback and stopped at the end.
Every phase gets a fresh database and fresh topics on the same servers.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import psycopg
from psycopg import sql as pgsql
from sqlalchemy import text

from bench.lineage_gen import Lineage
from incidentd.app.embedded import (
    EmbeddedBroker,
    EmbeddedPostgres,
    create_database,
    create_topics,
    drop_database,
    to_libpq_url,
)
from incidentd.storage.db import make_engine, migrate
from incidentd.storage.lineage import import_document
from incidentd.storage.spaces import INCIDENTS_FEATURE, upsert_space

DURABLE_SETTINGS = {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}
_SHOWN_SETTINGS = ("fsync", "synchronous_commit", "full_page_writes", "server_version")


@dataclass(frozen=True, slots=True)
class Topics:
    """The topics and consumer group of one phase."""

    alerts: str
    incidents: str
    dlq: str
    lineage: str
    group: str

    @classmethod
    def fresh(cls, tag: str) -> Topics:
        """Unique names for a phase tagged `tag`."""
        suffix = f"{tag}-{uuid.uuid4().hex[:8]}"
        return cls(
            alerts=f"bench.alerts.{suffix}",
            incidents=f"bench.incidents.{suffix}",
            dlq=f"bench.dlq.{suffix}",
            lineage=f"bench.lineage.{suffix}",
            group=f"bench-{suffix}",
        )

    @property
    def all(self) -> list[str]:
        """Every topic name."""
        return [self.alerts, self.incidents, self.dlq, self.lineage]


class Services:
    """The servers a run uses, started on entry when they are not given by the environment."""

    def __init__(self, *, durable: bool, partitions: int) -> None:
        self.durable = durable
        self.partitions = partitions
        self._pg: EmbeddedPostgres | None = None
        self._broker: EmbeddedBroker | None = None
        self._admin_url = os.environ.get("INCIDENTD_DATABASE_URL", "")
        self.bootstrap = os.environ.get("INCIDENTD_KAFKA_BOOTSTRAP_SERVERS", "")
        self._databases: list[str] = []

    def __enter__(self) -> Self:
        if not self._admin_url:
            self._pg = EmbeddedPostgres(settings=DURABLE_SETTINGS if self.durable else None)
            self._pg.start()
            self._admin_url = self._pg.url
        if not self.bootstrap:
            self._broker = EmbeddedBroker()
            self._broker.start()
            self.bootstrap = self._broker.bootstrap_servers
        return self

    def __exit__(
        self, exc: type[BaseException] | None, val: BaseException | None, tb: TracebackType | None
    ) -> None:
        for name in self._databases:
            with contextlib.suppress(psycopg.Error):  # the server may already be gone
                drop_database(self._admin_url, name)
        if self._broker is not None:
            self._broker.close()
        if self._pg is not None:
            self._pg.close()

    def describe(self) -> dict[str, Any]:
        """Which servers were used and how PostgreSQL commits."""
        with psycopg.connect(to_libpq_url(self._admin_url), autocommit=True) as conn:
            shown = {name: _show(conn, name) for name in _SHOWN_SETTINGS}
        durable = shown["fsync"] == "on" and shown["synchronous_commit"] != "off"
        return {
            "database": "external (INCIDENTD_DATABASE_URL)" if self._pg is None else "embedded",
            "broker": "external (INCIDENTD_KAFKA_BOOTSTRAP_SERVERS)"
            if self._broker is None
            else "embedded Tansu, memory storage",
            "commit_mode": "durable (fsync on)" if durable else "not durable (fsync off)",
            "postgres": shown,
        }

    def server_pids(self) -> dict[str, int]:
        """The embedded PostgreSQL's postmaster and the broker's process (when embedded)."""
        pids: dict[str, int] = {}
        if self._pg is not None:
            pid_file = self._pg.data_dir / "postmaster.pid"
            with contextlib.suppress(OSError, ValueError, IndexError):
                pids["postgres"] = int(pid_file.read_text().split()[0])
        proc = getattr(self._broker, "_proc", None)
        if proc is not None:
            pids["broker"] = proc.pid
        return pids

    def fresh_database(self, tag: str) -> str:
        """Create and migrate an empty database; returns its SQLAlchemy URL."""
        name = f"bench_{tag.replace('-', '_')}_{uuid.uuid4().hex[:8]}"
        url = create_database(self._admin_url, name)
        self._databases.append(name)
        migrate(url)
        return url

    def clone_database(self, template_url: str, tag: str) -> str:
        """A copy of a prepared database (no session may be open on it); its URL."""
        source = template_url.rsplit("/", 1)[1].split("?", 1)[0]
        name = f"bench_{tag.replace('-', '_')}_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(to_libpq_url(self._admin_url), autocommit=True) as conn:
            conn.execute(
                pgsql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    pgsql.Identifier(name), pgsql.Identifier(source)
                )
            )
        self._databases.append(name)
        return template_url.replace(f"/{source}", f"/{name}", 1)

    def drop(self, url: str) -> None:
        """Drop a database made by `fresh_database`."""
        name = url.rsplit("/", 1)[1].split("?", 1)[0]
        if name in self._databases:
            drop_database(self._admin_url, name)
            self._databases.remove(name)

    def fresh_topics(self, tag: str) -> Topics:
        """Create a phase's topics."""
        topics = Topics.fresh(tag)
        create_topics(self.bootstrap, topics.all, self.partitions)
        return topics


def _show(conn: psycopg.Connection[Any], name: str) -> str:
    """The value of one server setting."""
    row = conn.execute(pgsql.SQL("SHOW {}").format(pgsql.Identifier(name))).fetchone()
    return "?" if row is None else str(row[0])


def seed_database(url: str, lineage: Lineage) -> float:
    """Create the space and import the lineage as `incidentd lineage import` does; seconds."""
    engine = make_engine(url, pool_size=1)
    try:
        started = time.perf_counter()
        with engine.begin() as conn:
            upsert_space(conn, lineage.space, features=[INCIDENTS_FEATURE])
            import_document(conn, lineage.document())
        return time.perf_counter() - started
    finally:
        engine.dispose()


class Db:
    """One engine on a phase's database, for the harness's own queries."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url, pool_size=1)

    def rows(self, sql: str, **params: Any) -> list[Any]:
        """Rows of one query."""
        with self.engine.connect() as conn:
            return list(conn.execute(text(sql), params))

    def scalar(self, sql: str, **params: Any) -> Any:
        """The first column of the first row of one query."""
        rows = self.rows(sql, **params)
        return rows[0][0] if rows else None

    def close(self) -> None:
        """Release the connections."""
        self.engine.dispose()
