"""Which spaces' lineage graph and correlation state a worker holds: those of its partitions.

A space's graph and state are loaded on demand, by the first batch that brings the space's
alerts. The worker notes on which partitions each space's alerts came; when partitions move to
another member, every space seen only on them is dropped from both caches, so memory follows
ownership. Keyed by space (CONTRACT §1) a space lives on one partition and moves with it;
keyed otherwise it is kept while any owned partition brought it. Dropping is always safe: the
next owner (or this worker, if the space comes back) reads it again under the space lock.
"""

from __future__ import annotations

import structlog

from incidentd.storage.alerts import NewAlert
from incidentd.storage.graphs import GraphCache
from incidentd.worker.source import Partition
from incidentd.worker.state import StateCache

log = structlog.get_logger(__name__)


class Ownership:
    """Spaces seen per owned partition, and the release of those whose partitions moved."""

    def __init__(self, graphs: GraphCache, states: StateCache) -> None:
        self.graphs = graphs
        self.states = states
        self._spaces: dict[Partition, set[str]] = {}
        self._owned: set[Partition] = set()

    def note_alerts(self, alerts: list[NewAlert]) -> None:
        """Record the partitions and spaces of a processed batch's alerts."""
        seen = {(a.origin.topic, a.origin.partition, a.alert.space) for a in alerts if a.origin}
        self.note({(Partition(topic, partition), space) for topic, partition, space in seen})

    def note(self, pairs: set[tuple[Partition, str]]) -> None:
        """Record that these (partition, space) pairs were processed.

        A batch finished after its partitions moved (its offset commit went nowhere) may have
        loaded a space no owned partition brings: that is dropped at once.
        """
        stray = False
        for partition, space in pairs:
            if partition in self._owned:
                self._spaces.setdefault(partition, set()).add(space)
            else:
                stray = True
        if stray:
            self.sweep()

    def assigned(self, now: set[Partition]) -> list[str]:
        """Take the current assignment; when partitions moved away, drops the spaces no
        owned partition brings. Returns the spaces dropped."""
        gone = self._owned - now
        self._owned = set(now)
        if not gone:
            return []
        for partition in gone:
            self._spaces.pop(partition, None)
        log.info("partitions.revoked", partitions=sorted(gone))
        return self.sweep()

    def sweep(self) -> list[str]:
        """Drop every held space that no owned partition brought; returns them."""
        kept: set[str] = set()
        for partition in self._owned:
            kept |= self._spaces.get(partition, set())
        dropped = sorted(self.held() - kept)
        if dropped:
            self.graphs.drop(dropped)
            self.states.drop(dropped)
            log.info("spaces.released", spaces=dropped)
        return dropped

    def held(self) -> set[str]:
        """Spaces whose graph or state is in memory."""
        return set(self.graphs.versions()) | self.states.spaces()
