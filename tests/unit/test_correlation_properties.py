"""Property tests of the correlation engine against the naive oracle of CONTRACT §6.

Scenarios are small random DAGs (edges only from a lower to a higher index, so acyclic, with
some isolated products) and streams of alerts spread over about twice the correlation window,
on whole minutes so that alerts exactly one window apart are common.

The engine is driven the way its callers drive it: an incident store (every incident by id)
is carried from run to run, every run gets all stored incidents as candidates, and every
incident of `Outcome.changes` is put back into the store.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from itertools import pairwise

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from incidentd.correlation.engine import correlate
from incidentd.correlation.model import Alert, Incident, Outcome, SpacePolicy
from incidentd.lineage.graph import LineageGraph, ProductInfo
from incidentd.schemas.common import AlertStatus, IncidentStatus, Severity
from tests.support import oracle
from tests.support.oracle import Edge, FiringAlert

SPACE = "props"
WINDOW = timedelta(minutes=60)
POLICY = SpacePolicy(window=WINDOW)
SPAN_MINUTES = 2 * 60
T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
NOW0 = T0 + timedelta(days=2)
TIERS: list[str | None] = [None, None, None, None, "low", "medium", "high", "critical"]

PROPERTY_SETTINGS = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# -- scenarios -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    """A lineage graph and a stream of alerts of one space."""

    products: tuple[str, ...]
    edges: tuple[Edge, ...]
    tiers: dict[str, str | None]
    alerts: tuple[Alert, ...]

    def lineage(self) -> LineageGraph:
        """The engine's lineage view of the scenario."""
        infos = [ProductInfo(id=p, space=SPACE, name=p, tier=self.tiers[p]) for p in self.products]
        return LineageGraph(SPACE, infos, self.edges)

    def firing(self) -> list[FiringAlert]:
        """The firing alerts as the oracle sees them."""
        return [
            FiringAlert(a.alert_id, a.product_id, a.occurred_at, a.space)
            for a in self.alerts
            if a.firing
        ]


