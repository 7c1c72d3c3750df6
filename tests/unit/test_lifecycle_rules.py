"""The life-cycle rules people's changes go through (`correlation.lifecycle`), without I/O."""

from __future__ import annotations

from datetime import timedelta

import pytest

from incidentd.correlation import lifecycle
from incidentd.correlation.lifecycle import Patch
from incidentd.correlation.model import Incident
from incidentd.schemas.common import EventType, HistoryState, IncidentStatus, Severity
from tests.support.correlation import RUN0, T0


def incident(**fields: object) -> Incident:
    """An open incident on raw and clean, root raw, severity high."""
    base: dict[str, object] = {
        "id": "i1",
        "space": "finance",
        "created_at": RUN0,
        "updated_at": RUN0,
        "products": ("clean", "raw"),
        "root_product_id": "raw",
        "severity": Severity.HIGH,
        "last_alert_at": T0,
    }
    return Incident(**{**base, **fields})  # type: ignore[arg-type]


NOW = RUN0 + timedelta(hours=1)


@pytest.mark.parametrize(
    "patch",
    [
        Patch(),
        Patch(severity=Severity.HIGH, root_product_id="raw", status=IncidentStatus.OPEN),
        Patch(root_cause=None, description=None),
    ],
)
def test_a_patch_with_nothing_new_is_no_change(patch: Patch) -> None:
    target = incident()
    action = lifecycle.apply_patch(target, patch, NOW)
    assert not action.changed and action.detail == {"changed": []}
    assert not target.severity_locked and not target.root_locked


def test_a_patch_names_only_what_changed_and_locks_what_people_set() -> None:
    target = incident(root_cause="ETL")
    action = lifecycle.apply_patch(
        target, Patch(root_cause="ETL", severity=Severity.LOW, root_product_id="clean"), NOW
    )
    assert action.changed and action.detail == {"changed": ["root_product_id", "severity"]}
    assert action.rederive and target.root_locked and target.severity_locked
    assert action.state is None and action.event_type is EventType.UPDATED


def test_a_root_outside_the_products_is_not_allowed() -> None:
    with pytest.raises(lifecycle.NotAllowedError, match="root_product_id"):
        lifecycle.apply_patch(incident(), Patch(root_product_id="report"), NOW)


def test_resolving_and_reopening_by_hand() -> None:
    target = incident()
    action = lifecycle.resolve(target, NOW)
    assert (action.state, action.event_type, action.changed) == (
        HistoryState.RESOLVED,
        EventType.RESOLVED,
        True,
    )
    assert target.resolved_at == NOW and target.cleared_at == NOW
    assert not lifecycle.resolve(target, NOW + timedelta(1)).changed
    reopened = lifecycle.apply_patch(target, Patch(status=IncidentStatus.INVESTIGATING), NOW)
    assert (reopened.state, reopened.event_type) == (HistoryState.REOPENED, EventType.REOPENED)
    assert target.resolved_at is None and target.cleared_at is None


def test_an_action_is_recorded_under_the_state_the_incident_is_in() -> None:
    target = incident()
    ticket = lifecycle.link_ticket(target, "DQ-1")
    assert lifecycle.recorded_state(target, ticket) is HistoryState.ONGOING
    lifecycle.resolve(target, NOW)
    again = lifecycle.link_ticket(target, "DQ-2")
    assert lifecycle.recorded_state(target, again) is HistoryState.RESOLVED
    assert not lifecycle.link_ticket(target, "DQ-2").changed


def test_a_merged_incident_is_read_only() -> None:
    lifecycle.ensure_writable(incident())
    merged = incident(status=IncidentStatus.RESOLVED, merged_into="i0", resolved_at=NOW)
    with pytest.raises(lifecycle.IncidentMergedError, match="merged into i0"):
        lifecycle.ensure_writable(merged)
