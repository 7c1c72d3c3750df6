"""Example-based tests of every rule of CONTRACT §6, on a hand-built lineage.

    raw -> clean -> mart -> report
              \\-> side -> side_report          island (no edges)

`mart` and `side` are siblings (both fed by `clean`); `report` and `side_report` are cousins
(they share only the grandparent `clean`). Tests drive the engine as its callers do: a store of
every incident by id, all of them passed in as candidates, one `correlate` call per run.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from incidentd.correlation.engine import correlate
from incidentd.correlation.model import (
    Alert,
    Incident,
    Outcome,
    SpacePolicy,
    incident_id_for,
)
from incidentd.correlation.ports import LineageView
from incidentd.lineage.graph import LineageGraph, ProductInfo
from incidentd.schemas.common import (
    AlertStatus,
    EventType,
    HistoryState,
    Impact,
    IncidentStatus,
    Severity,
)

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

    def run(self, *alerts: Alert, lineage: LineageView | None = None) -> Outcome:
        """One correlation run with every stored incident as a candidate."""
        self.now += timedelta(minutes=1)
        outcome = correlate(
            alerts, list(self.incidents.values()), lineage or self.lineage, self.policy, self.now
        )
        for incident_id, change in outcome.changes.items():
            self.incidents[incident_id] = change.incident
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


# -- which alerts are related ----------------------------------------------------------------


def test_alerts_on_the_same_product_share_an_incident() -> None:
    store = Store()
    outcome = store.run(alert("a1", "mart", at(0)), alert("a2", "mart", at(30)))
    assert store.open_groups() == {frozenset({"a1", "a2"})}
    assert outcome.assignments["a1"] == outcome.assignments["a2"]


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("raw", "report"),  # downstream at distance 3
        ("report", "raw"),  # upstream at distance 3
        ("clean", "mart"),
        ("raw", "side_report"),
        ("clean", "side_report"),
    ],
)
def test_upstream_and_downstream_products_are_related(first: str, second: str) -> None:
    store = Store()
    store.run(alert("a1", first, at(0)))
    outcome = store.run(alert("a2", second, at(10)))
    assert store.open_groups() == {frozenset({"a1", "a2"})}
    assert outcome.changes[store.holding("a1").id].event_type is EventType.ALERT_ADDED


def test_siblings_sharing_a_direct_upstream_are_related() -> None:
    store = Store()
    store.run(alert("a1", "mart", at(0)))
    store.run(alert("a2", "side", at(5)))
    assert store.open_groups() == {frozenset({"a1", "a2"})}


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("report", "side_report"),  # cousins: only the grandparent `clean` in common
        ("mart", "side_report"),  # uncle and nephew
        ("side", "report"),
        ("raw", "island"),
        ("island", "report"),
    ],
)
def test_products_without_a_lineage_relation_are_not_related(first: str, second: str) -> None:
    store = Store()
    store.run(alert("a1", first, at(0)))
    outcome = store.run(alert("a2", second, at(1)))
    assert store.open_groups() == {frozenset({"a1"}), frozenset({"a2"})}
    assert outcome.changes[outcome.assignments["a2"] or ""].event_type is EventType.CREATED


def test_a_product_unknown_to_the_lineage_relates_only_to_itself() -> None:
    store = Store()
    store.run(alert("a1", "ghost", at(0)), alert("a2", "raw", at(0)))
    store.run(alert("a3", "ghost", at(3)))
    assert store.open_groups() == {frozenset({"a1", "a3"}), frozenset({"a2"})}


def test_same_product_in_two_spaces_with_per_space_candidates() -> None:
    finance = Store(lineage=main_lineage("finance"))
    sales = Store(lineage=main_lineage("sales"))
    finance.run(alert("a1", "mart", at(0), space="finance"))
    sales.run(alert("a2", "mart", at(0), space="sales"))
    assert finance.holding("a1").space == "finance"
    assert sales.holding("a2").space == "sales"
    assert finance.holding("a1").id != sales.holding("a2").id


def test_alerts_of_another_space_are_never_related() -> None:
    """Same product id, same minute, but two spaces: never one incident.

    The caller passes its whole store (every incident of every space) as candidates and
    calls the engine once per space with that space's lineage.
    """
    store = Store()
    store.run(alert("a1", "mart", at(0), space="finance"), lineage=main_lineage("finance"))
    outcome = store.run(alert("a2", "mart", at(0), space="sales"), lineage=main_lineage("sales"))
    assert store.holding("a2").space == "sales"
    assert store.holding("a1").id != store.holding("a2").id
    created = outcome.changes[store.holding("a2").id]
    assert created.event_type is EventType.CREATED


@pytest.mark.parametrize(
    ("gap", "groups"),
    [
        (timedelta(hours=6), 1),  # exactly the default window: related
        (timedelta(hours=6, seconds=1), 2),
        (timedelta(hours=5, minutes=59, seconds=59), 1),
    ],
)
@pytest.mark.parametrize("products", [("mart", "mart"), ("raw", "report"), ("mart", "side")])
def test_the_window_bounds_relatedness_inclusively(
    gap: timedelta, groups: int, products: tuple[str, str]
) -> None:
    store = Store()
    store.run(alert("a1", products[0], T0))
    store.run(alert("a2", products[1], T0 + gap))
    assert len(store.open_groups()) == groups


def test_the_window_is_the_space_setting() -> None:
    store = Store(policy=SpacePolicy(window=timedelta(minutes=60)))
    store.run(alert("a1", "mart", at(0)), alert("a2", "mart", at(60)))
    store.run(alert("a3", "mart", at(121)))
    assert store.open_groups() == {frozenset({"a1", "a2"}), frozenset({"a3"})}


# -- joining and merging ---------------------------------------------------------------------


def test_a_related_alert_joins_the_open_incident() -> None:
    store = Store()
    first = store.run(alert("a1", "raw", at(0), severity=Severity.LOW))
    incident = incident_of(first, "a1")
    assert incident.id == incident_id_for(SPACE, "a1")
    outcome = store.run(alert("a2", "report", at(20), severity=Severity.HIGH))
    assert outcome.assignments == {"a2": incident.id}
    change = outcome.changes[incident.id]
    assert change.event_type is EventType.ALERT_ADDED
    assert change.added_alert_ids == ["a2"]
    assert states(outcome, incident.id) == [(HistoryState.ONGOING, ["a2"])]
    assert set(incident.alerts) == {"a1", "a2"}
    assert incident.products == ("raw", "report")
    assert incident.root_product_id == "raw"
    assert incident.severity is Severity.HIGH
    assert incident.last_alert_at == at(20)
    assert incident.version == 2


def test_an_alert_related_to_two_incidents_merges_them_into_the_oldest() -> None:
    store = Store()
    older = incident_of(store.run(alert("report-1", "report", at(0))), "report-1")
    newer = incident_of(store.run(alert("side-report-1", "side_report", at(1))), "side-report-1")
    # The ids alone would pick the newer incident: creation time must decide.
    assert newer.id < older.id and older.created_at < newer.created_at

    outcome = store.run(alert("clean-1", "clean", at(2)))

    assert store.open_groups() == {frozenset({"report-1", "side-report-1", "clean-1"})}
    assert newer.status is IncidentStatus.RESOLVED
    assert newer.merged_into == older.id
    assert newer.alert_count == 0
    assert newer.resolved_at == store.now
    assert older.is_open and older.alert_count == 3
    assert outcome.changes[newer.id].event_type is EventType.MERGED
    assert outcome.changes[older.id].event_type is EventType.ALERT_ADDED
    assert sorted(outcome.changes[older.id].added_alert_ids) == ["clean-1", "side-report-1"]
    assert outcome.assignments == {"clean-1": older.id, "side-report-1": older.id}
    merged = outcome.changes[newer.id].history
    assert [(h.state, h.alert_ids, h.detail) for h in merged] == [
        (HistoryState.MERGED, ["side-report-1"], {"merged_into": older.id})
    ]
    gained = outcome.changes[older.id].history
    assert [h.state for h in gained] == [HistoryState.ONGOING, HistoryState.ONGOING]
    assert gained[0].alert_ids == ["clean-1"]
    assert gained[1].alert_ids == ["side-report-1"]
    assert gained[1].detail == {"merged_from": newer.id}
    assert older.version == 2 and newer.version == 2  # one per run that touched them
    assert older.root_product_id == "clean"
    assert older.blast_radius == ("clean", "mart", "report", "side", "side_report")


def test_incidents_created_in_the_same_run_merge_into_the_smaller_id() -> None:
    store = Store()
    outcome = store.run(
        alert("report-1", "report", at(0)),
        alert("side-report-1", "side_report", at(1)),
        alert("clean-1", "clean", at(2)),
    )
    survivor = incident_id_for(SPACE, "side-report-1")
    loser = incident_id_for(SPACE, "report-1")
    assert survivor < loser
    assert store.open_groups() == {frozenset({"report-1", "side-report-1", "clean-1"})}
    assert store.incidents[loser].merged_into == survivor
    assert outcome.changes[loser].event_type is EventType.MERGED  # merged beats created
    assert outcome.changes[survivor].event_type is EventType.CREATED
    assert set(outcome.assignments.values()) == {survivor}
    assert store.incidents[loser].version == 1


def test_a_late_alert_bridging_two_incidents_in_time_merges_them() -> None:
    store = Store()  # window 6 h: 0 h and 10 h are unrelated, 5 h relates to both
    store.run(alert("a1", "mart", at(hours=0)), alert("a3", "mart", at(hours=10)))
    assert store.open_groups() == {frozenset({"a1"}), frozenset({"a3"})}
    store.run(alert("a2", "mart", at(hours=5)))
    assert store.open_groups() == {frozenset({"a1", "a2", "a3"})}


def test_merged_chains_end_at_the_open_incident() -> None:
    store = Store()
    first = incident_of(store.run(alert("a1", "report", at(0))), "a1")
    second = incident_of(store.run(alert("a2", "side_report", at(0))), "a2")
    third = incident_of(store.run(alert("a3", "island", at(0))), "a3")
    store.run(alert("a4", "clean", at(0)))  # merges `second` into `first`
    assert second.merged_into == first.id
    assert third.is_open and first.is_open
    assert store.open_groups() == {frozenset({"a1", "a2", "a4"}), frozenset({"a3"})}


# -- derived fields --------------------------------------------------------------------------


def test_root_is_the_alerted_product_without_an_alerted_ancestor() -> None:
    store = Store()
    store.run(alert("a1", "report", at(0)), alert("a2", "mart", at(1)))
    outcome = store.run(alert("a3", "raw", at(9)))  # later, but upstream of everything
    incident = incident_of(outcome, "a3")
    assert incident.root_product_id == "raw"
    assert incident.products == ("mart", "raw", "report")
    assert incident.suspected_upstream == ()


def test_root_ties_go_to_the_larger_blast_radius() -> None:
    store = Store(lineage=lineage([("hub", "x"), ("hub", "y"), ("y", "y_child")]))
    outcome = store.run(alert("a1", "x", at(0)), alert("a2", "y", at(0)))
    assert incident_of(outcome, "a1").root_product_id == "y"


def test_root_ties_on_blast_radius_go_to_the_smaller_id() -> None:
    store = Store(lineage=lineage([("hub", "y"), ("hub", "x")]))
    outcome = store.run(alert("a1", "y", at(0)), alert("a2", "x", at(0)))
    assert incident_of(outcome, "a1").root_product_id == "x"


def test_the_earliest_alerted_root_wins_over_blast_radius_and_id() -> None:
    store = Store(lineage=lineage([("hub", "x"), ("x", "x_child"), ("hub", "y")]))
    outcome = store.run(alert("a1", "x", at(1)), alert("a2", "y", at(0)))
    incident = incident_of(outcome, "a1")
    assert incident.root_product_id == "y"
    assert incident.suspected_upstream == ("hub",)


def test_a_root_set_by_a_user_and_a_locked_severity_survive_recorrelation() -> None:
    store = Store()
    incident = incident_of(store.run(alert("a1", "mart", at(0), severity=Severity.LOW)), "a1")
    incident.root_product_id = "report"
    incident.root_locked = True
    incident.severity = Severity.INFO
    incident.severity_locked = True

    outcome = store.run(alert("a2", "raw", at(5), severity=Severity.CRITICAL))

    assert outcome.assignments == {"a2": incident.id}
    assert incident.root_product_id == "report"
    assert incident.severity is Severity.INFO
    assert incident.products == ("mart", "raw")  # the rest is still derived
    assert incident.blast_radius == ("clean", "mart", "raw", "report", "side", "side_report")


def test_without_locks_root_and_severity_follow_the_alerts() -> None:
    store = Store()
    incident = incident_of(store.run(alert("a1", "mart", at(0), severity=Severity.LOW)), "a1")
    store.run(alert("a2", "raw", at(5), severity=Severity.CRITICAL))
    assert incident.root_product_id == "raw"
    assert incident.severity is Severity.CRITICAL


@pytest.mark.parametrize(
    ("alerted", "expected"),
    [
        (["report"], ("mart", "clean", "raw")),  # nearest first
        (["side_report"], ("side", "clean", "raw")),
        (["mart", "side"], ("clean", "raw")),  # upstream of every root
        (["report", "clean"], ("raw",)),  # only what lies upstream of the root `clean`
        (["raw"], ()),
        (["island"], ()),
    ],
)
def test_suspected_upstream(alerted: list[str], expected: tuple[str, ...]) -> None:
    store = Store()
    outcome = store.run(*(alert(f"a{n}", p, at(n)) for n, p in enumerate(alerted)))
    assert incident_of(outcome, "a0").suspected_upstream == expected


def test_severity_is_the_highest_alert_severity() -> None:
    store = Store()
    store.run(alert("a1", "mart", at(0), severity=Severity.LOW))
    store.run(alert("a2", "mart", at(1), severity=Severity.CRITICAL))
    outcome = store.run(alert("a3", "mart", at(2), severity=Severity.MEDIUM))
    assert incident_of(outcome, "a3").severity is Severity.CRITICAL


def test_severity_of_info_only_alerts_is_info() -> None:
    store = Store()
    outcome = store.run(alert("a1", "mart", at(0), severity=Severity.INFO))
    assert incident_of(outcome, "a1").severity is Severity.INFO


def chain(length: int) -> list[tuple[str, str]]:
    """n0 -> n1 -> ... -> n{length-1}."""
    return [(f"n{i}", f"n{i + 1}") for i in range(length - 1)]


@pytest.mark.parametrize(
    ("edges", "products", "tiers", "alerted", "expected"),
    [
        ([], ["solo"], {"solo": "critical"}, "solo", Impact.HIGH),
        ([], ["solo"], {"solo": "high"}, "solo", Impact.MEDIUM),
        ([], ["solo"], {"solo": "medium"}, "solo", Impact.LOW),
        ([], ["solo"], {"solo": "low"}, "solo", Impact.LOW),
        ([], ["solo"], {}, "solo", Impact.LOW),
        (chain(10), [], {}, "n0", Impact.HIGH),  # 10 products in the blast radius
        (chain(10), [], {}, "n1", Impact.MEDIUM),  # 9
        (chain(3), [], {}, "n0", Impact.MEDIUM),  # 3
        (chain(3), [], {}, "n1", Impact.LOW),  # 2
        (chain(3), [], {"n2": "critical"}, "n0", Impact.HIGH),  # critical downstream
        (chain(3), [], {"n2": "high"}, "n1", Impact.MEDIUM),  # high downstream
        (chain(3), [], {"n0": "critical"}, "n1", Impact.LOW),  # upstream is not in the radius
    ],
)
def test_impact_thresholds(
    edges: list[tuple[str, str]],
    products: list[str],
    tiers: dict[str, str],
    alerted: str,
    expected: Impact,
) -> None:
    store = Store(lineage=lineage(edges, products=products, tiers=tiers))
    outcome = store.run(alert("a1", alerted, at(0)))
    assert incident_of(outcome, "a1").impact is expected


# -- recoveries, auto-resolve and reopening --------------------------------------------------


def fire_two_fingerprints(store: Store) -> Incident:
    """Open one incident holding fingerprints F (on clean) and G (on mart)."""
    outcome = store.run(
        alert("f1", "clean", at(0), fingerprint="F"), alert("g1", "mart", at(1), fingerprint="G")
    )
    return incident_of(outcome, "f1")


def test_the_incident_resolves_when_every_fingerprint_clears() -> None:
    store = Store()
    incident = fire_two_fingerprints(store)

    partly = store.run(alert("f2", "clean", at(10), status=RESOLVED, fingerprint="F"))
    assert partly.assignments == {"f2": incident.id}
    assert incident.is_open, "G still fires"
    assert partly.changes[incident.id].event_type is EventType.ALERT_ADDED

    fully = store.run(alert("g2", "mart", at(30), status=RESOLVED, fingerprint="G"))
    assert fully.assignments == {"g2": incident.id}
    assert incident.status is IncidentStatus.RESOLVED
    assert incident.cleared_at == at(30)
    assert incident.resolved_at == store.now
    assert incident.merged_into is None
    assert fully.changes[incident.id].event_type is EventType.RESOLVED
    assert states(fully, incident.id) == [
        (HistoryState.ONGOING, ["g2"]),
        (HistoryState.RESOLVED, ["g2"]),
    ]
    assert incident.version == 3


def test_a_fingerprint_that_fires_again_keeps_the_incident_open() -> None:
    store = Store()
    incident = fire_two_fingerprints(store)
    store.run(
        alert("f2", "clean", at(10), status=RESOLVED, fingerprint="F"),
        alert("f3", "clean", at(20), fingerprint="F"),
        alert("g2", "mart", at(30), status=RESOLVED, fingerprint="G"),
    )
    assert incident.is_open
    store.run(alert("f4", "clean", at(40), status=RESOLVED, fingerprint="F"))
    assert incident.status is IncidentStatus.RESOLVED
    assert incident.cleared_at == at(40)


def test_no_auto_resolve_when_the_space_turns_it_off() -> None:
    store = Store(policy=SpacePolicy(auto_resolve=False))
    incident = fire_two_fingerprints(store)
    outcome = store.run(
        alert("f2", "clean", at(10), status=RESOLVED, fingerprint="F"),
        alert("g2", "mart", at(30), status=RESOLVED, fingerprint="G"),
    )
    assert incident.is_open and incident.all_clear()
    assert incident.resolved_at is None
    assert outcome.changes[incident.id].event_type is EventType.ALERT_ADDED


def test_a_recovery_without_an_open_incident_is_stored_unassigned() -> None:
    store = Store()
    outcome = store.run(alert("r1", "mart", at(0), status=RESOLVED))
    assert outcome.assignments == {"r1": None}
    assert outcome.changes == {}
    assert store.incidents == {}


def resolved_incident(store: Store) -> Incident:
    """An incident whose only fingerprint F (on mart) fired at 0 and cleared at 10 min."""
    store.run(alert("f1", "mart", at(0), fingerprint="F"))
    outcome = store.run(alert("f2", "mart", at(10), status=RESOLVED, fingerprint="F"))
    incident = incident_of(outcome, "f2")
    assert incident.status is IncidentStatus.RESOLVED
    assert incident.cleared_at == at(10)
    return incident


@pytest.mark.parametrize("after", [timedelta(seconds=1), timedelta(hours=23), timedelta(hours=24)])
def test_a_fingerprint_firing_within_24h_of_resolution_reopens(after: timedelta) -> None:
    store = Store()
    incident = resolved_incident(store)
    outcome = store.run(alert("f3", "mart", at(10) + after, fingerprint="F"))
    assert outcome.assignments == {"f3": incident.id}
    assert incident.status is IncidentStatus.OPEN
    assert incident.resolved_at is None and incident.cleared_at is None
    change = outcome.changes[incident.id]
    assert change.event_type is EventType.REOPENED
    assert [h.state for h in change.history] == [HistoryState.REOPENED]
    assert set(change.history[0].alert_ids) == {"f3"}
    assert set(change.added_alert_ids) == {"f3"}
    assert incident.version == 3
    # ... and it resolves again when the fingerprint clears again.
    cleared = at(10) + after + timedelta(minutes=5)
    store.run(alert("f4", "mart", cleared, status=RESOLVED, fingerprint="F"))
    assert not incident.is_open
    assert incident.cleared_at == cleared


def test_reopening_reports_the_reopening_alert_once() -> None:
    """The reopening alert is added once: in `added_alert_ids` (the event's `alert_ids`) and
    in the REOPENED history line. The engine adds it twice (`_reopen` adds it, then `_fire`
    adds it again to the target, which is the reopened incident)."""
    store = Store()
    incident = resolved_incident(store)
    outcome = store.run(alert("f3", "mart", at(20), fingerprint="F"))
    change = outcome.changes[incident.id]
    assert change.added_alert_ids == ["f3"]
    assert states(outcome, incident.id) == [(HistoryState.REOPENED, ["f3"])]


def test_a_fingerprint_firing_after_24h_opens_a_new_incident() -> None:
    store = Store()
    old = resolved_incident(store)
    outcome = store.run(alert("f3", "mart", at(10, hours=24, seconds=1), fingerprint="F"))
    new_id = outcome.assignments["f3"]
    assert new_id == incident_id_for(SPACE, "f3") != old.id
    assert outcome.changes[new_id].event_type is EventType.CREATED
    assert old.id not in outcome.changes
    assert old.status is IncidentStatus.RESOLVED and old.version == 2


def test_another_fingerprint_on_the_product_does_not_reopen() -> None:
    store = Store()
    old = resolved_incident(store)
    outcome = store.run(alert("h1", "mart", at(20), fingerprint="H"))
    assert outcome.assignments["h1"] != old.id
    assert old.status is IncidentStatus.RESOLVED


@pytest.mark.parametrize("when", [at(5), at(10)])  # before, and at the instant of, the recovery
def test_a_late_firing_alert_from_before_the_recovery_attaches_without_reopening(
    when: datetime,
) -> None:
    store = Store()
    incident = resolved_incident(store)
    outcome = store.run(alert("f0", "mart", when, fingerprint="F"))
    assert outcome.assignments == {"f0": incident.id}
    assert incident.status is IncidentStatus.RESOLVED
    assert "f0" in incident.alerts
    assert outcome.changes[incident.id].event_type is EventType.ALERT_ADDED
    assert incident.all_clear()


def test_a_late_alert_older_than_its_own_recovery_does_not_reopen() -> None:
    """Recoveries of two fingerprints arrive out of order; a late alert must not reopen.

    F and G fire at 0; G recovers at 6; F's recovery at 4 arrives late and resolves the
    incident (cleared_at 4). G's firing alert from minute 5 then arrives: it is older than G's
    own recovery at 6, so it is a late alert from before the recovery. The engine reopens the
    incident instead, leaving it open with every fingerprint clear: nothing in order can
    resolve it again. Processed in one run, the same alerts leave the incident resolved.
    """
    store = Store()
    store.run(
        alert("f1", "mart", at(0), fingerprint="F"),
        alert("g1", "mart", at(0), fingerprint="G"),
        alert("g2", "mart", at(6), status=RESOLVED, fingerprint="G"),
    )
    incident = store.holding("f1")
    store.run(alert("f2", "mart", at(4), status=RESOLVED, fingerprint="F"))
    assert incident.status is IncidentStatus.RESOLVED

    outcome = store.run(alert("g3", "mart", at(5), fingerprint="G"))

    assert outcome.changes[incident.id].event_type is not EventType.REOPENED
    assert not (incident.is_open and incident.all_clear())
    assert incident.status is IncidentStatus.RESOLVED


def test_a_reopened_incident_merges_with_a_related_older_open_incident() -> None:
    store = Store()
    older = incident_of(store.run(alert("s1", "side", at(0), fingerprint="S")), "s1")
    store.run(alert("f1", "report", at(0), fingerprint="F"))
    # `report` and `side` are unrelated: two incidents. `mart` relates to both.
    reopened = store.holding("f1")
    store.run(alert("f2", "report", at(10), status=RESOLVED, fingerprint="F"))
    assert reopened.status is IncidentStatus.RESOLVED
    outcome = store.run(alert("f3", "mart", at(20), fingerprint="F"))
    # F fires again within 24 h: `reopened` reopens, and `mart` also relates to `side`, so the
    # reopened incident merges into the older open one.
    assert reopened.merged_into == older.id
    assert outcome.changes[reopened.id].event_type is EventType.MERGED
    assert set(older.alerts) == {"s1", "f1", "f2", "f3"}


# -- spaces without correlation ----------------------------------------------------------------


def test_a_space_without_correlation_stores_alerts_without_incidents() -> None:
    store = Store()
    store.run(alert("a1", "mart", at(0)))
    before = {i: inc.version for i, inc in store.incidents.items()}
    store.policy = SpacePolicy(correlate=False)
    outcome = store.run(alert("a2", "mart", at(1)), alert("a3", "raw", at(2), status=RESOLVED))
    assert outcome.assignments == {"a2": None, "a3": None}
    assert outcome.changes == {}
    assert {i: inc.version for i, inc in store.incidents.items()} == before


def test_a_space_without_correlation_never_opens_incidents() -> None:
    store = Store(policy=SpacePolicy(correlate=False))
    outcome = store.run(alert("a1", "mart", at(0)), alert("a2", "mart", at(1)))
    assert outcome.assignments == {"a1": None, "a2": None}
    assert outcome.changes == {} and store.incidents == {}


# -- runs, versions, events, idempotence -----------------------------------------------------


def test_versions_grow_by_exactly_one_per_run_per_touched_incident() -> None:
    store = Store()
    store.run(alert("a1", "mart", at(0)), alert("b1", "island", at(0)))
    mart, island = store.holding("a1"), store.holding("b1")
    assert (mart.version, island.version) == (1, 1)
    store.run(alert("a2", "mart", at(1)), alert("a3", "report", at(2)), alert("a4", "raw", at(3)))
    assert (mart.version, island.version) == (2, 1)
    assert mart.updated_at == store.now and island.updated_at == RUN0 + timedelta(minutes=1)
    store.run(alert("b2", "island", at(4)))
    assert (mart.version, island.version) == (2, 2)


def test_created_beats_alert_added_in_the_same_run() -> None:
    store = Store()
    outcome = store.run(alert("a2", "report", at(1)), alert("a1", "mart", at(0)))
    incident = incident_of(outcome, "a1")
    change = outcome.changes[incident.id]
    assert change.event_type is EventType.CREATED
    assert change.added_alert_ids == ["a1", "a2"]
    assert states(outcome, incident.id) == [(HistoryState.NEW, ["a1", "a2"])]
    assert incident.version == 1
    assert incident.created_at == incident.updated_at == store.now


def test_the_incident_id_comes_from_the_earliest_alert_of_the_run() -> None:
    store = Store()
    outcome = store.run(
        alert("zz", "mart", at(0)), alert("b", "mart", at(1)), alert("aa", "mart", at(0))
    )
    expected = incident_id_for(SPACE, "aa")  # (occurred_at, alert_id) order
    assert set(outcome.assignments.values()) == {expected}
    assert Store().run(alert("aa", "mart", at(0))).assignments == {"aa": expected}
    assert incident_id_for("sales", "aa") != expected


def test_a_replayed_alert_changes_nothing() -> None:
    store = Store()
    first = store.run(alert("a1", "mart", at(0)), alert("a2", "raw", at(1)))
    incident = incident_of(first, "a1")
    again = store.run(alert("a2", "raw", at(1)), alert("a1", "mart", at(0)))
    assert again.changes == {}
    assert again.assignments == {"a1": incident.id, "a2": incident.id}
    assert incident.version == 1


def test_a_known_alert_id_changes_nothing_even_with_other_content() -> None:
    store = Store()
    incident = incident_of(store.run(alert("a1", "mart", at(0))), "a1")
    outcome = store.run(alert("a1", "island", at(50), severity=Severity.CRITICAL))
    assert outcome.changes == {}
    assert outcome.assignments == {"a1": incident.id}
    assert incident.products == ("mart",) and incident.severity is Severity.MEDIUM


def test_a_duplicate_within_one_run_counts_once() -> None:
    store = Store()
    outcome = store.run(alert("a1", "mart", at(0)), alert("a1", "mart", at(0)))
    incident = incident_of(outcome, "a1")
    assert outcome.changes[incident.id].added_alert_ids == ["a1"]
    assert incident.alert_count == 1


def test_a_replayed_merge_changes_nothing() -> None:
    store = Store()
    stream: Sequence[Alert] = (
        alert("report-1", "report", at(0)),
        alert("side-report-1", "side_report", at(1)),
        alert("clean-1", "clean", at(2)),
    )
    for one in stream:
        store.run(one)
    versions = {i: inc.version for i, inc in store.incidents.items()}
    outcome = store.run(*stream)
    assert outcome.changes == {}
    survivor = incident_id_for(SPACE, "report-1")
    assert set(outcome.assignments.values()) == {survivor}
    assert {i: inc.version for i, inc in store.incidents.items()} == versions