@st.composite
def dags(draw: st.DrawFn, max_products: int = 25) -> tuple[tuple[str, ...], tuple[Edge, ...]]:
    """5-25 products; edges only from a lower to a higher index; some products isolated."""
    count = draw(st.integers(min_value=5, max_value=max_products))
    products = tuple(f"p{i:02d}" for i in range(count))
    isolated = draw(st.sets(st.integers(0, count - 1), max_size=count // 3))
    linked = [i for i in range(count) if i not in isolated]
    pairs = [(products[i], products[j]) for i in linked for j in linked if i < j]
    if not pairs:
        return products, ()
    size = draw(st.integers(min_value=0, max_value=min(len(pairs), 2 * count)))
    edges = draw(st.lists(st.sampled_from(pairs), unique=True, min_size=size, max_size=size))
    return products, tuple(edges)


@st.composite
def scenarios(
    draw: st.DrawFn, *, max_alerts: int = 24, max_products: int = 25, resolved_share: float = 0.0
) -> Scenario:
    """A DAG and an alert stream (unique ids, whole minutes within two windows)."""
    products, edges = draw(dags(max_products))
    tiers = {p: draw(st.sampled_from(TIERS)) for p in products}
    count = draw(st.integers(min_value=1, max_value=max_alerts))
    # A coarse clock makes simultaneous alerts (root ties) and exact-window gaps common.
    step = draw(st.sampled_from([1, 1, 15, 30]))
    alerts: list[Alert] = []
    for k in range(count):
        product = draw(st.sampled_from(products))
        minute = step * draw(st.integers(min_value=0, max_value=SPAN_MINUTES // step))
        resolved = resolved_share > 0 and draw(st.floats(0, 1)) < resolved_share
        check = draw(st.integers(0, 1))
        alerts.append(
            Alert(
                alert_id=f"a{k:02d}",
                space=SPACE,
                product_id=product,
                alert_type="quality_check_failed",
                status=AlertStatus.RESOLVED if resolved else AlertStatus.FIRING,
                severity=draw(st.sampled_from(list(Severity))),
                occurred_at=T0 + timedelta(minutes=minute),
                fingerprint=f"{product}/check-{check}",
            )
        )
    return Scenario(products, edges, tiers, tuple(alerts))


def batches_of(
    data: st.DataObject, alerts: Sequence[Alert], *, shuffle: bool = True
) -> list[list[Alert]]:
    """`alerts` in a random order, cut into random consecutive batches."""
    ordered = list(data.draw(st.permutations(list(alerts)))) if shuffle else list(alerts)
    if len(ordered) < 2:
        return [ordered]
    cuts = sorted(data.draw(st.sets(st.integers(1, len(ordered) - 1))))
    bounds = [0, *cuts, len(ordered)]
    return [ordered[lo:hi] for lo, hi in pairwise(bounds)]


# -- driving the engine ----------------------------------------------------------------------


@dataclass
class Store:
    """What a caller keeps between runs: every incident by id, and a clock."""

    lineage: LineageGraph
    policy: SpacePolicy = POLICY
    incidents: dict[str, Incident] = field(default_factory=dict)
    runs: int = 0

    def run(self, alerts: Sequence[Alert]) -> Outcome:
        """One `correlate` call with every stored incident as a candidate."""
        now = NOW0 + timedelta(minutes=self.runs)
        self.runs += 1
        outcome = correlate(alerts, list(self.incidents.values()), self.lineage, self.policy, now)
        for incident_id, change in outcome.changes.items():
            assert change.incident.id == incident_id
            self.incidents[incident_id] = change.incident
        return outcome

    def open_incidents(self) -> list[Incident]:
        """Incidents that are not resolved."""
        return [i for i in self.incidents.values() if i.is_open]

    def grouping(self) -> set[frozenset[str]]:
        """The alert ids of every open incident."""
        return {frozenset(i.alerts) for i in self.open_incidents()}

    def holders(self) -> dict[str, list[str]]:
        """alert id -> ids of every stored incident holding it."""
        held: dict[str, list[str]] = {}
        for incident in self.incidents.values():
            for alert_id in incident.alerts:
                held.setdefault(alert_id, []).append(incident.id)
        return held


def play(scenario: Scenario, batches: Iterable[Sequence[Alert]]) -> Store:
    """Run every batch in turn against a fresh store, checking invariants after each run."""
    store = Store(scenario.lineage())
    for batch in batches:
        versions = {i: inc.version for i, inc in store.incidents.items()}
        outcome = store.run(batch)
        check_run(store, outcome, batch, versions)
    return store


def check_run(
    store: Store, outcome: Outcome, batch: Sequence[Alert], versions_before: dict[str, int]
) -> None:
    """What every run promises, whatever the alerts' statuses."""
    assert set(outcome.assignments) >= {a.alert_id for a in batch}
    holders = store.holders()
    assert all(len(ids) == 1 for ids in holders.values()), holders
    for alert_id, incident_id in outcome.assignments.items():
        if incident_id is None:
            assert alert_id not in holders
        else:
            assert holders[alert_id] == [incident_id]
    for alert in batch:
        if alert.firing:
            assert alert.alert_id in holders
    for incident_id, incident in store.incidents.items():
        before = versions_before.get(incident_id, 0)
        touched = incident_id in outcome.changes
        assert incident.version == before + (1 if touched else 0)
        if incident.merged_into is not None:
            assert incident.status is IncidentStatus.RESOLVED
            assert incident.alert_count == 0
            assert final_target(store, incident).merged_into is None
        elif not incident.is_open:
            assert incident.alerts, "a resolved (not merged) incident keeps its alerts"
        else:
            assert incident.alerts, "an open incident holds at least one alert"


def final_target(store: Store, incident: Incident) -> Incident:
    """Follow `merged_into` to its end; fails on a dangling id or a cycle."""
    seen = {incident.id}
    while incident.merged_into is not None:
        incident = store.incidents[incident.merged_into]
        assert incident.id not in seen, "merged_into forms a cycle"
        seen.add(incident.id)
    return incident


def check_all_firing(scenario: Scenario, store: Store) -> None:
    """Invariants of a store fed only firing alerts (nothing ever resolves)."""
    firing = {a.alert_id: a for a in scenario.firing()}
    holders = store.holders()
    assert set(holders) == set(firing), "every alert belongs to exactly one incident"
    for incident in store.incidents.values():
        if incident.merged_into is None:
            assert incident.is_open
        else:
            assert final_target(store, incident).is_open
    incidents = store.open_incidents()
    for n, first in enumerate(incidents):
        for second in incidents[n + 1 :]:
            for a in first.alerts:
                for b in second.alerts:
                    assert not oracle.alerts_related(
                        scenario.edges, firing[a], firing[b], WINDOW
                    ), f"{a} in {first.id} and {b} in {second.id} are related"


# -- grouping --------------------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(scenarios())
def test_grouping_is_the_connected_components_of_related(scenario: Scenario) -> None:
    store = play(scenario, [scenario.alerts])
    assert store.grouping() == oracle.groups(scenario.edges, scenario.firing(), WINDOW)
    check_all_firing(scenario, store)


@PROPERTY_SETTINGS
@given(scenarios(), st.data())
def test_grouping_ignores_arrival_order_and_batching(
    scenario: Scenario, data: st.DataObject
) -> None:
    store = play(scenario, batches_of(data, scenario.alerts))
    assert store.grouping() == oracle.groups(scenario.edges, scenario.firing(), WINDOW)
    check_all_firing(scenario, store)


@PROPERTY_SETTINGS
@given(scenarios(max_alerts=16), st.data())
def test_invariants_hold_after_every_run(scenario: Scenario, data: st.DataObject) -> None:
    store = Store(scenario.lineage())
    seen: list[Alert] = []
    for batch in batches_of(data, scenario.alerts):
        versions = {i: inc.version for i, inc in store.incidents.items()}
        outcome = store.run(batch)
        check_run(store, outcome, batch, versions)
        seen.extend(batch)
        partial = Scenario(scenario.products, scenario.edges, scenario.tiers, tuple(seen))
        check_all_firing(partial, store)
        assert store.grouping() == oracle.groups(scenario.edges, partial.firing(), WINDOW)


# -- idempotence -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    """Everything observable about one incident."""

    status: IncidentStatus
    alert_ids: frozenset[str]
    version: int
    updated_at: datetime
    merged_into: str | None
    root: str | None
    blast_radius: tuple[str, ...]
    severity: Severity

    @classmethod
    def of(cls, incident: Incident) -> Snapshot:
        """Snapshot `incident`."""
        return cls(
            incident.status,
            frozenset(incident.alerts),
            incident.version,
            incident.updated_at,
            incident.merged_into,
            incident.root_product_id,
            incident.blast_radius,
            incident.severity,
        )


@PROPERTY_SETTINGS
@given(scenarios(), st.data())
def test_replaying_alerts_changes_nothing(scenario: Scenario, data: st.DataObject) -> None:
    """A replayed alert is skipped: no change at all, and it is assigned where it already is."""
    store = play(scenario, batches_of(data, scenario.alerts))
    before = {i: Snapshot.of(inc) for i, inc in store.incidents.items()}
    home = {alert_id: ids[0] for alert_id, ids in store.holders().items()}
    whole = data.draw(st.booleans())
    replay = (
        list(scenario.alerts)
        if whole
        else data.draw(st.lists(st.sampled_from(scenario.alerts), min_size=1))
    )
    for batch in batches_of(data, replay):
        outcome = store.run(batch)
        assert outcome.changes == {}
        assert outcome.assignments == {a.alert_id: home[a.alert_id] for a in batch}
    assert {i: Snapshot.of(inc) for i, inc in store.incidents.items()} == before


# -- derived fields --------------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(scenarios(), st.data())
def test_derived_fields_follow_the_lineage(scenario: Scenario, data: st.DataObject) -> None:
    store = play(scenario, batches_of(data, scenario.alerts))
    edges = scenario.edges
    for incident in store.open_incidents():
        alerts = list(incident.alerts.values())
        alerted = {a.product_id for a in alerts}
        assert set(incident.products) == alerted
        assert incident.first_alert_at == min(a.occurred_at for a in alerts)
        assert incident.last_alert_at == max(a.occurred_at for a in alerts)
        assert incident.severity.rank == max(a.severity.rank for a in alerts)

        radius = oracle.blast_radius(edges, alerted)
        assert list(incident.blast_radius) == sorted(radius)
        assert incident.impact.value == oracle.impact(radius, scenario.tiers)

        roots = oracle.roots(edges, alerted)
        root = incident.root_product_id
        assert root in roots, (root, roots)
        assert not oracle.ancestors(edges, root) & alerted
        first_seen = {p: min(a.occurred_at for a in alerts if a.product_id == p) for p in alerted}
        expected_root = min(
            roots, key=lambda p: (first_seen[p], -len(oracle.descendants(edges, p)), p)
        )
        assert root == expected_root

        upstream = incident.suspected_upstream
        assert len(set(upstream)) == len(upstream)
        common = set.intersection(*(oracle.ancestors(edges, r) for r in roots)) - alerted
        assert set(upstream) == common
        assert not set(upstream) & alerted
        for product in upstream:
            assert all(product in oracle.ancestors(edges, r) for r in roots)
        if len(roots) == 1:
            hops = oracle.hops_upstream(edges, root)
            distances = [hops[p] for p in upstream]
            assert distances == sorted(distances), "nearest first"


# -- with recoveries -------------------------------------------------------------------------


def _alert(alert_id: str, fingerprint: str, minute: int, status: AlertStatus) -> Alert:
    return Alert(
        alert_id,
        SPACE,
        "p00",
        "quality_check_failed",
        status,
        Severity.LOW,
        T0 + timedelta(minutes=minute),
        fingerprint,
    )


_FIRING, _RESOLVED = AlertStatus.FIRING, AlertStatus.RESOLVED
_LATE_RECOVERY = (
    # F and G fire; G recovers at 6; F's recovery at 4 arrives late and resolves the incident
    # (cleared_at 4); then G's late firing alert from minute 5, older than G's recovery.
    Scenario(
        products=("p00", "p01", "p02", "p03", "p04"),
        edges=(),
        tiers=dict.fromkeys(("p00", "p01", "p02", "p03", "p04")),
        alerts=(
            _alert("f1", "F", 0, _FIRING),
            _alert("g1", "G", 0, _FIRING),
            _alert("g2", "G", 6, _RESOLVED),
            _alert("f2", "F", 4, _RESOLVED),
            _alert("g3", "G", 5, _FIRING),
        ),
    ),
    [[0, 1, 2], [3], [4]],
)


@st.composite
def split_streams(draw: st.DrawFn) -> tuple[Scenario, list[list[int]]]:
    """A scenario with recoveries, and its alerts (by position) shuffled into batches."""
    scenario = draw(scenarios(max_products=8, resolved_share=0.35))
    order = draw(st.permutations(range(len(scenario.alerts))))
    cuts = sorted(draw(st.sets(st.integers(1, max(1, len(order) - 1)))))
    bounds = [0, *(c for c in cuts if c < len(order)), len(order)]
    return scenario, [list(order[lo:hi]) for lo, hi in pairwise(bounds)]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(split_streams())
@example(_LATE_RECOVERY)
def test_recoveries_keep_the_store_consistent(stream: tuple[Scenario, list[list[int]]]) -> None:
    """With recoveries in the stream: the per-run invariants, auto-resolve, idempotence.

    With `auto_resolve` on, an incident left open after a run must still have a fingerprint
    whose latest alert fires: otherwise no recovery in order could ever resolve it.
    """
    scenario, positions = stream
    batches = [[scenario.alerts[k] for k in batch] for batch in positions]
    store = play(scenario, batches)
    for incident in store.open_incidents():
        assert not incident.all_clear(), f"open {incident.id} has every fingerprint clear"
    before = {i: Snapshot.of(inc) for i, inc in store.incidents.items()}
    holders = store.holders()
    for batch in batches:
        replay = [a for a in batch if a.alert_id in holders]
        assert store.run(replay).changes == {}
    assert {i: Snapshot.of(inc) for i, inc in store.incidents.items()} == before


_REFIRE = (
    # F fires at 0, clears at 10 (the incident resolves), and fires again at 20: a reopening.
    Scenario(
        products=("p00", "p01", "p02", "p03", "p04"),
        edges=(),
        tiers=dict.fromkeys(("p00", "p01", "p02", "p03", "p04")),
        alerts=(
            _alert("f1", "F", 0, _FIRING),
            _alert("f2", "F", 10, _RESOLVED),
            _alert("f3", "F", 20, _FIRING),
        ),
    ),
    [[0], [1], [2]],
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(split_streams())
@example(_REFIRE)
def test_a_run_reports_each_added_alert_once(stream: tuple[Scenario, list[list[int]]]) -> None:
    """`added_alert_ids` (an event's `alert_ids`) and every history line list an alert once."""
    scenario, positions = stream
    store = Store(scenario.lineage())
    for batch in positions:
        outcome = store.run([scenario.alerts[k] for k in batch])
        for change in outcome.changes.values():
            added = change.added_alert_ids
            assert len(added) == len(set(added)), (change.incident.id, added)
            for entry in change.history:
                assert len(entry.alert_ids) == len(set(entry.alert_ids)), (entry.state, entry)


# -- recoveries against the oracle -----------------------------------------------------------


@st.composite
def recovery_streams(draw: st.DrawFn) -> tuple[Scenario, list[Alert]]:
    """Firing alerts, then recoveries of their fingerprints at any time of the stream.

    The same check failing more than a window apart fails in separate incidents, so
    fingerprints shared by several incidents are common.
    """
    scenario = draw(scenarios(max_products=8))
    by_fingerprint = {a.fingerprint: a for a in scenario.alerts}
    picked = draw(st.lists(st.sampled_from(sorted(by_fingerprint)), max_size=12))
    recoveries = [
        replace(
            by_fingerprint[fingerprint],
            alert_id=f"r{k:02d}",
            status=AlertStatus.RESOLVED,
            occurred_at=T0 + timedelta(minutes=draw(st.integers(0, SPAN_MINUTES + 30))),
        )
        for k, fingerprint in enumerate(picked)
    ]
    return scenario, recoveries


def _as_checked(alerts: Iterable[Alert]) -> list[oracle.CheckAlert]:
    return [
        oracle.CheckAlert(a.alert_id, a.fingerprint, a.occurred_at, a.firing, a.space)
        for a in alerts
    ]


@PROPERTY_SETTINGS
@given(recovery_streams(), st.data())
def test_a_recovery_resolves_every_incident_it_clears_at_the_problems_time(
    stream: tuple[Scenario, list[Alert]], data: st.DataObject
) -> None:
    """Failures in any order and batches, then recoveries in time order (as one check sends
    them): which incidents resolve, and when, is the oracle's answer."""
    scenario, recoveries = stream
    in_time = sorted(recoveries, key=lambda a: (a.occurred_at, a.alert_id))
    batches = batches_of(data, scenario.alerts) + batches_of(data, in_time, shuffle=False)
    check_resolutions(scenario, recoveries, play(scenario, batches))


@PROPERTY_SETTINGS
@given(recovery_streams(), st.data())
def test_one_recovery_per_check_resolves_the_same_in_any_arrival_order(
    stream: tuple[Scenario, list[Alert]], data: st.DataObject
) -> None:
    """With one recovery per check, the recoveries' arrival order does not matter either."""
    scenario, recoveries = stream
    once = list({a.fingerprint: a for a in recoveries}.values())
    batches = batches_of(data, scenario.alerts) + batches_of(data, once)
    check_resolutions(scenario, once, play(scenario, batches))


def check_resolutions(scenario: Scenario, recoveries: list[Alert], store: Store) -> None:
    """Which incidents are resolved, and when, is the oracle's answer."""
    groups = oracle.groups(scenario.edges, scenario.firing(), WINDOW)
    expected = oracle.resolutions(groups, _as_checked([*scenario.alerts, *recoveries]))
    got: dict[frozenset[str], datetime | None] = {}
    for incident in store.incidents.values():
        if incident.merged_into is None:
            firing = frozenset(a.alert_id for a in incident.alerts.values() if a.firing)
            got[firing] = None if incident.is_open else incident.resolved_at
            assert incident.resolved_at == (None if incident.is_open else incident.cleared_at)
    assert got == expected
