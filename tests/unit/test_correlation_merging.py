"""CONTRACT §6, joining and merging: related alerts join an open incident, and incidents an
alert relates merge into the oldest (on the lineage of `tests.support.correlation`).
"""

from __future__ import annotations

from incidentd.correlation.model import incident_id_for
from incidentd.schemas.common import EventType, HistoryState, IncidentStatus, Severity
from tests.support.correlation import SPACE, Store, alert, at, incident_of, states

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
