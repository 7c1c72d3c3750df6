"""Seed 001 over HTTP: alert search by query (GET /alerts) and by body (POST /alerts/search)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.api import SPACE, ApiWorld
from tests.support.insights import BASE, _get, _rejected

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
