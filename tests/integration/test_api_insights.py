"""Seed 001 over HTTP: history, distribution, summary and alert search, on known data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from tests.support.api import SPACE, ApiWorld

BASE = f"/spaces/{SPACE}"
ZERO_SEVERITY = {"critical": 0, "high": 0, "medium": 0, "low": 0, "info": 0}
ZERO_IMPACT = {"HIGH": 0, "MEDIUM": 0, "LOW": 0}
WEEK = {"from_time": "2026-03-01T00:00:00Z", "to_time": "2026-03-08T00:00:00Z"}


def _t(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _get(api: ApiWorld, path: str, **params: Any) -> Any:
    response = api.client.get(f"{BASE}{path}", params=params, headers=api.headers("viewer"))
    assert response.status_code == 200, response.text
    return response.json()


def _rejected(api: ApiWorld, path: str, **params: Any) -> str:
    response = api.client.get(f"{BASE}{path}", params=params, headers=api.headers("viewer"))
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str) and detail
    return detail


# --- a known data set of incidents ---------------------------------------------------------

# name: (created_at, hours to resolve or None, status, severity, impact, tags)
KNOWN: dict[str, tuple[str, float | None, str, str, str, list[str]]] = {
    "i1": ("2026-03-02T01:00:00Z", None, "open", "critical", "HIGH", ["prod", "T1"]),
    "i2": ("2026-03-02T08:00:00Z", 2, "resolved", "high", "MEDIUM", ["prod"]),
    "i3": ("2026-03-02T15:00:00Z", None, "investigating", "high", "LOW", []),
    "i4": ("2026-03-03T09:00:00Z", 4, "resolved", "low", "LOW", ["T1"]),
    "i5": ("2026-03-03T13:00:00Z", None, "open", "info", "HIGH", ["prod"]),
    # the week before: resolved after 10 h inside it
    "i6": ("2026-02-25T00:00:00Z", 10, "resolved", "critical", "HIGH", ["prod"]),
    # created the week before, resolved (after 6 h) in the week
    "i7": ("2026-02-28T22:00:00Z", 6, "resolved", "medium", "MEDIUM", ["prod"]),
    # merged into i1: never counted
    "i8": ("2026-03-02T05:00:00Z", 1, "resolved", "high", "HIGH", ["prod"]),
}


def _known(api: ApiWorld) -> dict[str, str]:
    """Incidents i1..i8 in finance (products p1..p8) and i9 in `other`, with known figures."""
    api.alerts(
        *[
            {"alert_id": f"k{n}", "product_id": f"p{n}", "occurred_at": "2026-03-02T00:00:00Z"}
            for n in range(1, 9)
        ],
        {
            "alert_id": "k9",
            "space": "other",
            "product_id": "p9",
            "occurred_at": "2026-03-02T00:00:00Z",
        },
    )
    ids = {f"i{n}": api.incident_of(f"p{n}") for n in range(1, 10)}
    with api.engine.begin() as conn:
        for name, (created, hours, status, severity, impact, tags) in KNOWN.items():
            created_at = _t(created)
            conn.execute(
                text(
                    "UPDATE incidents SET created_at = :c, resolved_at = :r, status = :st, "
                    "severity = :sev, impact = :imp, tags = CAST(:tags AS text[]) WHERE id = :id"
                ),
                {
                    "c": created_at,
                    "r": None if hours is None else created_at + timedelta(hours=hours),
                    "st": status,
                    "sev": severity,
                    "imp": impact,
                    "tags": tags,
                    "id": ids[name],
                },
            )
        conn.execute(
            text("UPDATE incidents SET merged_into = CAST(:t AS uuid) WHERE id = :id"),
            {"t": ids["i1"], "id": ids["i8"]},
        )
        conn.execute(
            text("UPDATE incidents SET title = 'Orders freshness' WHERE id = :id"),
            {"id": ids["i5"]},
        )
        conn.execute(
            text(
                "UPDATE incidents SET created_at = '2026-03-02T02:00:00Z', severity = 'critical', "
                "impact = 'HIGH' WHERE id = :id"
            ),
            {"id": ids["i9"]},
        )
    return ids


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
    api.alerts({"alert_id": "now1", "product_id": "raw", "occurred_at": "2026-02-27T14:00:00Z"})
    with api.engine.connect() as conn:
        created = conn.execute(text("SELECT created_at FROM incidents")).scalar_one()
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


# --- history -------------------------------------------------------------------------------


def _history(api: ApiWorld, incident: str) -> list[dict[str, Any]]:
    body: list[dict[str, Any]] = _get(api, f"/incidents/{incident}/history")
    for entry in body:
        assert entry["at"].endswith("Z")
    return body


def _steps(body: list[dict[str, Any]]) -> list[tuple[str, list[str], dict[str, Any]]]:
    return [(e["state"], e["alert_ids"], e["detail"]) for e in body]


def test_history_of_a_merge(api: ApiWorld) -> None:
    api.alerts({"alert_id": "a1", "product_id": "raw", "occurred_at": "2026-02-27T00:00:00Z"})
    target = api.incident_of("raw")
    api.alerts({"alert_id": "a2", "product_id": "raw", "occurred_at": "2026-02-27T07:00:00Z"})
    with api.engine.connect() as conn:
        loser = str(
            conn.execute(text("SELECT id FROM incidents WHERE id <> :t"), {"t": target}).scalar()
        )
    assert _steps(_history(api, loser)) == [("NEW", ["a2"], {})]
    # 3.5 h from both: relates to both incidents, which merge into the older one
    api.alerts({"alert_id": "a3", "product_id": "raw", "occurred_at": "2026-02-27T03:30:00Z"})
    lost = _history(api, loser)
    assert _steps(lost) == [("NEW", ["a2"], {}), ("MERGED", ["a2"], {"merged_into": target})]
    assert all(e["actor"] is None for e in lost)
    assert _steps(_history(api, target)) == [
        ("NEW", ["a1"], {}),
        ("ONGOING", ["a3"], {}),
        ("ONGOING", ["a2"], {"merged_from": loser}),
    ]
    gained = _history(api, target)
    at = [_t(e["at"]) for e in gained]
    assert at[0] <= at[1] == at[2] == _t(lost[1]["at"])
    # what people do shows up with its actor
    h = api.headers("editor")
    assert api.client.post(f"{BASE}/incidents/{target}/resolve", headers=h).status_code == 200
    back = api.client.patch(f"{BASE}/incidents/{target}", json={"status": "open"}, headers=h)
    assert back.status_code == 200
    tail = _history(api, target)[3:]
    assert [(e["state"], e["actor"], e["alert_ids"]) for e in tail] == [
        ("RESOLVED", "editor@example.com", []),
        ("REOPENED", "editor@example.com", []),
    ]
    assert tail[1]["detail"]["changed"] == ["status"]


def test_history_of_auto_resolve_and_reopen(api: ApiWorld) -> None:
    api.alerts({"alert_id": "f1", "product_id": "island", "occurred_at": "2026-02-27T10:00:00Z"})
    api.alerts(
        {
            "alert_id": "f1r",
            "product_id": "island",
            "status": "resolved",
            "occurred_at": "2026-02-27T11:00:00Z",
        }
    )
    api.alerts({"alert_id": "f2", "product_id": "island", "occurred_at": "2026-02-27T12:00:00Z"})
    incident = api.incident_of("island")
    assert [(e["state"], e["alert_ids"]) for e in _history(api, incident)] == [
        ("NEW", ["f1"]),
        ("ONGOING", ["f1r"]),
        ("RESOLVED", ["f1r"]),
        ("REOPENED", ["f2"]),
    ]


def test_history_not_found(api: ApiWorld) -> None:
    api.alerts(
        {"alert_id": "o1", "space": "other", "product_id": "x", "occurred_at": "2026-02-27T10:00Z"}
    )
    elsewhere = api.incident_of("x")
    h = api.headers("viewer")
    for incident in ("00000000-0000-0000-0000-000000000000", "not-a-uuid", elsewhere):
        missing = api.client.get(f"{BASE}/incidents/{incident}/history", headers=h)
        assert missing.status_code == 404 and "not found" in missing.json()["detail"]


# --- alert search --------------------------------------------------------------------------


def _alert_set(api: ApiWorld) -> dict[str, str]:
    api.alerts(
        {
            "alert_id": "s1",
            "product_id": "raw",
            "severity": "critical",
            "occurred_at": "2026-02-27T10:00:00Z",
            "title": "not_null(customer_id) failed",
            "fingerprint": "raw/not_null",
            "description": "3.2% nulls, threshold 1%",
            "check": {"id": "chk-1", "name": "not_null_customer_id"},
            "metric": {"name": "null_ratio", "value": 0.032, "threshold": 0.01},
            "attribute": "customer_id",
            "source": "soda",
            "tags": ["prod"],
        },
        {
            "alert_id": "s2",
            "product_id": "clean",
            "alert_type": "freshness",
            "occurred_at": "2026-02-27T10:05:00Z",
            "title": "late load",
        },
    )
    api.alerts(
        {
            "alert_id": "s3",
            "product_id": "raw",
            "status": "RESOLVED",
            "occurred_at": "2026-02-27T10:30:00Z",
            "title": "not_null(customer_id) passes",
            "fingerprint": "raw/not_null",
        },
        {
            "alert_id": "s4",
            "product_id": "island",
            "severity": "low",
            "alert_type": "volume",
            "occurred_at": "2026-02-27T11:00:00Z",
            "title": "row count 50% off",
        },
        {
            "alert_id": "s5",
            "product_id": "mart",
            "severity": "medium",
            "status": "resolved",
            "alert_type": "freshness",
            "occurred_at": "2026-02-27T11:30:00Z",
            "fingerprint": "mart/never-fired",
        },
        {
            "alert_id": "s6",
            "space": "other",
            "product_id": "elsewhere",
            "severity": "critical",
            "occurred_at": "2026-02-27T10:00:00Z",
            "title": "not_null(customer_id) failed",
        },
    )
    return {"cascade": api.incident_of("raw"), "island": api.incident_of("island")}


SCALARS = {"incident_id", "from_time", "to_time", "text_to_search"}


def _as_body(params: dict[str, Any]) -> dict[str, Any]:
    """Query parameters as a search body: comma-separated lists become JSON arrays."""
    return {
        k: v if k in SCALARS or not isinstance(v, str) else v.split(",") for k, v in params.items()
    }


def _ids(body: Any) -> list[str]:
    return [a["alert_id"] for a in body["items"]]


def test_alert_search_items(api: ApiWorld) -> None:
    incidents = _alert_set(api)
    body = _get(api, "/alerts")
    assert body["total"] == 5 and _ids(body) == ["s5", "s4", "s3", "s2", "s1"]
    items = {a["alert_id"]: a for a in body["items"]}
    s1 = items["s1"]
    assert s1["incident_id"] == incidents["cascade"] and s1["space"] == SPACE
    assert (s1["product_id"], s1["severity"], s1["status"]) == ("raw", "critical", "firing")
    assert s1["occurred_at"] == "2026-02-27T10:00:00Z"
    assert s1["added_at"].endswith("Z") and s1["received_at"].endswith("Z")
    assert (s1["description"], s1["attribute"], s1["source"], s1["tags"]) == (
        "3.2% nulls, threshold 1%",
        "customer_id",
        "soda",
        ["prod"],
    )
    assert s1["check"] == {"id": "chk-1", "name": "not_null_customer_id"}
    assert s1["metric"] == {"name": "null_ratio", "value": 0.032, "threshold": 0.01}
    assert s1["fingerprint"] == "raw/not_null" and s1["segment"] is None
    assert items["s3"]["status"] == "resolved"
    assert items["s5"]["incident_id"] is None and items["s5"]["added_at"] is None
    assert items["s2"]["check"] is None and items["s2"]["description"] is None


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"severities": "critical"}, ["s1"]),
        ({"severities": "HIGH,low"}, ["s4", "s3", "s2"]),
        ({"severities": ["high", "Low"]}, ["s4", "s3", "s2"]),
        ({"statuses": "resolved"}, ["s5", "s3"]),
        ({"statuses": "FIRING"}, ["s4", "s2", "s1"]),
        ({"statuses": "firing,resolved"}, ["s5", "s4", "s3", "s2", "s1"]),
        ({"product_ids": "raw"}, ["s3", "s1"]),
        ({"product_ids": ["raw", "island"]}, ["s4", "s3", "s1"]),
        ({"product_ids": "nowhere"}, []),
        ({"alert_types": "freshness"}, ["s5", "s2"]),
        ({"alert_types": "freshness,volume"}, ["s5", "s4", "s2"]),
        ({"alert_ids": "s1,s4"}, ["s4", "s1"]),
        ({"alert_ids": ["s3", "s6", "s"]}, ["s3"]),
        ({"incident_id": "00000000-0000-0000-0000-000000000000"}, []),
        ({"from_time": "2026-02-27T10:05:00Z"}, ["s5", "s4", "s3", "s2"]),
        ({"to_time": "2026-02-27T10:05:00Z"}, ["s1"]),
        ({"from_time": "2026-02-27T10:05:00Z", "to_time": "2026-02-27T11:00:00Z"}, ["s3", "s2"]),
        (
            {"from_time": "2026-02-27T12:05:00+02:00", "to_time": "2026-02-27T11:00:00Z"},
            ["s3", "s2"],
        ),
        ({"text_to_search": "customer_id"}, ["s3", "s1"]),
        ({"text_to_search": "%"}, ["s4"]),
        ({"text_to_search": "_"}, ["s3", "s1"]),
        ({"text_to_search": "S2"}, ["s2"]),
        ({"text_to_search": "raw/not"}, ["s3", "s1"]),
        ({"text_to_search": "never-fired"}, ["s5"]),
        ({"severities": "high", "statuses": "firing"}, ["s2"]),
        ({"product_ids": "raw", "statuses": "firing", "text_to_search": "failed"}, ["s1"]),
    ],
)
def test_alert_search_filters(api: ApiWorld, params: dict[str, Any], expected: list[str]) -> None:
    _alert_set(api)
    body = _get(api, "/alerts", **params)
    assert _ids(body) == expected and body["total"] == len(expected)
    posted = api.client.post(
        f"{BASE}/alerts/search", json=_as_body(params), headers=api.headers("viewer")
    )
    assert posted.status_code == 200, posted.text
    assert _ids(posted.json()) == expected and posted.json()["total"] == len(expected)


def test_alert_search_by_incident(api: ApiWorld) -> None:
    incidents = _alert_set(api)
    assert _ids(_get(api, "/alerts", incident_id=incidents["cascade"])) == ["s3", "s2", "s1"]
    assert _ids(_get(api, "/alerts", incident_id=incidents["island"])) == ["s4"]
    posted = api.client.post(
        f"{BASE}/alerts/search",
        json={"incident_id": incidents["island"], "statuses": ["firing"]},
        headers=api.headers(),
    ).json()
    assert _ids(posted) == ["s4"]
    # seed 001's way: a history step's alert refs, then the alerts themselves
    steps = _get(api, f"/incidents/{incidents['cascade']}/history")
    refs = [a for step in steps for a in step["alert_ids"]]
    assert sorted(refs) == ["s1", "s2", "s3"]
    assert _ids(_get(api, "/alerts", alert_ids=refs)) == ["s3", "s2", "s1"]


def test_alert_search_pagination(api: ApiWorld) -> None:
    _alert_set(api)
    pages = [
        ({"limit": 2}, ["s5", "s4"]),
        ({"limit": 2, "skip": 2}, ["s3", "s2"]),
        ({"limit": 2, "skip": 4}, ["s1"]),
        ({"skip": 5}, []),
        ({"skip": 1_000_000}, []),
        ({"limit": 1}, ["s5"]),
        ({"limit": 200}, ["s5", "s4", "s3", "s2", "s1"]),
        ({"limit": 1, "skip": 1, "statuses": "resolved"}, ["s3"]),
    ]
    for params, expected in pages:
        body = _get(api, "/alerts", **params)
        assert _ids(body) == expected, params
        assert body["total"] == (2 if "statuses" in params else 5)
        posted = api.client.post(
            f"{BASE}/alerts/search",
            json={
                **params,
                **({"statuses": ["resolved"]} if "statuses" in params else {}),
            },
            headers=api.headers(),
        ).json()
        assert _ids(posted) == expected and posted["total"] == body["total"], params


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 201}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"skip": -1}, "skip"),
        ({"skip": 1_000_001}, "skip"),
        ({"severities": "urgent"}, "urgent"),
        ({"severities": "high,,nope"}, "nope"),
        ({"statuses": "open"}, "statuses"),
        ({"incident_id": "nope"}, "incident_id"),
        ({"from_time": "2026-02-27T10:00:00"}, "offset"),
        ({"to_time": "tomorrow"}, "to_time"),
        ({"from_time": "2026-02-27T11:00:00Z", "to_time": "2026-02-27T10:00:00Z"}, "before"),
        ({"from_time": "2300-01-01T00:00:00Z"}, "2200"),
        ({"product_ids": "x" * 501}, "product_ids"),
        ({"alert_types": ",".join(str(n) for n in range(101))}, "alert_types"),
        ({"alert_ids": ",".join(str(n) for n in range(201))}, "alert_ids"),
        ({"text_to_search": "x" * 501}, "text_to_search"),
    ],
)
def test_alert_search_rejects_bad_filters(
    api: ApiWorld, params: dict[str, Any], message: str
) -> None:
    assert message in _rejected(api, "/alerts", **params)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 201}, "limit"),
        ({"skip": -1}, "skip"),
        ({"bogus": 1}, "bogus"),
        ({"severities": "high"}, "severities"),
        ({"severities": ["urgent"]}, "urgent"),
        ({"statuses": ["open"]}, "statuses"),
        ({"incident_id": "nope"}, "incident_id"),
        ({"from_time": "2026-02-27T10:00:00"}, "from_time"),
        ({"from_time": "2026-02-27T11:00:00Z", "to_time": "2026-02-27T10:00:00Z"}, "before"),
        ({"to_time": "1900-01-01T00:00:00Z"}, "to_time"),
        ({"product_ids": [""]}, "product_ids"),
        ({"alert_types": [str(n) for n in range(101)]}, "alert_types"),
        ({"alert_ids": [str(n) for n in range(201)]}, "alert_ids"),
    ],
)
def test_alert_search_body_rejects_bad_filters(
    api: ApiWorld, body: dict[str, Any], message: str
) -> None:
    response = api.client.post(f"{BASE}/alerts/search", json=body, headers=api.headers())
    assert response.status_code == 422, response.text
    assert message in response.json()["detail"]


def test_alert_search_body_must_be_an_object(api: ApiWorld) -> None:
    for raw in (b"[]", b"not json", b'"x"'):
        response = api.client.post(
            f"{BASE}/alerts/search",
            content=raw,
            headers={**api.headers(), "Content-Type": "application/json"},
        )
        assert response.status_code == 422, raw


# --- access --------------------------------------------------------------------------------

GETS = [
    "/incidents/distribution",
    "/incidents/summary",
    "/incidents/00000000-0000-0000-0000-000000000000/history",
    "/alerts",
]


@pytest.mark.parametrize("path", [*GETS, "/alerts/search"])
def test_access(api: ApiWorld, path: str) -> None:
    c = api.client

    def call(slug: str, headers: dict[str, str] | None) -> Any:
        url = f"/spaces/{slug}{path}"
        if path == "/alerts/search":
            return c.post(url, json={}, headers=headers)
        return c.get(url, headers=headers)

    assert call(SPACE, None).status_code == 401
    assert call(SPACE, {"Authorization": "Bearer nope"}).status_code == 401
    outsider = call(SPACE, {"Authorization": f"Bearer {api.tokens['outsider']}"})
    assert outsider.status_code == 404 and "not found" in outsider.json()["detail"]
    plain = call("plain", api.headers("editor"))
    assert plain.status_code == 403 and "quality.incidents" in plain.json()["detail"]
    for role in ("viewer", "editor", "admin"):
        expected = 404 if path.endswith("/history") else 200
        assert call(SPACE, api.headers(role)).status_code == expected


def test_routes_are_in_openapi_and_do_not_shadow_incidents(api: ApiWorld) -> None:
    paths = api.client.get("/openapi.json").json()["paths"]
    for path in GETS:
        if "/history" not in path:
            assert f"/spaces/{{slug}}{path}" in paths
    assert "/spaces/{slug}/incidents/{incident_id}/history" in paths
    assert "post" in paths["/spaces/{slug}/alerts/search"]
    api.alerts({"alert_id": "a1", "product_id": "raw", "occurred_at": "2026-02-27T14:00:00Z"})
    incident = api.incident_of("raw")
    assert _get(api, f"/incidents/{incident}")["id"] == incident
