"""Seeded warehouse-like lineages: sources -> staging -> marts -> reports.

Products are grouped in business domains of about 250 products. Inside a domain, staging
models read one to a few sources (fan-in), marts join several staging models plus the domain's
conformed dimensions (a few hubs with a large fan-out), and reports read several marts; a share
of the edges crosses domains, as shared facts and cross-domain reports do in real warehouses.
About 3 edges per product (100k products -> ~300k edges).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from incidentd.lineage.graph import ProductInfo
from incidentd.schemas.lineage import EdgeSpec, LineageDocument, ProductSpec

DOMAIN_SIZE = 250
"""Products per business domain."""

LAYERS: tuple[tuple[str, float], ...] = (
    ("src", 0.20),
    ("stg", 0.30),
    ("mart", 0.35),
    ("rpt", 0.15),
)
"""Layer name and its share of the products."""

HUBS_PER_DOMAIN = 3
"""Conformed dimensions (staging models) of a domain that many of its marts join."""

_TIERS = (("critical", 0.05), ("high", 0.2), ("medium", 0.45), ("low", 0.3))


@dataclass(frozen=True, slots=True)
class LayerRule:
    """How a layer picks its parents."""

    parent_layer: int
    min_parents: int
    max_parents: int
    cross_domain: float  # probability that one parent comes from another domain
    skip_layer: float = 0.0  # probability of one extra parent two layers up


_RULES: dict[int, LayerRule] = {
    1: LayerRule(parent_layer=0, min_parents=1, max_parents=4, cross_domain=0.05),
    2: LayerRule(parent_layer=1, min_parents=2, max_parents=6, cross_domain=0.08),
    3: LayerRule(parent_layer=2, min_parents=2, max_parents=7, cross_domain=0.15, skip_layer=0.1),
}


@dataclass(slots=True)
class Lineage:
    """A generated lineage of one space."""

    space: str
    layers: list[list[str]]
    edges: list[tuple[str, str]]
    domain_of: dict[str, int] = field(default_factory=dict)
    tier_of: dict[str, str] = field(default_factory=dict)
    children: dict[str, list[str]] = field(default_factory=dict)

    @property
    def products(self) -> list[str]:
        """Every product id, layer by layer."""
        return [p for layer in self.layers for p in layer]

    def layer_of(self, product: str) -> str:
        """The layer name of a product (its id starts with it after the domain)."""
        return product.split(".", 1)[1].split("_", 1)[0]

    def dataset(self, product: str) -> str:
        """The product's one dataset; a space's own namespace (a dataset has one owner space)."""
        return f"{self.space}-warehouse/{product}"

    def document(self) -> LineageDocument:
        """The lineage as an `incidentd lineage import` document."""
        products = [
            ProductSpec(
                id=p,
                space=self.space,
                name=p.replace("_", " "),
                owners=[f"team-{self.domain_of[p]:03d}@example.com"],
                tier=self.tier_of[p],  # type: ignore[arg-type]
                datasets=[self.dataset(p)],
            )
            for p in self.products
        ]
        edges = [EdgeSpec(upstream=u, downstream=d) for u, d in self.edges]
        return LineageDocument(products=products, edges=edges)

    def infos(self) -> list[ProductInfo]:
        """The products as the worker's graph holds them."""
        return [
            ProductInfo(
                id=p,
                space=self.space,
                name=p.replace("_", " "),
                owners=(f"team-{self.domain_of[p]:03d}@example.com",),
                tier=self.tier_of[p],
                datasets=(self.dataset(p),),
            )
            for p in self.products
        ]


def generate_lineage(products: int, seed: int, space: str = "bench") -> Lineage:
    """A layered lineage of about `products` products (at least 40)."""
    rng = random.Random(seed)
    products = max(products, 40)
    domains = max(2, products // DOMAIN_SIZE)
    layers: list[list[str]] = []
    by_domain: list[list[list[str]]] = []  # layer -> domain -> products
    lineage = Lineage(space, layers, [])
    for index, (name, share) in enumerate(LAYERS):
        count = max(domains, round(products * share))
        layer: list[str] = []
        grouped: list[list[str]] = [[] for _ in range(domains)]
        for i in range(count):
            domain = i % domains
            pid = f"d{domain:03d}.{name}_{i:06d}"
            layer.append(pid)
            grouped[domain].append(pid)
            lineage.domain_of[pid] = domain
            lineage.tier_of[pid] = _weighted(rng, _TIERS)
        layers.append(layer)
        by_domain.append(grouped)
        if index in _RULES:
            lineage.edges.extend(_parents(rng, _RULES[index], by_domain, grouped, index))
    lineage.edges = sorted(set(lineage.edges))
    for upstream, downstream in lineage.edges:
        lineage.children.setdefault(upstream, []).append(downstream)
    return lineage


def _parents(
    rng: random.Random,
    rule: LayerRule,
    by_domain: list[list[list[str]]],
    grouped: list[list[str]],
    layer: int,
) -> list[tuple[str, str]]:
    """Edges into every product of `layer` from the layers above it."""
    edges: list[tuple[str, str]] = []
    pools = by_domain[rule.parent_layer]
    for domain, members in enumerate(grouped):
        pool = pools[domain]
        hubs = pool[:HUBS_PER_DOMAIN] if layer == 2 else []
        for child in members:
            k = rng.randint(rule.min_parents, rule.max_parents)
            parents = set(rng.sample(pool, k=min(k, len(pool))))
            if rng.random() < rule.cross_domain:
                parents.add(rng.choice(rng.choice(pools)))
            if hubs and rng.random() < 0.35:
                parents.add(rng.choice(hubs))
            if rule.skip_layer and rng.random() < rule.skip_layer:
                parents.add(rng.choice(by_domain[rule.parent_layer - 1][domain]))
            edges.extend((parent, child) for parent in parents)
    return edges


def _weighted(rng: random.Random, choices: Sequence[tuple[str, float]]) -> str:
    """One of `choices` (value, weight)."""
    return rng.choices([c[0] for c in choices], weights=[c[1] for c in choices])[0]
