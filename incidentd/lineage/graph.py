"""An immutable in-memory lineage graph of one space, over networkx (no I/O)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sized
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Generic, TypeVar

import networkx as nx

from incidentd.schemas.lineage import LineageDocument, ProductSpec

DEFAULT_CACHE_SIZE = 20_000
"""Memoised results kept per kind of query (ancestors, descendants, related sets)."""

DEFAULT_CACHE_WEIGHT = 4_000_000
"""Total members kept per kind of query; bounds memory when results are huge."""

_MERGE_LIMIT = 4
"""Blast radius of at most this many products merges memoised descendants; beyond, one BFS."""

# networkx's own adjacency dicts (`DiGraph._succ` / `_pred`): node -> {neighbour: edge attrs}.
_Adjacency = Mapping[str, Mapping[str, Any]]
_K = TypeVar("_K", bound=Hashable)
_V = TypeVar("_V", bound=Sized)


@dataclass(frozen=True, slots=True)
class ProductInfo:
    """The catalog facts of one data product (a lineage node)."""

    id: str
    space: str
    name: str | None = None
    owners: tuple[str, ...] = ()
    stewards: tuple[str, ...] = ()
    tier: str | None = None
    tags: tuple[str, ...] = ()
    datasets: tuple[str, ...] = ()

    @classmethod
    def from_spec(cls, spec: ProductSpec) -> ProductInfo:
        """Build from the pydantic `ProductSpec` of a lineage document or API body."""
        return cls(
            id=spec.id,
            space=spec.space,
            name=spec.name,
            owners=tuple(spec.owners),
            stewards=tuple(spec.stewards),
            tier=None if spec.tier is None else str(spec.tier),
            tags=tuple(spec.tags),
            datasets=tuple(spec.datasets),
        )


class _LruCache(Generic[_K, _V]):
    """A thread-safe cache bounded both by entry count and by the summed `len` of values.

    Least recently used goes first, approximately (the CLOCK scheme): a hit takes no lock and
    moves nothing, it only marks the key used; eviction, under the lock, takes the oldest
    entry and gives a used one a second chance at the young end instead.
    """

    def __init__(self, maxsize: int, max_weight: int) -> None:
        self._data: OrderedDict[_K, _V] = OrderedDict()
        self._used: set[_K] = set()
        self._maxsize = maxsize
        self._max_weight = max_weight
        self._weight = 0
        self._lock = threading.Lock()

    def peek(self, key: _K) -> _V | None:
        """The cached value without computing or marking anything."""
        return self._data.get(key)

    def get(self, key: _K, compute: Callable[[_K], _V]) -> _V:
        """The cached value; on a miss `compute(key)` (outside the lock), stored."""
        value = self._data.get(key)
        if value is not None:
            self._used.add(key)
            return value
        value = compute(key)
        weight = len(value) + 1
        if self._maxsize <= 0 or weight > self._max_weight:
            return value
        with self._lock:
            if key not in self._data:
                self._data[key] = value
                self._weight += weight
            self._evict()
        return value

    def _evict(self) -> None:
        data, used = self._data, self._used
        while len(data) > self._maxsize or self._weight > self._max_weight:
            key, evicted = data.popitem(last=False)
            if key in used:
                used.discard(key)
                data[key] = evicted  # used since it came in: a second chance
            else:
                self._weight -= len(evicted) + 1

    def __len__(self) -> int:
        return len(self._data)


def _bfs(adj: _Adjacency, sources: Iterable[str], depth: int | None = None) -> dict[str, int]:
    """Shortest hop distance from the nearest source; sources (in `adj`) are at 0."""
    dist = {node: 0 for node in sources if node in adj}
    frontier = list(dist)
    hops = 0
    while frontier and (depth is None or hops < depth):
        hops += 1
        reached: list[str] = []
        for node in frontier:
            for nbr in adj[node]:
                if nbr not in dist:
                    dist[nbr] = hops
                    reached.append(nbr)
        frontier = reached
    return dist


def _reach_from(adj: _Adjacency, start: str, depth: int | None = None) -> dict[str, int]:
    """Hop distances of everything reachable from `start`, `start` itself excluded."""
    dist = _bfs(adj, (start,), depth)
    dist.pop(start, None)
    return dist


def _expand(adj: _Adjacency, frontier: list[str], seen: set[str]) -> list[str]:
    """One BFS level: the unseen neighbours of `frontier`, now marked seen."""
    reached: list[str] = []
    for node in frontier:
        for nbr in adj[node]:
            if nbr not in seen:
                seen.add(nbr)
                reached.append(nbr)
    return reached


class LineageGraph:
    """Lineage of one space; immutable once built, with memoised reach queries."""

    def __init__(
        self,
        space: str,
        products: Iterable[ProductInfo],
        edges: Iterable[tuple[str, str]],
        version: int = 0,
        *,
        cache_size: int = DEFAULT_CACHE_SIZE,
        cache_weight: int = DEFAULT_CACHE_WEIGHT,
    ) -> None:
        self._space = space
        self._version = version
        self._info: dict[str, ProductInfo] = {p.id: p for p in products}
        graph = nx.DiGraph()
        graph.add_nodes_from(self._info)
        graph.add_edges_from((u, v) for u, v in edges if u != v)
        self._graph = nx.freeze(graph)
        self._succ: _Adjacency = graph._succ
        self._pred: _Adjacency = graph._pred
        self._claims: dict[str, str] = {}
        for pid in sorted(self._info):
            for dataset in self._info[pid].datasets:
                self._claims.setdefault(dataset, pid)
        self._up: _LruCache[str, Mapping[str, int]] = _LruCache(cache_size, cache_weight)
        self._down: _LruCache[str, Mapping[str, int]] = _LruCache(cache_size, cache_weight)
        self._related: _LruCache[str, frozenset[str]] = _LruCache(cache_size, cache_weight)

    @classmethod
    def empty(cls, space: str) -> LineageGraph:
        """A graph of `space` with no products and no edges."""
        return cls(space, (), ())

    @classmethod
    def from_document(cls, document: LineageDocument, space: str, version: int = 0) -> LineageGraph:
        """The part of a lineage document that belongs to `space`."""
        spaces = {p.space for p in document.products}
        owner = {p.id: p.space for p in document.products}
        only_space = spaces <= {space}
        edges = [
            (e.upstream, e.downstream)
            for e in document.edges
            if (e.space or owner.get(e.upstream) or owner.get(e.downstream)) == space
            or (e.space is None and only_space and e.upstream not in owner)
        ]
        products = [ProductInfo.from_spec(p) for p in document.products if p.space == space]
        return cls(space, products, edges, version)

    # -- basic facts -------------------------------------------------------------------

    @property
    def space(self) -> str:
        """The space this graph belongs to."""
        return self._space

    @property
    def version(self) -> int:
        """The catalog version this graph was built from."""
        return self._version

    @property
    def networkx(self) -> Any:
        """The underlying (frozen) `networkx.DiGraph`."""
        return self._graph

    def __contains__(self, product_id: object) -> bool:
        return product_id in self._succ

    def __len__(self) -> int:
        return len(self._succ)

    def __iter__(self) -> Iterator[str]:
        return iter(self._succ)

    @property
    def edge_count(self) -> int:
        """Number of distinct edges (self-loops were dropped)."""
        return int(self._graph.number_of_edges())

    def edges(self) -> Iterator[tuple[str, str]]:
        """Every edge as (upstream, downstream)."""
        for upstream, children in self._succ.items():
            for downstream in children:
                yield upstream, downstream

    def product(self, product_id: str) -> ProductInfo | None:
        """Catalog facts of a product; None for unknown ids and edge-only nodes."""
        return self._info.get(product_id)

    def tier(self, product_id: str) -> str | None:
        """The product's tier, if known."""
        info = self._info.get(product_id)
        return None if info is None else info.tier

    def name(self, product_id: str) -> str | None:
        """The product's display name, if known."""
        info = self._info.get(product_id)
        return None if info is None else info.name

    def products_claiming(self, dataset: str) -> str | None:
        """The product listing dataset `namespace/name` (smallest id if several do)."""
        return self._claims.get(dataset)

    def parents(self, product_id: str) -> frozenset[str]:
        """Direct upstream products."""
        return frozenset(self._pred.get(product_id, ()))

    def children(self, product_id: str) -> frozenset[str]:
        """Direct downstream products."""
        return frozenset(self._succ.get(product_id, ()))

    # -- reach -------------------------------------------------------------------------

    def ancestors(self, product_id: str) -> Mapping[str, int]:
        """Every upstream product with its shortest hop distance (itself excluded)."""
        if product_id not in self._pred:
            return MappingProxyType({})
        return self._up.get(product_id, self._compute_up)

    def descendants(self, product_id: str) -> Mapping[str, int]:
        """Every downstream product with its shortest hop distance (itself excluded)."""
        if product_id not in self._succ:
            return MappingProxyType({})
        return self._down.get(product_id, self._compute_down)

    def _compute_up(self, product_id: str) -> Mapping[str, int]:
        return MappingProxyType(_reach_from(self._pred, product_id))

    def _compute_down(self, product_id: str) -> Mapping[str, int]:
        return MappingProxyType(_reach_from(self._succ, product_id))

    def upstream(self, product_id: str, depth: int | None = None) -> dict[str, int]:
        """Ancestors within `depth` hops (all if None), with their hop distance."""
        return self._limited(self._pred, self.ancestors, product_id, depth)

    def downstream(self, product_id: str, depth: int | None = None) -> dict[str, int]:
        """Descendants within `depth` hops (all if None), with their hop distance."""
        return self._limited(self._succ, self.descendants, product_id, depth)

    def _limited(
        self,
        adj: _Adjacency,
        full: Callable[[str], Mapping[str, int]],
        product_id: str,
        depth: int | None,
    ) -> dict[str, int]:
        if depth is None:
            return dict(full(product_id))
        if depth < 0:
            raise ValueError(f"depth must be >= 0, got {depth}")
        if product_id not in adj:
            return {}
        return _reach_from(adj, product_id, depth)

    def related_set(self, product_id: str) -> frozenset[str]:
        """Itself, every ancestor, every descendant and every product sharing a parent."""
        if product_id not in self._succ:
            return frozenset((product_id,))
        return self._related.get(product_id, self._compute_related)

    def _compute_related(self, product_id: str) -> frozenset[str]:
        members = set(self.ancestors(product_id))
        members.update(self.descendants(product_id))
        members.add(product_id)
        for parent in self._pred[product_id]:
            members.update(self._succ[parent])
        return frozenset(members)

    def is_related(self, p: str, q: str) -> bool:
        """Whether `q` is in `related_set(p)` (symmetric), without building the set."""
        if p == q:
            return True
        if p not in self._succ or q not in self._succ:
            return False
        if not self._pred[p].keys().isdisjoint(self._pred[q]):
            return True
        for a, b in ((p, q), (q, p)):
            related = self._related.peek(a)
            if related is not None:
                return b in related
            down, up = self._down.peek(a), self._up.peek(a)
            if down is not None and up is not None:
                return b in down or b in up
        return self._reaches(p, q) or self._reaches(q, p)

    def _reaches(self, source: str, target: str) -> bool:
        """Bidirectional BFS: is there a path source -> ... -> target?"""
        fwd_seen, bwd_seen = {source}, {target}
        fwd, bwd = [source], [target]
        while fwd and bwd:
            if len(fwd) <= len(bwd):
                fwd = _expand(self._succ, fwd, fwd_seen)
                if not bwd_seen.isdisjoint(fwd):
                    return True
            else:
                bwd = _expand(self._pred, bwd, bwd_seen)
                if not fwd_seen.isdisjoint(bwd):
                    return True
        return False

    def blast_radius(self, products: Iterable[str]) -> dict[str, int]:
        """The given products at 0 and every descendant at its hop distance from the nearest."""
        sources = list(dict.fromkeys(products))
        if len(sources) == 1:
            single = dict(self.descendants(sources[0]))
            single[sources[0]] = 0
            return single
        if len(sources) > _MERGE_LIMIT:
            dist = _bfs(self._succ, sources)
            dist.update((s, 0) for s in sources)
            return dist
        result = dict.fromkeys(sources, 0)
        for source in sources:
            for node, hops in self.descendants(source).items():
                if hops < result.get(node, hops + 1):
                    result[node] = hops
        return result

    def subgraph_edges(self, nodes: Iterable[str]) -> list[tuple[str, str]]:
        """Edges with both ends in `nodes`, sorted."""
        wanted = {n for n in nodes if n in self._succ}
        found = [(u, v) for u in wanted for v in self._succ[u] if v in wanted]
        return sorted(found)

    def __repr__(self) -> str:
        return (
            f"LineageGraph(space={self._space!r}, version={self._version}, "
            f"nodes={len(self)}, edges={self.edge_count})"
        )
