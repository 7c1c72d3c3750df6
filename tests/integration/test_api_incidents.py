"""Seed 000 over HTTP: auth outcomes, list, get, timeline, PATCH, resolve, link-ticket."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from sqlalchemy import text

from tests.support.api import SPACE, ApiWorld

BASE = f"/spaces/{SPACE}/incidents"


def _cascade(api: ApiWorld) -> str:
    api.alerts(
        {"alert_id": "a1", "product_id": "raw", "occurred_at": "2026-02-27T14:00:00Z"},
        {
            "alert_id": "a2",
            "product_id": "clean",
            "severity": "critical",
            "occurred_at": "2026-02-27T14:05:00Z",
        },
        {
            "alert_id": "a3",
            "product_id": "island",
            "occurred_at": "2026-02-27T14:06:00Z",
            "severity": "low",
        },
    )
    return api.incident_of("raw")


def test_auth_outcomes(api: ApiWorld) -> None:
    c = api.client
    assert c.get(BASE).status_code == 401
    assert c.get(BASE, headers={"Authorization": "Bearer nope"}).status_code == 401
    assert c.get(BASE, headers={"Authorization": "Basic abc"}).status_code == 401
    outsider = {"Authorization": f"Bearer {api.tokens['outsider']}"}
    missing = c.get(BASE, headers=outsider)
    assert missing.status_code == 404 and "not found" in missing.json()["detail"]
    assert c.get("/spaces/nowhere/incidents", headers=outsider).status_code == 404
    plain = c.get("/spaces/plain/incidents", headers=api.headers("editor"))
    assert plain.status_code == 403 and "quality.incidents" in plain.json()["detail"]
    incident = _cascade(api)
    denied = c.post(f"{BASE}/{incident}/resolve", headers=api.headers("viewer"))
    assert denied.status_code == 403 and "viewer" in denied.json()["detail"]
    assert c.get(f"{BASE}/{incident}", headers=api.headers("viewer")).status_code == 200


def test_list_get_and_timeline(api: ApiWorld) -> None:
    incident = _cascade(api)
    page = api.client.get(BASE, headers=api.headers("viewer")).json()
    assert page["total"] == 2 and len(page["items"]) == 2
    one = api.client.get(BASE, params={"limit": 1, "skip": 1}, headers=api.headers()).json()
    assert one["total"] == 2 and len(one["items"]) == 1
    for bad in ({"limit": 0}, {"limit": 201}, {"skip": -1}, {"status": "bogus"}):
        response = api.client.get(BASE, params=bad, headers=api.headers())
        assert response.status_code == 422 and response.json()["detail"]
    detail = api.client.get(f"{BASE}/{incident}", headers=api.headers()).json()
    assert detail["root_product_id"] == "raw"
    assert [a["alert_id"] for a in detail["alerts"]] == ["a1", "a2"]
    radius = {p["product_id"]: p for p in detail["blast_radius"]}
    assert {k: v["hops"] for k, v in radius.items()} == {
        "raw": 0,
        "clean": 0,
        "mart": 1,
        "report": 2,
    }
    assert radius["report"]["tier"] == "critical" and radius["mart"]["owners"] == ["bo@example.com"]
    assert radius["clean"]["stewards"] == ["st@example.com"] and radius["raw"]["alerted"]
    assert detail["created_at"].endswith("Z")
    steps = api.client.get(f"{BASE}/{incident}/timeline", headers=api.headers()).json()
    assert [s["alert_id"] for s in steps] == ["a1", "a2"]
    assert steps[1]["severity"] == "critical" and steps[0]["alert_type"] == "quality_check_failed"
    missing = api.client.get(f"{BASE}/00000000-0000-0000-0000-000000000000", headers=api.headers())
    assert missing.status_code == 404
    assert api.client.get(f"{BASE}/not-a-uuid", headers=api.headers()).status_code == 404


def _events(api: ApiWorld, incident: str) -> list[dict[str, Any]]:
    with api.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT payload FROM outbox WHERE key = :k AND channel = 'kafka' ORDER BY id"),
            {"k": incident},
        )
        return [orjson.loads(bytes(r[0])) for r in rows]


def test_patch_sticks_against_correlation_and_emits_events(api: ApiWorld) -> None:
    incident = _cascade(api)
    h = api.headers("editor")
    body = {
        "severity": "low",
        "root_product_id": "clean",
        "root_cause": "ETL",
        "status": "investigating",
    }
    patched = api.client.patch(f"{BASE}/{incident}", json=body, headers=h)
    assert patched.status_code == 200, patched.text
    got = patched.json()
    assert (got["severity"], got["root_product_id"], got["status"]) == (
        "low",
        "clean",
        "investigating",
    )
    api.alerts(
        {
            "alert_id": "a4",
            "product_id": "mart",
            "severity": "critical",
            "occurred_at": "2026-02-27T14:10:00Z",
        }
    )
    after = api.client.get(f"{BASE}/{incident}", headers=h).json()
    assert after["alert_count"] == 3
    assert (after["severity"], after["root_product_id"]) == ("low", "clean")
    events = _events(api, incident)
    assert [e["event_type"] for e in events] == [
        "incident.created",
        "incident.updated",
        "incident.alert_added",
    ]
    versions = [e["incident"]["version"] for e in events]
    assert versions == sorted(versions) and len(set(versions)) == len(versions)
    for bad in ({"severity": "urgent"}, {"unknown": 1}, {"root_product_id": "report"}):
        assert api.client.patch(f"{BASE}/{incident}", json=bad, headers=h).status_code == 422


def test_resolve_and_link_ticket(api: ApiWorld) -> None:
    incident = _cascade(api)
    h = api.headers("editor")
    resolved = api.client.post(f"{BASE}/{incident}/resolve", headers=h).json()
    assert resolved["status"] == "resolved" and resolved["resolved_at"].endswith("Z")
    linked = api.client.post(
        f"{BASE}/{incident}/link-ticket", json={"ticket_id": "DQ-42"}, headers=h
    )
    assert linked.json()["ticket_id"] == "DQ-42"
    assert api.client.post(f"{BASE}/{incident}/link-ticket", json={}, headers=h).status_code == 422
    kinds = [e["event_type"] for e in _events(api, incident)]
    assert kinds[-2:] == ["incident.resolved", "incident.ticket_linked"]
    with api.engine.connect() as conn:
        states = [
            r[0]
            for r in conn.execute(
                text("SELECT state FROM incident_history WHERE incident_id = :i ORDER BY id"),
                {"i": incident},
            )
        ]
    assert states[-2] == "RESOLVED"
    reopened = api.client.patch(f"{BASE}/{incident}", json={"status": "open"}, headers=h).json()
    assert reopened["status"] == "open" and reopened["resolved_at"] is None


@pytest.mark.parametrize("role", ["editor", "admin"])
def test_writers(api: ApiWorld, role: str) -> None:
    incident = _cascade(api)
    r = api.client.patch(f"{BASE}/{incident}", json={"description": "x"}, headers=api.headers(role))
    assert r.status_code == 200 and r.json()["description"] == "x"


def test_list_filters_accept_commas_any_case_and_check_times(api: ApiWorld) -> None:
    _cascade(api)
    h = api.headers()
    got = api.client.get(BASE, params={"severities": "CRITICAL,info"}, headers=h).json()
    assert [i["severity"] for i in got["items"]] == ["critical"]
    low = api.client.get(BASE, params=[("severities", "low"), ("severities", "high")], headers=h)
    assert [i["products"] for i in low.json()["items"]] == [["island"]]
    tagged = api.client.get(BASE, params={"product_ids": "island,nowhere"}, headers=h).json()
    assert tagged["total"] == 1
    text_hit = api.client.get(BASE, params={"text_to_search": "Raw"}, headers=h).json()
    assert text_hit["total"] == 1 and text_hit["items"][0]["root_product_id"] == "raw"
    for bad in (
        {"severities": "urgent"},
        {"from_time": "2026-01-01T00:00:00"},
        {"from_time": "0001-01-01T00:00:00+14:00"},
        {"from_time": "2026-02-01T00:00:00Z", "to_time": "2026-01-01T00:00:00Z"},
    ):
        response = api.client.get(BASE, params=bad, headers=h)
        assert response.status_code == 422, (bad, response.text)


def test_a_merged_incident_shows_its_count_at_the_merge_everywhere(api: ApiWorld) -> None:
    api.alerts({"alert_id": "m1", "product_id": "raw", "occurred_at": "2026-02-27T00:00:00Z"})
    api.alerts(
        {"alert_id": "m2", "product_id": "raw", "occurred_at": "2026-02-27T07:00:00Z"},
        {"alert_id": "m2b", "product_id": "raw", "occurred_at": "2026-02-27T07:01:00Z"},
    )
    # 3.5 h from both: relates to both incidents, which merge into the older one
    api.alerts({"alert_id": "m3", "product_id": "raw", "occurred_at": "2026-02-27T03:30:00Z"})

    def stored() -> tuple[str, str, int]:
        with api.engine.connect() as conn:
            row = conn.execute(
                text(
                    "SELECT id, merged_into, alert_count FROM incidents "
                    "WHERE merged_into IS NOT NULL"
                )
            ).one()
        return str(row.id), str(row.merged_into), int(row.alert_count)

    merged, target, count = stored()
    assert count == 2  # as in its incident.merged event
    h = api.headers("editor")
    one = api.client.get(f"{BASE}/{merged}", headers=h).json()
    assert one["alert_count"] == 2  # its alerts moved, and it says where they went
    assert {(a["alert_id"], a["incident_id"]) for a in one["alerts"]} == {
        ("m2", target),
        ("m2b", target),
    }
    # a merged incident is read-only (issue 10): an edit is refused and changes nothing
    patched = api.client.patch(f"{BASE}/{merged}", json={"description": "dup"}, headers=h)
    assert patched.status_code == 409 and target in patched.json()["detail"]
    assert stored() == (merged, target, 2)
    survivor = api.client.get(f"{BASE}/{target}", headers=h).json()
    assert survivor["alert_count"] == 4 == len(survivor["alerts"])
