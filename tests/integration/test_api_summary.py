"""Seed 001 over HTTP: the incident summary (counts, MTTR, tags) on known data."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from tests.support.api import ApiWorld
from tests.support.insights import WEEK, _get, _known

# --- summary -------------------------------------------------------------------------------


def test_summary_on_known_data(api: ApiWorld) -> None:
    _known(api)
    week = _get(api, "/incidents/summary", **WEEK)
    assert week == {
        "total": 5,
        "open": 3,  # i1, i3 (investigating), i5
        "closed": 2,  # i2, i4
        "mttr_hours": 4.0,  # i2 2 h, i4 4 h, i7 6 h (created before, resolved inside)
        "previous_mttr_hours": 10.0,  # i6
        "open_by_tag": {"prod": 2, "T1": 1},
        "closed_by_tag": {"T1": 1, "prod": 1},
        **WEEK,
    }
    short = _get(
        api,
        "/incidents/summary",
        from_time="2026-03-02T00:00:00Z",
        to_time="2026-03-05T00:00:00Z",
    )
    assert (short["total"], short["open"], short["closed"]) == (5, 3, 2)
    assert short["mttr_hours"] == 3.0  # i2 and i4
    assert short["previous_mttr_hours"] == 6.0  # i7, resolved 2026-03-01T04:00


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        (
            {"tags": "T1"},
            {
                "total": 2,
                "open": 1,
                "closed": 1,
                "mttr_hours": 4.0,
                "previous_mttr_hours": None,
                "open_by_tag": {"T1": 1, "prod": 1},
                "closed_by_tag": {"T1": 1},
            },
        ),
        (
            {"severities": "critical,HIGH"},
            {
                "total": 3,
                "open": 2,
                "closed": 1,
                "mttr_hours": 2.0,
                "previous_mttr_hours": 10.0,
                "open_by_tag": {"T1": 1, "prod": 1},
                "closed_by_tag": {"prod": 1},
            },
        ),
        (
            {"impacts": "MEDIUM"},
            {
                "total": 1,
                "open": 0,
                "closed": 1,
                "mttr_hours": 4.0,  # i2 2 h and i7 6 h
                "previous_mttr_hours": None,
                "open_by_tag": {},
                "closed_by_tag": {"prod": 1},
            },
        ),
        (
            {"product_ids": "p5", "text_to_search": "FRESH"},
            {
                "total": 1,
                "open": 1,
                "closed": 0,
                "mttr_hours": None,
                "previous_mttr_hours": None,
                "open_by_tag": {"prod": 1},
                "closed_by_tag": {},
            },
        ),
    ],
)
def test_summary_filters(api: ApiWorld, params: dict[str, Any], expected: dict[str, Any]) -> None:
    _known(api)
    assert _get(api, "/incidents/summary", **WEEK, **params) == {**expected, **WEEK}


def test_summary_of_an_empty_window(api: ApiWorld) -> None:
    _known(api)
    empty = _get(
        api, "/incidents/summary", from_time="2027-01-01T00:00:00Z", to_time="2027-01-08T00:00:00Z"
    )
    assert empty["total"] == empty["open"] == empty["closed"] == 0
    assert empty["mttr_hours"] is None and empty["previous_mttr_hours"] is None
    assert empty["open_by_tag"] == {} and empty["closed_by_tag"] == {}


def test_summary_mttr_is_rounded_hours(api: ApiWorld) -> None:
    _known(api)
    with api.engine.begin() as conn:  # i2: 2 h -> 2 h 20 min: (140 + 240 + 360) / 3 min
        conn.execute(
            text(
                "UPDATE incidents SET resolved_at = created_at + interval '140 minutes' "
                "WHERE id = :id"
            ),
            {"id": api.incident_of("p2")},
        )
    assert _get(api, "/incidents/summary", **WEEK)["mttr_hours"] == 4.11
