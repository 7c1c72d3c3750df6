"""CONTRACT §6, runs: spaces without correlation, versions, events, incident ids and idempotence
(on the lineage of `tests.support.correlation`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from incidentd.correlation.model import Alert, SpacePolicy, incident_id_for
from incidentd.schemas.common import EventType, HistoryState, Severity
from tests.support.correlation import (
    RESOLVED,
    RUN0,
    SPACE,
    Store,
    alert,
    at,
    incident_of,
    states,
)

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
