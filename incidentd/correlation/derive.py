"""Fields derived from an incident's alerts and the lineage: root, blast radius, impact."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from incidentd.correlation.model import Alert, Incident
from incidentd.correlation.ports import LineageView
from incidentd.schemas.common import Impact, Severity

_SEVERITY_BY_RANK = {s.rank: s for s in Severity}


def refresh(incident: Incident, lineage: LineageView) -> None:
    """Recompute every derived field of `incident` from its alerts (user locks respected)."""
    alerts = list(incident.alerts.values())
    if not alerts:
        return
    first_seen = _first_seen(alerts)
    products = sorted(first_seen)
    incident.products = tuple(products)
    incident.first_alert_at = min(a.occurred_at for a in alerts)
    incident.last_alert_at = max(a.occurred_at for a in alerts)
    if not incident.severity_locked:
        incident.severity = _SEVERITY_BY_RANK[max(a.severity.rank for a in alerts)]
    radius = blast_radius(products, lineage)
    incident.blast_radius = tuple(sorted(radius))
    incident.impact = impact(radius, lineage)
    roots = find_roots(products, lineage)
    if not incident.root_locked:
        incident.root_product_id = pick_root(roots, first_seen, lineage)
    incident.suspected_upstream = tuple(suspected_upstream(roots, set(products), lineage))
    incident.tags = tuple(sorted({t for a in alerts for t in a.tags}))
    incident.title = make_title(incident, alerts, lineage)


def _first_seen(alerts: Iterable[Alert]) -> dict[str, datetime]:
    seen: dict[str, datetime] = {}
    for alert in alerts:
        known = seen.get(alert.product_id)
        if known is None or alert.occurred_at < known:
            seen[alert.product_id] = alert.occurred_at
    return seen


def blast_radius(products: Iterable[str], lineage: LineageView) -> set[str]:
    """The alerted products and everything downstream of them."""
    radius: set[str] = set()
    for product in products:
        radius.add(product)
        radius.update(lineage.descendants(product))
    return radius


def impact(radius: set[str], lineage: LineageView) -> Impact:
    """HIGH for a critical-tier product or >= 10 products; MEDIUM for high-tier or >= 3."""
    tiers = {lineage.tier(p) for p in radius}
    if "critical" in tiers or len(radius) >= 10:
        return Impact.HIGH
    if "high" in tiers or len(radius) >= 3:
        return Impact.MEDIUM
    return Impact.LOW


def find_roots(products: list[str], lineage: LineageView) -> list[str]:
    """Alerted products with no alerted ancestor inside the incident."""
    alerted = set(products)
    roots = [p for p in products if alerted.isdisjoint(lineage.ancestors(p))]
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


def make_title(incident: Incident, alerts: list[Alert], lineage: LineageView) -> str:
    """A short human title naming the root and the spread."""
    root = incident.root_product_id or incident.products[0]
    root_name = lineage.name(root) or root
    if len(incident.products) == 1:
        first = min(alerts, key=lambda a: (a.occurred_at, a.alert_id))
        what = first.title or first.alert_type.replace("_", " ")
        return f"{what} on {root_name}"
    count = len(incident.products)
    return f"{root_name}: quality failures across {count} products"
