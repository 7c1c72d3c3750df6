"""Fields derived from an incident's alerts and the lineage: root, blast radius, impact."""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from incidentd.correlation.model import Alert, Incident
from incidentd.correlation.ports import LineageView
from incidentd.schemas.common import Impact, Severity

_SEVERITY_BY_RANK = {s.rank: s for s in Severity}


def refresh(incident: Incident, lineage: LineageView) -> None:
    """Recompute every derived field of `incident` from its alerts (user locks respected)."""
    if not incident.alerts:
        return
    facts = incident.alert_facts()
    assert facts.first is not None and facts.last_at is not None
    shape = _shape_of(incident, facts.first_seen, lineage)
    incident.products = shape.products
    incident.first_alert_at = facts.first.occurred_at
    incident.last_alert_at = facts.last_at
    if not incident.severity_locked:
        incident.severity = _SEVERITY_BY_RANK[facts.severity_rank]
    incident.blast_radius = shape.radius
    incident.impact = shape.impact
    if not incident.root_locked:
        incident.root_product_id = pick_root(list(shape.roots), facts.first_seen, lineage)
    incident.suspected_upstream = shape.suspected
    incident.tags = tuple(sorted(facts.tags))
    incident.title = make_title(incident, facts.first, lineage)


@dataclass(frozen=True, slots=True)
class _Shape:
    """What the lineage says of an alerted product set: kept while set and graph stay."""

    lineage: weakref.ref[LineageView] | None
    products: tuple[str, ...]
    radius: tuple[str, ...]
    impact: Impact
    roots: tuple[str, ...]
    suspected: tuple[str, ...]


def _shape_of(incident: Incident, first_seen: dict[str, datetime], lineage: LineageView) -> _Shape:
    """Blast radius, impact, roots and suspected upstream of the incident's products.

    Recomputed only when the alerted products or the lineage graph (an immutable object per
    catalog version) changed since this incident's last refresh: repeats of known products,
    the bulk of a batch, cost nothing here.
    """
    products = tuple(sorted(first_seen))
    memo = incident.derived_memo
    if (
        isinstance(memo, _Shape)
        and memo.lineage is not None
        and memo.lineage() is lineage
        and memo.products == products
    ):
        return memo
    below = downstream_of(products, lineage)
    radius = below.union(products)
    roots = find_roots(list(products), below, lineage)
    try:
        ref: weakref.ref[LineageView] | None = weakref.ref(lineage)
    except TypeError:  # a view that cannot be referenced weakly is never reused
        ref = None
    shape = _Shape(
        ref,
        products,
        tuple(sorted(radius)),
        impact(radius, lineage),
        tuple(roots),
        tuple(suspected_upstream(roots, set(products), lineage)),
    )
    incident.derived_memo = shape
    return shape


def downstream_of(products: Iterable[str], lineage: LineageView) -> set[str]:
    """Everything downstream of one of `products` (with the blast radius: those products)."""
    below: set[str] = set()
    for product in products:
        below.update(lineage.descendants(product))
    return below


def impact(radius: set[str], lineage: LineageView) -> Impact:
    """HIGH for a critical-tier product or >= 10 products; MEDIUM for high-tier or >= 3."""
    if len(radius) >= 10:
        return Impact.HIGH  # whatever the tiers
    tiers = {lineage.tier(p) for p in radius}
    if "critical" in tiers:
        return Impact.HIGH
    if "high" in tiers or len(radius) >= 3:
        return Impact.MEDIUM
    return Impact.LOW


def find_roots(products: list[str], below: set[str], lineage: LineageView) -> list[str]:
    """Alerted products with no alerted ancestor inside the incident.

    `below` is `downstream_of(products)`: a product has an alerted ancestor exactly when it
    lies downstream of an alerted product, so one set lookup per product answers it.
    """
    roots = [p for p in products if p not in below]
    if roots:
        return roots
    # Only a lineage cycle can leave no root: treat the cycle's members as roots.
    return [p for p in products if p in lineage.descendants(p)] or list(products)


def pick_root(roots: list[str], first_seen: dict[str, datetime], lineage: LineageView) -> str:
    """Earliest-alerted root; ties go to the larger blast radius, then the smaller id."""
    return min(roots, key=lambda p: (first_seen[p], -len(lineage.descendants(p)), p))


def suspected_upstream(roots: list[str], alerted: set[str], lineage: LineageView) -> list[str]:
    """Products upstream of every root without an alert in the incident, nearest first."""
    if not roots:
        return []
    common: dict[str, int] | None = None
    for root in roots:
        hops = lineage.ancestors(root)
        if common is None:
            common = {p: h for p, h in hops.items() if p not in alerted}
        else:
            common = {p: max(h, hops[p]) for p, h in common.items() if p in hops}
    assert common is not None
    return sorted(common, key=lambda p: (common[p], p))


def make_title(incident: Incident, first: Alert, lineage: LineageView) -> str:
    """A short human title naming the root and the spread (`first`: the earliest alert)."""
    root = incident.root_product_id or incident.products[0]
    root_name = lineage.name(root) or root
    if len(incident.products) == 1:
        what = first.title or first.alert_type.replace("_", " ")
        return f"{what} on {root_name}"
    count = len(incident.products)
    return f"{root_name}: quality failures across {count} products"
