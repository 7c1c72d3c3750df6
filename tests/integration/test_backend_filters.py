"""The asset-incident API's nine filters, its mappings and its access rules, on known data.

Five incidents in `finance`, one per unrelated product, correlated by the worker's batch
code, numbered 1..5 in creation order:

| # | product    | project | connection (type)           | severity | policy                  |
|---|------------|---------|-----------------------------|----------|-------------------------|
| 1 | bq_orders  | 24      | bigquery (BIGQUERY)         | critical | 4 "prod checks"         |
| 2 | gcs_files  | 0       | gs://landing (GCS)          | high     | 5 "freshness"           |
| 3 | snow_cust  | 7       | snowflake://org (SNOWFLAKE) | medium   | schema "Schema drift"   |
| 4 | island     | 0       | -                           | low      | -                       |
| 5 | raw        | 0       | -                           | info     | -  (impact HIGH)        |
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, text

from incidentd.schemas.lineage import LineageDocument, ProductSpec
from incidentd.storage.lineage import import_document
from tests.support.api import SPACE, ApiWorld

BASE = f"/api/backend/{SPACE}"
NOW = datetime.now(UTC).replace(microsecond=0)
STARTED = ["2026-03-01T09:00:00Z", "2026-03-02T09:00:00Z", "2026-03-03T09:00:00Z"]


def _check(policy_id: str, policy_name: str) -> dict[str, str]:
    return {"id": f"chk-{policy_id}", "policy_id": policy_id, "policy_name": policy_name}


KNOWN: list[tuple[str, str, dict[str, Any]]] = [
    ("bq_orders", "critical", {"check": _check("4", "prod checks"), "tags": ["prod"]}),
    ("gcs_files", "high", {"check": _check("5", "freshness")}),
    ("snow_cust", "medium", {"check": _check("schema", "Schema drift")}),
    ("island", "low", {}),
    ("raw", "info", {}),
]


@pytest.fixture
def known(api: ApiWorld) -> ApiWorld:
    """Incidents 1..5 of the table above; their problems started on 1, 2, 3, 3, 3 March 2026."""
    with api.engine.begin() as conn:
        import_document(
            conn,
            LineageDocument(
                products=[
                    ProductSpec(
                        id="bq_orders",
                        space=SPACE,
                        name="Orders (BigQuery)",
                        project_id=24,
                        datasets=["bigquery/p.sales.orders"],
                    ),
                    ProductSpec(
                        id="gcs_files",
                        space=SPACE,
                        name="Landing files",
                        datasets=["gs://landing/files/x.csv"],
                    ),
                    ProductSpec(
                        id="snow_cust",
                        space=SPACE,
                        name="Customers",
                        project_id=7,
                        datasets=["snowflake://org/DB.S.CUSTOMERS"],
                    ),
                ]
            ),
        )
    for k, (product, severity, extra) in enumerate(KNOWN, start=1):
        api.alerts(
            {
                "alert_id": f"k{k}",
                "product_id": product,
                "severity": severity,
                "occurred_at": f"2026-03-0{min(k, 3)}T09:00:00Z",
                **extra,
            }
        )
    return api


def _numbers(api: ApiWorld, **params: Any) -> list[int]:
    response = api.client.get(f"{BASE}/incidents", params=params, headers=api.headers("viewer"))
    assert response.status_code == 200, response.text
    return sorted(i["id"] for i in response.json())


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, [1, 2, 3, 4, 5]),
        ({"project_ids": "0"}, [2, 4, 5]),
        ({"project_ids": "24,7"}, [1, 3]),
        ({"project_ids": ["0", "24"]}, [1, 2, 4, 5]),
        ({"connection_types": "gcs,BIGQUERY"}, [1, 2]),
        ({"connection_types": "SNOWFLAKE"}, [3]),
        ({"connection_ids": "gs://landing"}, [2]),
        ({"connection_ids": "bigquery,snowflake://org"}, [1, 3]),
        ({"alert_policy_ids": "4,schema"}, [1, 3]),
        ({"alert_policy_ids": "6"}, []),
        ({"severities": "HIGH"}, [1, 2]),  # critical and high
        ({"severities": "MEDIUM"}, [3]),
        ({"severities": "low"}, [4, 5]),  # low and info
        ({"severities": "HIGH,LOW"}, [1, 2, 4, 5]),
        ({"impacts": "HIGH"}, [5]),
        ({"impacts": "LOW,MEDIUM"}, [1, 2, 3, 4]),
        ({"from_time": "2026-03-02T00:00:00Z"}, [2, 3, 4, 5]),
        ({"to_time": "2026-03-02T09:00:00Z"}, [1]),
        ({"to_time": "2026-03-02T09:00:00.001Z"}, [1, 2]),
        ({"from_time": "2026-03-02T00:00:00Z", "to_time": "2026-03-03T00:00:00Z"}, [2]),
        ({"text_to_search": "PROD CHECKS"}, [1]),  # a policy name, any case
        ({"text_to_search": "fresh"}, [2]),
        ({"text_to_search": "landing"}, [2]),  # a source (product) name
        ({"text_to_search": "snow_c"}, [3]),  # a source id; `_` is no wildcard
        ({"text_to_search": "isl%"}, []),
        ({"project_ids": "0", "severities": "LOW", "impacts": "LOW"}, [4]),
    ],
)
def test_each_filter(known: ApiWorld, params: dict[str, Any], expected: list[int]) -> None:
    assert _numbers(known, **params) == expected


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"severities": "critical"}, "severities"),  # the document's levels only
        ({"impacts": "BIG"}, "impacts"),
        ({"project_ids": "x"}, "project_ids"),
        ({"project_ids": "-1"}, "project_ids"),
        ({"from_time": "2026-03-02T00:00:00"}, "from_time"),
        ({"from_time": "2026-03-03T00:00:00Z", "to_time": "2026-03-02T00:00:00Z"}, "from_time"),
        ({"severity": "HIGH"}, "severities"),  # an unknown parameter names the accepted ones
        ({"status": "OPEN"}, "text_to_search"),
    ],
)
def test_invalid_filters_are_422_naming_the_parameter(
    known: ApiWorld, params: dict[str, Any], named: str
) -> None:
    response = known.client.get(f"{BASE}/incidents", params=params, headers=known.headers("viewer"))
    assert response.status_code == 422, response.text
    assert named in response.json()["detail"]


def _listed(api: ApiWorld) -> dict[int, dict[str, Any]]:
    body = api.client.get(f"{BASE}/incidents", headers=api.headers("viewer")).json()
    return {i["id"]: i for i in body}


def test_mappings(known: ApiWorld) -> None:
    editor, native = known.headers("editor"), f"/spaces/{SPACE}/incidents"
    known.client.patch(f"{native}/1", json={"status": "investigating"}, headers=editor)
    known.client.post(f"{native}/2/resolve", headers=editor)
    known.client.post(f"{native}/3/link-ticket", json={"ticket_id": "JIRA-7"}, headers=editor)
    known.client.post(f"{native}/4/link-ticket", json={"ticket_id": "88"}, headers=editor)
    listed = _listed(known)
    assert [listed[n]["status"] for n in range(1, 6)] == ["OPEN", "CLOSED", "OPEN", "OPEN", "OPEN"]
    assert [listed[n]["severity"] for n in range(1, 6)] == ["HIGH", "HIGH", "MEDIUM", "LOW", "LOW"]
    assert [listed[n]["ticket_id"] for n in range(1, 6)] == [None, None, "JIRA-7", 88, None]
    assert [listed[n]["asset_id"] for n in range(1, 6)] == [p for p, _, _ in KNOWN]
    assert [listed[n]["project_id"] for n in range(1, 6)] == [24, 0, 7, 0, 0]
    assert [listed[n]["alert_policy_id"] for n in range(1, 4)] == ["4", "5", "schema"]
    assert listed[3]["alert_policy_name"] == "Schema drift" and listed[4]["alert_policy_id"] is None
    assert listed[1]["tags"] == ["prod"]
    # created_time is when the problem started (the first alert), not when it was processed
    assert [listed[n]["created_time"] for n in (1, 2, 3)] == [
        t.replace("Z", ".000Z") for t in STARTED
    ]


def test_the_policy_is_the_root_first_alert(known: ApiWorld) -> None:
    # a later alert on the same product with another policy changes nothing
    known.alerts(
        {
            "alert_id": "k1-later",
            "product_id": "bq_orders",
            "occurred_at": "2026-03-01T09:30:00Z",
            "check": _check("9", "late policy"),
        },
        {
            "alert_id": "k1-earlier",
            "product_id": "bq_orders",
            "occurred_at": "2026-03-01T08:30:00Z",
            "check": _check("3", "early policy"),
        },
    )
    assert _listed(known)[1]["alert_policy_id"] == "3"  # earliest occurred_at wins
    assert _numbers(known, alert_policy_ids="4") == []


def _at(hours: float) -> str:
    return (NOW + timedelta(hours=hours)).isoformat()


def test_history_states_map_onto_the_documents(api: ApiWorld) -> None:
    api.alerts({"alert_id": "h1", "product_id": "island", "occurred_at": _at(-3)})
    api.client.post(f"/spaces/{SPACE}/incidents/1/resolve", headers=api.headers())
    api.alerts({"alert_id": "h2", "product_id": "island", "occurred_at": _at(-1)})
    detail = api.client.get(f"{BASE}/incidents/1", headers=api.headers("viewer")).json()
    assert [s["state"] for s in detail["history"]] == ["NEW", "RESOLVED", "REOPENED"]
    assert detail["history"][2]["alert_refs"] == [
        {"metric_time": _millis(-1), "violation_name": detail_fp(api, "h2")}
    ]
    assert detail["status"] == "OPEN"


def test_a_merged_incident_is_closed_and_listed_no_more(api: ApiWorld) -> None:
    # raw and mart fail 7 h apart (two incidents); clean, between them in time, merges them
    api.alerts({"alert_id": "m1", "product_id": "raw", "occurred_at": _at(-10)})
    api.alerts({"alert_id": "m2", "product_id": "mart", "occurred_at": _at(-3)})
    assert sorted(_listed(api)) == [1, 2]
    api.alerts({"alert_id": "m3", "product_id": "clean", "occurred_at": _at(-6.5)})
    assert sorted(_listed(api)) == [1]
    merged = api.client.get(f"{BASE}/incidents/2", headers=api.headers("viewer")).json()
    assert merged["status"] == "CLOSED"
    assert [s["state"] for s in merged["history"]] == ["NEW", "RESOLVED"]  # MERGED is closed
    assert merged["metrics"] == []  # its alerts moved to incident 1
    kept = api.client.get(f"{BASE}/incidents/1", headers=api.headers("viewer")).json()
    refs = {r["violation_name"] for s in kept["history"] for r in s["alert_refs"]}
    assert refs == {detail_fp(api, a) for a in ("m1", "m2", "m3")}


def _millis(hours: float) -> str:
    return (NOW + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def detail_fp(api: ApiWorld, alert_id: str) -> str:
    """The fingerprint stored for `alert_id`."""
    with api.engine.connect() as conn:
        return str(
            conn.execute(
                text("SELECT fingerprint FROM alerts WHERE alert_id = :a"), {"a": alert_id}
            ).scalar_one()
        )


def test_distribution_and_summary_take_the_filters(known: ApiWorld) -> None:
    window = {"from_time": "2026-03-01T00:00:00Z", "to_time": "2026-03-04T00:00:00Z"}
    h = known.headers("viewer")
    with known.engine.begin() as conn:  # resolved 2 h 30 min after its first alert
        conn.execute(
            text(
                "UPDATE incidents SET status = 'resolved', "
                "resolved_at = first_alert_at + interval '150 minutes' WHERE number = 2"
            )
        )
    body = known.client.get(f"{BASE}/incidents/distribution", params=window, headers=h).json()
    assert [d["date"] for d in body["incidents"]] == ["2026-03-01", "2026-03-02", "2026-03-03"]
    assert [d["counts"] for d in body["incidents"]] == [
        {"LOW": 0, "MEDIUM": 0, "HIGH": 1, "": 0},
        {"LOW": 0, "MEDIUM": 0, "HIGH": 1, "": 0},
        {"LOW": 2, "MEDIUM": 1, "HIGH": 0, "": 0},
    ]
    assert body["incidents"][2]["counts_by_impact"] == {"LOW": 2, "MEDIUM": 0, "HIGH": 1}
    only = known.client.get(
        f"{BASE}/incidents/distribution", params={**window, "project_ids": "24"}, headers=h
    ).json()
    assert sum(d["counts"]["HIGH"] for d in only["incidents"]) == 1
    summary = known.client.get(
        f"{BASE}/incidents/summary", params={**window, "severities": "HIGH"}, headers=h
    ).json()
    assert (summary["total"], summary["open"], summary["closed"]) == (2, 1, 1)
    assert summary["open_by_tag"] == {"prod": 1} and summary["closed_by_tag"] == {}
    assert summary["mean_time_to_resolve"] == 3  # 2.5 h, rounded half up to whole hours
    assert summary["previous_mean_time_to_resolve"] is None
    bad = known.client.get(f"{BASE}/incidents/summary", params={"severities": "urgent"}, headers=h)
    assert bad.status_code == 422


def test_alerts_by_filters(known: ApiWorld) -> None:
    h = known.headers("viewer")

    def post(body: Any) -> list[str]:
        response = known.client.post(
            f"{BASE}/configuration/alerts/by_filters", json=body, headers=h
        )
        assert response.status_code == 200, response.text
        return [a["job_id"] for a in response.json()]

    assert post({}) == ["k1", "k2", "k3", "k4", "k5"]
    assert post({"sources": ["snow_cust", "raw"]}) == ["k3", "k5"]
    # to the millisecond: a time with microseconds finds the alert at that millisecond
    assert post({"upload_dates": ["2026-03-02T09:00:00.000400Z"]}) == ["k2"]
    fingerprint = detail_fp(known, "k4")
    assert post({"violation_names": [fingerprint], "sources": ["island"]}) == ["k4"]
    assert post({"violation_names": [fingerprint], "sources": ["raw"]}) == []
    for bad in ({"source": ["x"]}, {"sources": "x"}, {"upload_dates": ["yesterday"]}):
        response = known.client.post(f"{BASE}/configuration/alerts/by_filters", json=bad, headers=h)
        assert response.status_code == 422, bad


def test_the_openapi_document_declares_the_routes_and_their_error_bodies(api: ApiWorld) -> None:
    document = api.client.get("/openapi.json").json()
    paths = {p for p in document["paths"] if p.startswith("/api/backend/{tenant}/")}
    assert paths == {
        f"/api/backend/{{tenant}}/{p}"
        for p in (
            "incidents",
            "incidents/{incidentId}",
            "incidents/distribution",
            "incidents/summary",
            "configuration/alerts/by_filters",
        )
    }
    listed = document["paths"]["/api/backend/{tenant}/incidents"]["get"]
    names = {p["name"] for p in listed["parameters"]}
    assert {
        "project_ids",
        "connection_types",
        "alert_policy_ids",
        "severities",
        "impacts",
        "connection_ids",
        "from_time",
        "to_time",
        "text_to_search",
    } <= names
    for code in ("401", "403", "404", "422"):
        schema = listed["responses"][code]["content"]["application/json"]["schema"]
        assert schema["$ref"].endswith("/ApiError"), code


def test_access_rules(known: ApiWorld) -> None:
    c = known.client
    assert c.get(f"{BASE}/incidents").status_code == 401
    assert c.get(f"{BASE}/incidents", headers={"Authorization": "Bearer nope"}).status_code == 401
    outsider = known.headers("outsider")
    for path in ("/incidents", "/incidents/1", "/incidents/summary"):
        assert c.get(f"{BASE}{path}", headers=outsider).status_code == 404
    assert c.get("/api/backend/nowhere/incidents", headers=known.headers()).status_code == 404
    plain = c.get("/api/backend/plain/incidents", headers=known.headers("editor"))
    assert plain.status_code == 403 and "quality.incidents" in plain.json()["detail"]
    viewer = known.headers("viewer")
    assert c.get(f"{BASE}/incidents/9", headers=viewer).status_code == 404
    assert c.get(f"{BASE}/incidents/abc", headers=viewer).status_code == 422
    # the outsider's own tenant has no incident 1
    assert c.get("/api/backend/other/incidents/1", headers=outsider).status_code == 404


def test_a_list_costs_the_same_statements_for_5_or_45_incidents(known: ApiWorld) -> None:
    engine = known.client.app.state.incidentd.engine  # type: ignore[attr-defined]
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    def cost(**params: Any) -> int:
        statements.clear()
        event.listen(engine, "before_cursor_execute", count)
        try:
            assert _numbers(known, **params)
        finally:
            event.remove(engine, "before_cursor_execute", count)
        return len(statements)

    filters = {"project_ids": "0,24,7", "alert_policy_ids": "4,5,schema,x", "text_to_search": "o"}
    small = cost(**filters), cost()
    known.alerts(
        *[
            {
                "alert_id": f"bulk{n}",
                "product_id": f"lonely{n}",
                "occurred_at": "2026-03-03T09:00:00Z",
                "check": _check("4", "prod checks"),
            }
            for n in range(40)
        ]
    )
    assert _numbers(known, alert_policy_ids="4")[-1] == 45
    assert (cost(**filters), cost()) == small
