"""In-process LineageGraph figures: build time and query latency per graph size (no I/O).

Each kind of query runs on a freshly built graph, so the figures are for cold caches: the
first question about a product, which is what a worker asks after a lineage change.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

from bench.lineage_gen import Lineage, generate_lineage
from bench.stats import percentiles
from incidentd.lineage.graph import LineageGraph


def lineage_figures(sizes: list[int], queries: int, seed: int) -> list[dict[str, Any]]:
    """Figures for each lineage size."""
    return [_one_size(generate_lineage(size, seed), queries, seed) for size in sizes]


def _build(lineage: Lineage) -> tuple[LineageGraph, float]:
    infos = lineage.infos()
    started = time.perf_counter()
    graph = LineageGraph(lineage.space, infos, lineage.edges, version=1)
    return graph, time.perf_counter() - started


def _timed(calls: list[Callable[[], object]]) -> list[float]:
    """Milliseconds per call, sorted."""
    out = []
    for call in calls:
        started = time.perf_counter()
        call()
        out.append(1000 * (time.perf_counter() - started))
    return sorted(out)


def _one_size(lineage: Lineage, queries: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    products = lineage.products
    sample = rng.sample(products, min(queries, len(products)))
    builds = []
    graph, seconds = _build(lineage)
    builds.append(seconds)
    sizes = sorted(len(graph.related_set(p)) for p in sample[:200])
    graph, seconds = _build(lineage)
    builds.append(seconds)
    related = _timed([lambda p=p: graph.related_set(p) for p in sample])
    warm = _timed([lambda p=p: graph.related_set(p) for p in sample])
    graph, seconds = _build(lineage)
    builds.append(seconds)
    blast = _timed([lambda s=s: graph.blast_radius(s) for s in _cascades(lineage, rng, queries)])
    graph, seconds = _build(lineage)
    builds.append(seconds)
    pairs = _pairs(lineage, rng, queries)
    is_related = _timed([lambda p=p, q=q: graph.is_related(p, q) for p, q in pairs])
    build_seconds = sorted(builds)[len(builds) // 2]
    return {
        "products": len(graph),
        "edges": graph.edge_count,
        "build_ms": round(1000 * build_seconds, 1),  # median of 4 builds
        "queries_per_kind": len(sample),
        "related_set_size_p50": sizes[len(sizes) // 2],
        "related_set_cold": percentiles(related, "ms"),
        "related_set_warm": percentiles(warm, "ms"),
        "blast_radius": percentiles(blast, "ms"),
        "is_related": percentiles(is_related, "ms"),
    }


def _cascades(lineage: Lineage, rng: random.Random, count: int) -> list[list[str]]:
    """Alerted product sets like an incident's: a product and 0-5 of its descendants."""
    out = []
    roots = [p for layer in lineage.layers[:2] for p in layer]
    for _ in range(count):
        members = [rng.choice(roots)]
        for _hop in range(rng.randint(0, 5)):
            children = lineage.children.get(members[-1])
            if not children:
                break
            members.append(rng.choice(children))
        out.append(members)
    return out


def _pairs(lineage: Lineage, rng: random.Random, count: int) -> list[tuple[str, str]]:
    """Half random pairs (mostly unrelated: the search must fail), half in one domain."""
    products = lineage.products
    by_domain: dict[int, list[str]] = {}
    for product, domain in lineage.domain_of.items():
        by_domain.setdefault(domain, []).append(product)
    domains = list(by_domain.values())
    pairs = []
    for i in range(count):
        if i % 2:
            pool = rng.choice(domains)
            pairs.append((rng.choice(pool), rng.choice(pool)))
        else:
            pairs.append((rng.choice(products), rng.choice(products)))
    return pairs
