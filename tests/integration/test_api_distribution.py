"""Seed 001 over HTTP: the daily incident distribution on known data, and the window and filter
rules it shares with the summary.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from tests.support.api import ApiWorld
from tests.support.insights import WEEK, _get, _known, _rejected, _t

ZERO_SEVERITY = {"critical": 0, "high": 0, "medium": 0, "low": 0, "info": 0}
ZERO_IMPACT = {"HIGH": 0, "MEDIUM": 0, "LOW": 0}


# --- distribution --------------------------------------------------------------------------


def _day(date: str, total: int, severity: dict[str, int], impact: dict[str, int]) -> Any:
    return {
        "date": date,
        "total": total,
        "by_severity": {**ZERO_SEVERITY, **severity},
        "by_impact": {**ZERO_IMPACT, **impact},
    }


def _totals(body: Any) -> dict[str, int]:
    return {d["date"]: d["total"] for d in body["days"]}


def test_distribution_on_known_data(api: ApiWorld) -> None:
    _known(api)
    body = _get(api, "/incidents/distribution", **WEEK)
    assert body["from_time"] == "2026-03-01T00:00:00Z" and body["to_time"] == "2026-03-08T00:00:00Z"
    assert body["days"] == [
        _day("2026-03-01", 0, {}, {}),
        _day("2026-03-02", 3, {"critical": 1, "high": 2}, {"HIGH": 1, "MEDIUM": 1, "LOW": 1}),
        _day("2026-03-03", 2, {"low": 1, "info": 1}, {"LOW": 1, "HIGH": 1}),
        _day("2026-03-04", 0, {}, {}),
        _day("2026-03-05", 0, {}, {}),
        _day("2026-03-06", 0, {}, {}),
        _day("2026-03-07", 0, {}, {}),
    ]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"severities": "high"}, {"2026-03-02": 2}),
        ({"severities": "CRITICAL,info"}, {"2026-03-02": 1, "2026-03-03": 1}),
        ({"severities": ["critical", "low"]}, {"2026-03-02": 1, "2026-03-03": 1}),
        ({"impacts": "HIGH"}, {"2026-03-02": 1, "2026-03-03": 1}),
        ({"impacts": "low,medium"}, {"2026-03-02": 2, "2026-03-03": 1}),
        ({"tags": "T1"}, {"2026-03-02": 1, "2026-03-03": 1}),
        ({"tags": "prod"}, {"2026-03-02": 2, "2026-03-03": 1}),
        ({"status": "resolved"}, {"2026-03-02": 1, "2026-03-03": 1}),
        ({"status": "investigating"}, {"2026-03-02": 1}),
        ({"product_ids": "p4,p3"}, {"2026-03-02": 1, "2026-03-03": 1}),
        ({"text_to_search": "freshness"}, {"2026-03-03": 1}),
        ({"tags": "T1", "severities": "low"}, {"2026-03-03": 1}),
    ],
)
def test_distribution_filters(
    api: ApiWorld, params: dict[str, Any], expected: dict[str, int]
) -> None:
    _known(api)
    totals = _totals(_get(api, "/incidents/distribution", **WEEK, **params))
    assert len(totals) == 7
    assert {d: n for d, n in totals.items() if n} == expected


def test_distribution_window_edges(api: ApiWorld) -> None:
    _known(api)
    half = _get(
        api,
        "/incidents/distribution",
        from_time="2026-03-02T12:00:00Z",
        to_time="2026-03-03T12:00:00Z",
    )
    assert _totals(half) == {"2026-03-02": 1, "2026-03-03": 1}  # i3 and i4
    one_day = _get(
        api,
        "/incidents/distribution",
        from_time="2026-03-02T00:00:00Z",
        to_time="2026-03-03T00:00:00Z",
    )
    assert _totals(one_day) == {"2026-03-02": 3}  # to_time is exclusive
    shifted = _get(
        api,
        "/incidents/distribution",
        from_time="2026-03-02T02:00:00+02:00",
        to_time="2026-03-02T09:00:00+01:00",
    )
    assert shifted["from_time"] == "2026-03-02T00:00:00Z"
    assert shifted["to_time"] == "2026-03-02T08:00:00Z"
    assert _totals(shifted) == {"2026-03-02": 1}  # i1 at 01:00 (merged i8 at 05:00 is out)
    year = _get(
        api,
        "/incidents/distribution",
        from_time="2026-01-01T00:00:00Z",
        to_time="2027-01-02T00:00:00Z",
    )
    assert len(year["days"]) == 366 and sum(d["total"] for d in year["days"]) == 7
    assert year["days"][0]["date"] == "2026-01-01" and year["days"][-1]["date"] == "2027-01-01"


def test_distribution_and_summary_default_to_the_last_30_days(api: ApiWorld) -> None:
    hour_ago = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    api.alerts({"alert_id": "now1", "product_id": "raw", "occurred_at": hour_ago})
    with api.engine.connect() as conn:  # windows and days are on the problem's start
        created = conn.execute(text("SELECT first_alert_at FROM incidents")).scalar_one()
    body = _get(api, "/incidents/distribution")
    start, end = _t(body["from_time"]), _t(body["to_time"])
    assert end - start == timedelta(days=30) and start <= created < end
    assert abs(datetime.now(UTC) - end) < timedelta(minutes=5)
    assert body["days"][0]["date"] == start.date().isoformat()
    assert body["days"][-1]["date"] == end.date().isoformat()
    assert _totals(body) == {
        d["date"]: (1 if d["date"] == created.astimezone(UTC).date().isoformat() else 0)
        for d in body["days"]
    }
    only_to = _get(api, "/incidents/distribution", to_time="2026-03-08T00:00:00Z")
    assert only_to["from_time"] == "2026-02-06T00:00:00Z" and len(only_to["days"]) == 30
    summary = _get(api, "/incidents/summary")
    assert (summary["total"], summary["open"], summary["closed"]) == (1, 1, 0)
    assert summary["mttr_hours"] is None and summary["previous_mttr_hours"] is None
    ten_days_ago = (datetime.now(UTC) - timedelta(days=10)).isoformat()
    since = _get(api, "/incidents/summary", from_time=ten_days_ago)
    assert abs(datetime.now(UTC) - _t(since["to_time"])) < timedelta(minutes=5)


@pytest.mark.parametrize("path", ["/incidents/distribution", "/incidents/summary"])
@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"from_time": "2026-03-02T00:00:00Z", "to_time": "2026-03-02T00:00:00Z"}, "before"),
        ({"from_time": "2026-03-03T00:00:00Z", "to_time": "2026-03-02T00:00:00Z"}, "before"),
        ({"from_time": "2026-01-01T00:00:00Z", "to_time": "2027-01-02T00:00:01Z"}, "366"),
        ({"from_time": "2026-03-01T00:00:00"}, "offset"),
        ({"to_time": "2026-03-01T00:00:00"}, "offset"),
        ({"from_time": "yesterday"}, "from_time"),
        ({"from_time": "1900-01-01T00:00:00Z", "to_time": "1900-01-02T00:00:00Z"}, "1970"),
        ({"to_time": "9999-12-31T23:59:59-23:59"}, "to_time"),
        ({"to_time": "0001-01-01T00:00:00+14:00"}, "to_time"),
        ({"severities": "urgent"}, "urgent"),
        ({"impacts": "HUGE"}, "HUGE"),
        ({"tags": ",".join(f"t{n}" for n in range(101))}, "tags"),
        ({"text_to_search": "x" * 501}, "text_to_search"),
    ],
)
def test_window_and_filter_validation(
    api: ApiWorld, path: str, params: dict[str, Any], message: str
) -> None:
    assert message in _rejected(api, path, **params)


def test_distribution_rejects_a_bad_status(api: ApiWorld) -> None:
    assert "status" in _rejected(api, "/incidents/distribution", status="closed")
