"""CONTRACT §6, late data: alerts of another time never reopen or join a resolved incident.

A fingerprint "fires again within 24 h of its incident's resolution" on the problem's times
(`occurred_at`): an alert that happened before the resolution is late data, not a re-fire. Late
data joins a resolved incident only when it belongs to that incident's time (within the
correlation window of an alert of its fingerprint there). A recovery known from another time
clears a late failure only after the failure's own recoveries had their turn.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from incidentd.correlation.model import Alert, Incident, incident_id_for
from incidentd.schemas.common import EventType, IncidentStatus
from tests.support.correlation import RESOLVED, SPACE, Store, alert, at

DAYS_BEFORE = timedelta(days=13)


def burst(tag: str, start: datetime) -> list[Alert]:
    """F fails on mart and S on side (siblings: one incident), both recover 20-25 min later."""
    return [
        alert(f"{tag}-f", "mart", start, fingerprint="F"),
        alert(f"{tag}-s", "side", start + timedelta(minutes=5), fingerprint="S"),
        alert(f"{tag}-rf", "mart", start + timedelta(minutes=20), status=RESOLVED, fingerprint="F"),
        alert(f"{tag}-rs", "side", start + timedelta(minutes=25), status=RESOLVED, fingerprint="S"),
    ]


def summary(store: Store) -> set[tuple[frozenset[str], str, datetime | None, datetime | None]]:
    """Every incident's alerts, status, first alert and resolution (ids of runs left out)."""
    return {
        (frozenset(i.alerts), i.status.value, i.first_alert_at, i.resolved_at)
        for i in store.incidents.values()
        if i.merged_into is None
    }


def resolved_today(store: Store) -> Incident:
    store.run(*burst("today", at(0)))
    incident = store.holding("today-f")
    assert incident.status is IncidentStatus.RESOLVED and incident.resolved_at == at(25)
    return incident


@pytest.mark.parametrize("before", [DAYS_BEFORE, timedelta(hours=7), timedelta(hours=24)])
def test_a_failure_from_long_before_a_resolution_neither_reopens_nor_joins(
    before: timedelta,
) -> None:
    store = Store()
    today = resolved_today(store)
    outcome = store.run(alert("old-f", "mart", at(0) - before, fingerprint="F"))
    assert outcome.assignments == {"old-f": incident_id_for(SPACE, "old-f")}
    assert today.id not in outcome.changes
    assert today.status is IncidentStatus.RESOLVED and "old-f" not in today.alerts
    assert today.first_alert_at == at(0) and today.resolved_at == at(25)
    assert outcome.changes[incident_id_for(SPACE, "old-f")].event_type is EventType.CREATED


def test_a_late_failure_of_the_incidents_own_time_still_joins_it() -> None:
    store = Store()
    today = resolved_today(store)
    outcome = store.run(alert("early-f", "mart", at(-60), fingerprint="F"))
    assert outcome.assignments == {"early-f": today.id}
    assert today.status is IncidentStatus.RESOLVED and today.first_alert_at == at(-60)


def test_an_old_burst_after_todays_is_resolved_by_its_own_recoveries() -> None:
    """Today's F recovery is known when the old F failure arrives; the old burst's own F
    recovery (13 days earlier) clears it first, so the old incident resolves at its own time."""
    store = Store()
    today = resolved_today(store)
    outcome = store.run(*burst("old", at(0) - DAYS_BEFORE))
    old = store.holding("old-f")
    assert old.id != today.id and today.id not in outcome.changes
    assert set(old.alerts) == {"old-f", "old-s", "old-rf", "old-rs"}
    assert old.status is IncidentStatus.RESOLVED
    assert old.first_alert_at == at(0) - DAYS_BEFORE
    assert old.resolved_at == at(25) - DAYS_BEFORE


def test_bursts_far_apart_give_the_same_incidents_in_either_order() -> None:
    today, old = burst("today", at(0)), burst("old", at(0) - DAYS_BEFORE)
    newest_first, oldest_first = Store(), Store()
    newest_first.run(*today)
    newest_first.run(*old)
    oldest_first.run(*old)
    oldest_first.run(*today)
    assert summary(newest_first) == summary(oldest_first)
    assert len(summary(oldest_first)) == 2
