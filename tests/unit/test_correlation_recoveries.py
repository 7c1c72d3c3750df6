"""CONTRACT §6: one recovery clears its fingerprint in every open incident holding it firing
at or before the recovery, and an auto-resolved incident is resolved at the problem's time
(on the lineage of `tests.support.correlation`).
"""

from __future__ import annotations

from incidentd.correlation.model import Incident
from incidentd.schemas.common import EventType, HistoryState, IncidentStatus
from tests.support.correlation import RESOLVED, Store, alert, at, incident_of, states


def two_incidents_of_one_check(store: Store) -> tuple[Incident, Incident]:
    """The check F on mart fails at 0 and again 8 h later: two incidents (window 6 h)."""
    older = incident_of(store.run(alert("f1", "mart", at(0), fingerprint="F")), "f1")
    newer = incident_of(store.run(alert("f2", "mart", at(hours=8), fingerprint="F")), "f2")
    assert older.id != newer.id and older.is_open and newer.is_open
    return older, newer


def test_one_recovery_resolves_every_incident_holding_its_fingerprint() -> None:
    store = Store()
    older, newer = two_incidents_of_one_check(store)
    outcome = store.run(alert("r1", "mart", at(hours=9), status=RESOLVED, fingerprint="F"))
    assert older.status is IncidentStatus.RESOLVED and newer.status is IncidentStatus.RESOLVED
    assert older.resolved_at == newer.resolved_at == at(hours=9)
    assert older.cleared_at == newer.cleared_at == at(hours=9)
    # stored once, with the newest holder; the older one keeps it as a clearing recovery
    assert outcome.assignments == {"r1": newer.id}
    assert "r1" in newer.alerts and set(older.clears) == {"r1"} and "r1" not in older.alerts
    assert older.alert_count == 1 and newer.alert_count == 2
    for incident in (older, newer):
        assert outcome.changes[incident.id].event_type is EventType.RESOLVED
        assert states(outcome, incident.id) == [
            (HistoryState.ONGOING, ["r1"]),
            (HistoryState.RESOLVED, ["r1"]),
        ]


def test_a_recovery_before_a_later_failure_clears_only_the_earlier_incident() -> None:
    store = Store()
    older, newer = two_incidents_of_one_check(store)
    outcome = store.run(alert("r1", "mart", at(hours=5), status=RESOLVED, fingerprint="F"))
    assert outcome.assignments == {"r1": older.id}
    assert older.status is IncidentStatus.RESOLVED and older.resolved_at == at(hours=5)
    assert newer.is_open and newer.clears == {} and newer.id not in outcome.changes


def test_an_incident_with_another_failing_check_stays_open_until_that_one_clears() -> None:
    store = Store()
    older = incident_of(
        store.run(
            alert("f1", "mart", at(0), fingerprint="F"),
            alert("g1", "report", at(1), fingerprint="G"),
        ),
        "f1",
    )
    newer = incident_of(store.run(alert("f2", "mart", at(hours=8), fingerprint="F")), "f2")
    outcome = store.run(alert("r1", "mart", at(hours=9), status=RESOLVED, fingerprint="F"))
    assert newer.status is IncidentStatus.RESOLVED
    assert older.is_open and not older.latest_of("F").firing  # type: ignore[union-attr]
    assert outcome.changes[older.id].event_type is EventType.UPDATED
    store.run(alert("g2", "report", at(hours=7), status=RESOLVED, fingerprint="G"))
    assert older.status is IncidentStatus.RESOLVED
    assert older.resolved_at == at(hours=9), "when its last check passed again"


def test_a_recovery_that_clears_nothing_is_stored_unassigned() -> None:
    store = Store()
    incident = incident_of(store.run(alert("f1", "mart", at(10), fingerprint="F")), "f1")
    early = store.run(alert("r0", "mart", at(5), status=RESOLVED, fingerprint="F"))
    assert early.assignments == {"r0": None} and incident.is_open
    store.run(alert("r1", "mart", at(20), status=RESOLVED, fingerprint="F"))
    again = store.run(alert("r2", "mart", at(30), status=RESOLVED, fingerprint="F"))
    assert again.assignments == {"r2": None}, "already clear: a repeat changes nothing"
    assert incident.resolved_at == at(20)


def test_a_late_failure_is_cleared_by_the_recovery_that_came_before_it() -> None:
    store = Store()
    store.run(alert("f1", "mart", at(0), fingerprint="F"))
    store.run(alert("r1", "mart", at(30), status=RESOLVED, fingerprint="F"))
    side = incident_of(store.run(alert("s1", "side", at(10), fingerprint="S")), "s1")
    # F's failure from minute 20 arrives now: it joins `side` (mart and side are siblings)
    late = store.run(alert("f0", "mart", at(20), fingerprint="F"))
    assert late.assignments == {"f0": side.id}
    assert set(side.clears) == {"r1"} and side.is_open, "S still fails"
    assert states(late, side.id) == [(HistoryState.ONGOING, ["f0", "r1"])]
    store.run(alert("s2", "side", at(40), status=RESOLVED, fingerprint="S"))
    assert side.status is IncidentStatus.RESOLVED and side.resolved_at == at(40)


def test_a_merge_carries_the_recoveries_that_cleared_the_merged_incident() -> None:
    store = Store()
    oldest = incident_of(store.run(alert("s1", "side", at(0), fingerprint="S")), "s1")
    # `report` is unrelated to `side`; island too: F fails in two incidents
    cleared = incident_of(
        store.run(
            alert("f1", "report", at(0), fingerprint="F"),
            alert("h1", "report", at(0), fingerprint="H"),
        ),
        "f1",
    )
    store.run(alert("f2", "island", at(1), fingerprint="F"))
    store.run(alert("r1", "island", at(5), status=RESOLVED, fingerprint="F"))
    assert cleared.is_open and not cleared.latest_of("F").firing  # type: ignore[union-attr]
    # `mart` relates to both `side` and `report`: `cleared` merges into `oldest`
    store.run(alert("m1", "mart", at(10), fingerprint="M"))
    assert cleared.merged_into == oldest.id and cleared.clears == {}
    assert not oldest.latest_of("F").firing  # type: ignore[union-attr]
    store.run(
        alert("h2", "report", at(20), status=RESOLVED, fingerprint="H"),
        alert("m2", "mart", at(21), status=RESOLVED, fingerprint="M"),
        alert("s2", "side", at(22), status=RESOLVED, fingerprint="S"),
    )
    assert oldest.status is IncidentStatus.RESOLVED and oldest.resolved_at == at(22)
