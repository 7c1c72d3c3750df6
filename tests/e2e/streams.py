"""Seeded lineages and alert streams for the multi-process tests, and their expected grouping."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import orjson

from incidentd.schemas.alert import alert_key
from incidentd.schemas.lineage import EdgeSpec, LineageDocument, ProductSpec
from tests.support import oracle

WINDOW = timedelta(hours=6)


@dataclass(frozen=True)
class Stream:
    """A lineage document, the alert records to publish, and what they are."""

    lineage: LineageDocument
    records: list[tuple[bytes, bytes]]
    alerts: list[oracle.FiringAlert]

    @property
    def edges(self) -> list[tuple[str, str]]:
        """The lineage's edges as (upstream, downstream)."""
        return [(e.upstream, e.downstream) for e in self.lineage.edges]


def regional_lineage(
    space: str, seed: int, regions: int = 8, per_region: int = 10
) -> LineageDocument:
    """Several unconnected regions, each a small layered DAG with fan-in and fan-out."""
    rng = random.Random(seed)
    products: list[ProductSpec] = []
    edges: list[EdgeSpec] = []
    for r in range(regions):
        names = [f"r{r}_p{i}" for i in range(per_region)]
        products += [
            ProductSpec(id=n, space=space, tier=rng.choice(["low", "medium", "high"]))
            for n in names
        ]
        for i in range(1, per_region):
            pool = names[:i]
            for parent in rng.sample(pool, k=min(len(pool), 1 + (i % 2))):
                edges.append(EdgeSpec(upstream=parent, downstream=names[i]))
    unique = {(e.upstream, e.downstream): e for e in edges}
    return LineageDocument(products=products, edges=list(unique.values()))


def cascade_stream(
    space: str,
    seed: int,
    count: int,
    lineage: LineageDocument,
    key_by: Literal["space", "product"] = "space",
) -> Stream:
    """Firing alerts in cascades that follow lineage, spread over ten days, in random order.

    Records are keyed by space as incidentd's producers key them (CONTRACT §1); `key_by=
    "product"` spreads a space over every partition, as a producer keying otherwise does.
    """
    rng = random.Random(seed)
    base = datetime(2026, 3, 1, tzinfo=UTC)
    products = [p.id for p in lineage.products]
    children: dict[str, list[str]] = {}
    for e in lineage.edges:
        children.setdefault(e.upstream, []).append(e.downstream)
    alerts: list[oracle.FiringAlert] = []
    while len(alerts) < count:
        product = rng.choice(products)
        at = base + timedelta(minutes=rng.randint(0, 10 * 24 * 60))
        for _ in range(rng.randint(1, 6)):
            alerts.append(oracle.FiringAlert(f"s{seed}-{len(alerts)}", product, at, space))
            nxt = children.get(product)
            if not nxt:
                break
            product = rng.choice(nxt)
            at += timedelta(minutes=rng.randint(1, 30))
    alerts = alerts[:count]
    rng.shuffle(alerts)
    records = [
        (alert_key(a.space) if key_by == "space" else a.product_id.encode(), _body(a, rng))
        for a in alerts
    ]
    return Stream(lineage, records, alerts)


def _body(a: oracle.FiringAlert, rng: random.Random) -> bytes:
    return orjson.dumps(
        {
            "schema_version": 1,
            "alert_id": a.alert_id,
            "space": a.space,
            "product_id": a.product_id,
            "alert_type": "quality_check_failed",
            "severity": rng.choice(["critical", "high", "medium", "low"]),
            "occurred_at": a.occurred_at.isoformat().replace("+00:00", "Z"),
        }
    )


def expected_groups(stream: Stream, window: timedelta = WINDOW) -> set[frozenset[str]]:
    """The oracle's grouping, with product relatedness computed once per pair."""
    edges = stream.edges
    products = sorted({a.product_id for a in stream.alerts})
    related = {(p, q): oracle.products_related(edges, p, q) for p in products for q in products}
    parent = {a.alert_id: a.alert_id for a in stream.alerts}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    ordered = sorted(stream.alerts, key=lambda a: a.occurred_at)
    for i, a in enumerate(ordered):
        for b in ordered[i + 1 :]:
            if b.occurred_at - a.occurred_at > window:
                break
            if related[(a.product_id, b.product_id)]:
                parent[find(a.alert_id)] = find(b.alert_id)
    out: dict[str, set[str]] = {}
    for a in stream.alerts:
        out.setdefault(find(a.alert_id), set()).add(a.alert_id)
    return {frozenset(g) for g in out.values()}


def stored_groups(conn: object, space: str) -> set[frozenset[str]]:
    """The grouping the workers stored: alert ids per open incident."""
    from sqlalchemy import text

    rows = conn.execute(  # type: ignore[attr-defined]
        text(
            "SELECT i.id, array_agg(a.alert_id) FROM incidents i JOIN alerts a "
            "ON a.incident_id = i.id WHERE i.space = :s AND i.merged_into IS NULL GROUP BY i.id"
        ),
        {"s": space},
    )
    return {frozenset(r[1]) for r in rows}


def relevant(values: Sequence[object]) -> int:
    """How many values (for readable assertion messages)."""
    return len(values)
