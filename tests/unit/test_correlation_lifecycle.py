"""CONTRACT §6, an incident's lifecycle: recoveries, auto-resolve and reopening within 24 h
(on the lineage of `tests.support.correlation`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from incidentd.correlation.model import Incident, SpacePolicy, incident_id_for
from incidentd.schemas.common import EventType, HistoryState, IncidentStatus
from tests.support.correlation import (
    RESOLVED,
    SPACE,
    Store,
    alert,
    at,
    incident_of,
    states,
)

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
    assert incident.resolved_at == at(30), "resolved when the problem cleared, not processed"
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


def test_a_failure_arriving_after_its_recovery_claims_it_and_resolves() -> None:
    store = Store()
    early = store.run(alert("r1", "mart", at(10), status=RESOLVED, fingerprint="F"))
    assert early.assignments == {"r1": None}
    late = store.run(alert("f1", "mart", at(0), fingerprint="F"))
    incident = incident_of(late, "f1")
    assert late.assignments == {"f1": incident.id, "r1": incident.id}
    assert set(incident.alerts) == {"f1", "r1"}
    assert incident.status is IncidentStatus.RESOLVED
    assert incident.cleared_at == at(10)
    assert states(late, incident.id) == [
        (HistoryState.NEW, ["f1", "r1"]),
        (HistoryState.RESOLVED, ["r1"]),
    ]
    assert sorted(late.changes[incident.id].added_alert_ids) == ["f1", "r1"]
    assert store.orphans == {}


def test_a_recovery_from_before_the_failure_is_not_claimed() -> None:
    store = Store()
    store.run(alert("r0", "mart", at(0), status=RESOLVED, fingerprint="F"))
    late = store.run(alert("f1", "mart", at(10), fingerprint="F"))
    incident = incident_of(late, "f1")
    assert set(incident.alerts) == {"f1"} and incident.is_open
    assert "r0" not in late.assignments and set(store.orphans) == {"r0"}


def test_a_claimed_recovery_leaves_other_fingerprints_firing() -> None:
    store = Store()
    store.run(alert("r1", "clean", at(10), status=RESOLVED, fingerprint="F"))
    late = store.run(
        alert("f1", "clean", at(0), fingerprint="F"), alert("g1", "mart", at(1), fingerprint="G")
    )
    incident = incident_of(late, "f1")
    assert set(incident.alerts) == {"f1", "g1", "r1"}
    assert incident.is_open, "G still fires"


def test_a_recovery_and_its_failure_at_the_same_instant_in_one_run() -> None:
    store = Store()
    outcome = store.run(
        alert("b-fail", "mart", at(5), fingerprint="F"),
        alert("a-ok", "mart", at(5), status=RESOLVED, fingerprint="F"),
    )
    incident = incident_of(outcome, "b-fail")
    assert outcome.assignments["a-ok"] == incident.id
    assert incident.status is IncidentStatus.RESOLVED  # at the same instant a recovery wins


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
