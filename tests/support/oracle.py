"""A deliberately naive oracle for CONTRACT §6 grouping, independent of the engine.

Nothing here imports the engine, `LineageGraph` or networkx: reachability is a plain
breadth-first walk over an edge list, relatedness is the contract's sentence written out, and
the grouping is the connected components of "related" found by a flood fill over all pairs.
Obviously correct beats fast: every function recomputes from scratch.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

Edge = tuple[str, str]
"""(upstream, downstream): edges point downstream."""


@dataclass(frozen=True, slots=True)
class FiringAlert:
    """What the oracle needs of a firing alert."""

    alert_id: str
    product_id: str
    occurred_at: datetime
    space: str = "default"


def hops_downstream(edges: Iterable[Edge], start: str) -> dict[str, int]:
    """Shortest hop count from `start` to every product it reaches (itself excluded)."""
    return _walk([(up, down) for up, down in edges], start)


def hops_upstream(edges: Iterable[Edge], start: str) -> dict[str, int]:
    """Shortest hop count from every product that reaches `start` (itself excluded)."""
    return _walk([(down, up) for up, down in edges], start)


def _walk(edges: list[Edge], start: str) -> dict[str, int]:
    """Breadth-first search: the first time a node is seen is along a shortest path."""
    following_of: dict[str, list[str]] = {}
    for source, target in edges:
        following_of.setdefault(source, []).append(target)
    distance = {start: 0}
    frontier = [start]
    while frontier:
        reached: list[str] = []
        for node in frontier:
            for target in following_of.get(node, []):
                if target not in distance:
                    distance[target] = distance[node] + 1
                    reached.append(target)
        frontier = reached
    del distance[start]
    return distance


def descendants(edges: Iterable[Edge], product: str) -> set[str]:
    """Everything downstream of `product`."""
    return set(hops_downstream(edges, product))


def ancestors(edges: Iterable[Edge], product: str) -> set[str]:
    """Everything upstream of `product`."""
    return set(hops_upstream(edges, product))


def parents(edges: Iterable[Edge], product: str) -> set[str]:
    """Direct upstream products."""
    return {up for up, down in edges if down == product and up != product}


def products_related(edges: Sequence[Edge], p: str, q: str) -> bool:
    """The same product, one reaches the other (either direction), or a shared direct upstream."""
    return (
        p == q
        or q in descendants(edges, p)
        or p in descendants(edges, q)
        or bool(parents(edges, p) & parents(edges, q))
    )


def alerts_related(
    edges: Sequence[Edge], a: FiringAlert, b: FiringAlert, window: timedelta
) -> bool:
    """CONTRACT §6: same space, at most `window` apart, lineage-related products."""
    return (
        a.space == b.space
        and abs(a.occurred_at - b.occurred_at) <= window
        and products_related(edges, a.product_id, b.product_id)
    )


def groups(
    edges: Sequence[Edge], alerts: Sequence[FiringAlert], window: timedelta
) -> set[frozenset[str]]:
    """The connected components of "related" over `alerts`, as sets of alert ids."""
    edge_list = list(edges)
    unvisited = {a.alert_id: a for a in alerts}
    components: set[frozenset[str]] = set()
    while unvisited:
        _, seed = unvisited.popitem()
        component = {seed.alert_id}
        todo = [seed]
        while todo:
            current = todo.pop()
            for other_id, other in list(unvisited.items()):
                if alerts_related(edge_list, current, other, window):
                    del unvisited[other_id]
                    component.add(other_id)
                    todo.append(other)
        components.add(frozenset(component))
    return components


def blast_radius(edges: Sequence[Edge], products: Iterable[str]) -> set[str]:
    """The products and everything downstream of them."""
    radius: set[str] = set()
    for product in products:
        radius.add(product)
        radius |= descendants(edges, product)
    return radius


def roots(edges: Sequence[Edge], products: Iterable[str]) -> set[str]:
    """Alerted products with no alerted ancestor among `products` (acyclic graphs)."""
    alerted = set(products)
    return {p for p in alerted if not ancestors(edges, p) & alerted}


def impact(radius: set[str], tiers: dict[str, str | None]) -> str:
    """HIGH: a critical-tier product or >= 10 products; MEDIUM: high tier or >= 3; else LOW."""
    held = {tiers.get(p) for p in radius}
    if "critical" in held or len(radius) >= 10:
        return "HIGH"
    if "high" in held or len(radius) >= 3:
        return "MEDIUM"
    return "LOW"


# -- the life cycle: recoveries ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CheckAlert:
    """What the oracle needs of any alert, firing or recovered, for the life cycle."""

    alert_id: str
    fingerprint: str
    occurred_at: datetime
    firing: bool
    space: str = "default"


def refires(cleared_at: datetime, fired_at: datetime, within: timedelta) -> bool:
    """CONTRACT §6 reopening, on the problem's times: the fingerprint fires again at or after
    the incident's resolution and at most `within` (24 h) later. An alert that happened
    before the resolution is late data, never a re-fire."""
    return cleared_at <= fired_at <= cleared_at + within


def late_data_of(held_at: Iterable[datetime], fired_at: datetime, window: timedelta) -> bool:
    """A late alert belongs to a resolved incident's time when it happened within `window`
    of one of the incident's alerts of its fingerprint (times `held_at`). The contract is
    silent here; the project's choice: late data of another time never joins or reopens it."""
    return any(abs(held - fired_at) <= window for held in held_at)


def resolutions(
    groups_: Iterable[frozenset[str]], alerts: Sequence[CheckAlert]
) -> dict[frozenset[str], datetime | None]:
    """When each group of firing alerts resolves by CONTRACT §6 (None: it stays open).

    A recovery clears its fingerprint in every group holding that fingerprint firing at or
    before the recovery's time; a fingerprint of a group is clear from the earliest recovery at
    or after its latest firing alert there. A group resolves when every fingerprint it holds is
    clear, at the latest of those times. Written for streams whose recoveries all arrive after
    the firing alerts (nothing resolves while the groups form), or for bursts of such streams
    so far apart that no alert of one `refires` or is `late_data_of` an incident of another.
    """
    by_id = {a.alert_id: a for a in alerts}
    recoveries = [a for a in alerts if not a.firing]
    out: dict[frozenset[str], datetime | None] = {}
    for group in groups_:
        members = [by_id[i] for i in group]
        cleared: list[datetime | None] = []
        for fingerprint in {a.fingerprint for a in members}:
            last = max(a.occurred_at for a in members if a.fingerprint == fingerprint)
            space = members[0].space
            after = [
                r.occurred_at
                for r in recoveries
                if r.fingerprint == fingerprint and r.space == space and r.occurred_at >= last
            ]
            cleared.append(min(after) if after else None)
        out[group] = None if None in cleared else max(t for t in cleared if t is not None)
    return out
