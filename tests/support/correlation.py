"""A hand-built lineage and a caller of the correlation engine, for the example-based tests of
every rule of CONTRACT §6.

    raw -> clean -> mart -> report
              \\-> side -> side_report          island (no edges)

`mart` and `side` are siblings (both fed by `clean`); `report` and `side_report` are cousins
(they share only the grandparent `clean`). Tests drive the engine as its callers do: a store of
every incident by id, all of them passed in as candidates, one `correlate` call per run.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from incidentd.correlation.engine import correlate
from incidentd.correlation.model import Alert, Incident, Outcome, SpacePolicy
from incidentd.correlation.ports import LineageView
from incidentd.lineage.graph import LineageGraph, ProductInfo
from incidentd.schemas.common import AlertStatus, HistoryState, Severity

SPACE = "finance"
T0 = datetime(2026, 2, 27, 14, 0, tzinfo=UTC)
RUN0 = T0 + timedelta(days=10)
FIRING, RESOLVED = AlertStatus.FIRING, AlertStatus.RESOLVED

MAIN_EDGES = [
    ("raw", "clean"),
    ("clean", "mart"),
    ("mart", "report"),
    ("clean", "side"),
    ("side", "side_report"),
]
MAIN_PRODUCTS = ["raw", "clean", "mart", "report", "side", "side_report", "island"]


def lineage(
    edges: Iterable[tuple[str, str]],
    *,
    products: Iterable[str] = (),
    tiers: dict[str, str] | None = None,
    space: str = SPACE,
) -> LineageGraph:
    """A graph of every product named in `edges` or `products`, with optional tiers."""
    edge_list = list(edges)
    names = dict.fromkeys([*products, *(p for edge in edge_list for p in edge)])
    infos = [ProductInfo(id=p, space=space, name=p, tier=(tiers or {}).get(p)) for p in names]
    return LineageGraph(space, infos, edge_list)


def main_lineage(space: str = SPACE) -> LineageGraph:
    """The lineage drawn in the module docstring."""
    return lineage(MAIN_EDGES, products=MAIN_PRODUCTS, space=space)


def at(minutes: float = 0, *, hours: float = 0, seconds: float = 0) -> datetime:
    """A time relative to T0."""
    return T0 + timedelta(hours=hours, minutes=minutes, seconds=seconds)


def alert(
    alert_id: str,
    product: str,
    when: datetime = T0,
    *,
    status: AlertStatus = FIRING,
    severity: Severity = Severity.MEDIUM,
    fingerprint: str | None = None,
    space: str = SPACE,
) -> Alert:
    """An alert; the fingerprint defaults to one check per product."""
    return Alert(
        alert_id=alert_id,
        space=space,
        product_id=product,
        alert_type="quality_check_failed",
        status=status,
        severity=severity,
        occurred_at=when,
        fingerprint=fingerprint or f"{product}/check",
    )


@dataclass
class Store:
    """A caller of the engine: every incident by id, a clock that ticks once per run."""

    lineage: LineageView = field(default_factory=main_lineage)
    policy: SpacePolicy = field(default_factory=SpacePolicy)
    incidents: dict[str, Incident] = field(default_factory=dict)
    now: datetime = RUN0
    orphans: dict[str, Alert] = field(default_factory=dict)

    def run(self, *alerts: Alert, lineage: LineageView | None = None) -> Outcome:
        """One correlation run with every stored incident as a candidate.

        Recoveries left unassigned are kept, as storage keeps them, and offered to later runs.
        """
        self.now += timedelta(minutes=1)
        outcome = correlate(
            alerts,
            list(self.incidents.values()),
            lineage or self.lineage,
            self.policy,
            self.now,
            orphans=list(self.orphans.values()),
        )
        for incident_id, change in outcome.changes.items():
            self.incidents[incident_id] = change.incident
        by_id = {a.alert_id: a for a in alerts}
        for alert_id, incident_id in outcome.assignments.items():
            if incident_id is not None:
                self.orphans.pop(alert_id, None)
            elif alert_id in by_id and not by_id[alert_id].firing:
                self.orphans[alert_id] = by_id[alert_id]
        return outcome

    def holding(self, alert_id: str) -> Incident:
        """The one incident holding `alert_id`."""
        found = [i for i in self.incidents.values() if alert_id in i.alerts]
        assert len(found) == 1, f"{alert_id} held by {[i.id for i in found]}"
        return found[0]

    def open_groups(self) -> set[frozenset[str]]:
        """The alert ids of every open incident."""
        return {frozenset(i.alerts) for i in self.incidents.values() if i.is_open}


def incident_of(outcome: Outcome, alert_id: str) -> Incident:
    """The incident an outcome assigned `alert_id` to."""
    incident_id = outcome.assignments[alert_id]
    assert incident_id is not None
    return outcome.changes[incident_id].incident


def states(outcome: Outcome, incident_id: str) -> list[tuple[HistoryState, list[str]]]:
    """The history a run wrote for one incident, as (state, alert ids)."""
    return [(h.state, h.alert_ids) for h in outcome.changes[incident_id].history]
