"""Memory follows ownership: a worker drops the graph and state of spaces whose partitions moved."""

from __future__ import annotations

from datetime import UTC, datetime

from incidentd.correlation.index import IncidentIndex
from incidentd.lineage.graph import LineageGraph
from incidentd.storage.graphs import GraphCache
from incidentd.worker.ownership import Ownership
from incidentd.worker.source import Partition
from incidentd.worker.state import SpaceState, StateCache

P0, P1, P2 = (Partition("dq.alerts", n) for n in range(3))
AT = datetime(2026, 3, 1, tzinfo=UTC)


def held(spaces: list[str]) -> Ownership:
    """An ownership whose caches hold a graph and a state for each space."""
    graphs, states = GraphCache(), StateCache()
    for space in spaces:
        graphs._graphs[space] = LineageGraph(space, [], [], version=1)
        states.checkin(space, SpaceState(space, 1, IncidentIndex([]), AT, AT))
    return Ownership(graphs, states)


def test_spaces_of_a_revoked_partition_are_dropped_from_both_caches() -> None:
    own = held(["west", "east"])
    own.assigned({P0, P1})
    own.note({(P0, "west"), (P1, "east")})
    assert own.assigned({P0}) == ["east"]
    assert own.held() == {"west"}
    assert set(own.graphs.versions()) == own.states.spaces() == {"west"}


def test_a_space_still_brought_by_an_owned_partition_is_kept() -> None:
    own = held(["shop"])  # keyed by product: one space on every partition
    own.assigned({P0, P1, P2})
    own.note({(P0, "shop"), (P1, "shop"), (P2, "shop")})
    assert own.assigned({P0}) == []
    assert own.held() == {"shop"}
    assert own.assigned(set()) == ["shop"]
    assert own.held() == set()


def test_nothing_moves_while_the_assignment_stays() -> None:
    own = held(["west"])
    own.assigned({P0})
    assert own.assigned({P0, P1}) == []  # a partition added drops nothing
    assert own.held() == {"west"}


def test_a_batch_finished_after_its_partition_moved_leaves_nothing_behind() -> None:
    own = held(["west", "east"])
    own.assigned({P0, P1})
    own.note({(P0, "west")})
    own.assigned({P0})  # P1 moved while a batch of "east" was in hand
    own.note({(P1, "east")})
    assert own.held() == {"west"}
