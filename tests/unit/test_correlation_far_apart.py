"""Property tests against the naive oracle of CONTRACT §6: bursts far apart in time.

The same checks fail in two bursts 13 days apart (each failing, then recovering); delivered
newest first or oldest first, they must give the same incidents and life cycles.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from incidentd.correlation.model import Alert
from incidentd.schemas.common import AlertStatus
from tests.support import oracle
from tests.unit.test_correlation_properties import (
    POLICY,
    PROPERTY_SETTINGS,
    SPAN_MINUTES,
    T0,
    WINDOW,
    Scenario,
    Store,
    check_resolutions,
    play,
    scenarios,
)

# -- bursts far apart in time, in any order ----------------------------------------------------

FAR_APART = timedelta(days=13)
REOPEN_WITHIN = POLICY.reopen_within
AFTER_SPAN = SPAN_MINUTES + 90
LifeCycle = tuple[frozenset[str], bool, datetime | None, datetime | None]


def _later_recoveries(draw: st.DrawFn, scenario: Scenario, tag: str) -> list[Alert]:
    """Recoveries of some of the scenario's fingerprints, after every one of its failures."""
    by_fingerprint = {a.fingerprint: a for a in scenario.alerts}
    picked = draw(st.lists(st.sampled_from(sorted(by_fingerprint)), max_size=12))
    return [
        replace(
            by_fingerprint[fingerprint],
            alert_id=f"{tag}r{k:02d}",
            status=AlertStatus.RESOLVED,
            occurred_at=T0
            + timedelta(minutes=draw(st.integers(SPAN_MINUTES + 1, SPAN_MINUTES + 90))),
        )
        for k, fingerprint in enumerate(picked)
    ]


@st.composite
def far_apart_bursts(draw: st.DrawFn) -> tuple[Scenario, list[Alert], list[Alert]]:
    """Two bursts on one lineage, FAR_APART in time: each holds failures, then recoveries.

    The old burst repeats the new one's failures (the same checks, renamed, shifted back)
    with recoveries of its own, so fingerprints held by both bursts are the rule. Returns the
    scenario of every failure and the two bursts (failures and recoveries) to deliver.
    """
    scenario = draw(scenarios(max_products=8))
    firing = [a for a in scenario.alerts if a.firing]
    new = [*firing, *_later_recoveries(draw, scenario, "n")]
    old = [
        replace(a, alert_id=f"old-{a.alert_id}", occurred_at=a.occurred_at - FAR_APART)
        for a in [*firing, *_later_recoveries(draw, scenario, "o")]
    ]
    every_failure = [a for a in [*new, *old] if a.firing]
    return replace(scenario, alerts=tuple(every_failure)), new, old


def _life_cycles(
    store: Store,
) -> set[tuple[frozenset[str], bool, datetime | None, datetime | None]]:
    """Each unmerged incident's alerts, openness, first alert and resolution time."""
    return {
        (frozenset(i.alerts), i.is_open, i.first_alert_at, i.resolved_at)
        for i in store.incidents.values()
        if i.merged_into is None
    }


@PROPERTY_SETTINGS
@given(far_apart_bursts(), st.data())
def test_bursts_far_apart_give_the_same_incidents_in_any_order(
    bursts: tuple[Scenario, list[Alert], list[Alert]], data: st.DataObject
) -> None:
    """What the contract makes order-independent here, and so what is asserted:

    - alerts more than a window apart are never related, so no alert of one burst joins an
      incident of the other (late data never joins an incident of another time);
    - a re-fire is judged on `occurred_at`: the old burst happened days before the new one's
      resolutions, so it reopens none of them, and the new burst comes days after the old
      one's resolutions (more than 24 h), so it reopens none either;
    - within a burst every recovery happens after every failure, so nothing resolves while
      its groups form, and a recovery clears its fingerprint in every open incident holding
      it firing at or before the recovery: each fingerprint of an incident is clear from the
      earliest recovery at or after its last failure, over both bursts (an old failure no
      recovery of its own time clears is cleared by the new burst's recovery).
    Each burst is delivered in one run (its alerts in any order). Not covered: a burst split
    so that its failures arrive while a recovery from another time is known and its own
    recoveries are not yet; the contract then lets the known recovery clear them.
    """
    scenario, new, old = bursts
    for early, late in ((old, new), (new, old)):
        for a in early:
            held = [b.occurred_at for b in late if b.fingerprint == a.fingerprint]
            assert not any(oracle.refires(t, a.occurred_at, REOPEN_WITHIN) for t in held)
            assert not oracle.late_data_of(held, a.occurred_at, WINDOW)
    first, second = data.draw(st.permutations([new, old]))
    stores = [
        play(scenario, [data.draw(st.permutations(b)) for b in order])
        for order in ([first, second], [second, first])
    ]
    assert _life_cycles(stores[0]) == _life_cycles(stores[1])
    recoveries = [a for a in [*new, *old] if not a.firing]
    check_resolutions(scenario, recoveries, stores[0])
