"""Per-space lineage graphs kept current by version."""

from __future__ import annotations

import threading

import structlog
from sqlalchemy import Connection, Engine

from incidentd.lineage.graph import LineageGraph
from incidentd.storage.lineage import lineage_versions, load_graph

log = structlog.get_logger(__name__)


class GraphCache:
    """Holds the newest known lineage graph of every space; reloads a stale one."""

    def __init__(self) -> None:
        self._graphs: dict[str, LineageGraph] = {}
        self._lock = threading.Lock()

    def get(self, conn: Connection, space: str, version: int) -> LineageGraph:
        """The graph of `space` at exactly `version` (loaded in `conn`'s snapshot if stale)."""
        with self._lock:
            graph = self._graphs.get(space)
        if graph is not None and graph.version == version:
            return graph
        graph = load_graph(conn, space, version)
        with self._lock:
            self._graphs[space] = graph
        log.info("lineage.loaded", space=space, version=version, products=len(graph))
        return graph

    def refresh(self, engine: Engine) -> list[str]:
        """Reload every cached graph whose space's version moved; returns those spaces."""
        with engine.connect() as conn:
            versions = lineage_versions(conn)
            with self._lock:
                stale = [
                    s for s, g in self._graphs.items() if versions.get(s, g.version) != g.version
                ]
            for space in stale:
                self.get(conn, space, versions[space])
        return stale

    def drop(self, spaces: list[str]) -> None:
        """Forget these spaces' graphs (loaded again when needed)."""
        with self._lock:
            for space in spaces:
                self._graphs.pop(space, None)

    def versions(self) -> dict[str, int]:
        """Space -> version of the graph held."""
        with self._lock:
            return {s: g.version for s, g in self._graphs.items()}
