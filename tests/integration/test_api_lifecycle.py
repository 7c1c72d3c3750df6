"""The life cycle over HTTP: timelines with the problem's times, recoveries shared by several
incidents, merged incidents that still show their alerts and their blast radius snapshot."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from tests.support.api import SPACE, ApiWorld

BASE = f"/spaces/{SPACE}/incidents"
CHECK = "finance/mart/not_null"


def _get(api: ApiWorld, path: str) -> Any:
    response = api.client.get(f"{BASE}/{path}", headers=api.headers("viewer"))
    assert response.status_code == 200, response.text
    return response.json()


def _by_products(api: ApiWorld) -> dict[tuple[str, ...], dict[str, Any]]:
    page = api.client.get(BASE, headers=api.headers()).json()
    return {tuple(i["products"]): i for i in page["items"]}


def test_one_recovery_resolves_both_incidents_and_both_timelines_show_it(api: ApiWorld) -> None:
    api.alerts(
        {"alert_id": "m1", "product_id": "mart", "fingerprint": CHECK,
         "occurred_at": "2026-02-27T00:00:00Z"},
        {"alert_id": "m2", "product_id": "mart", "fingerprint": CHECK,
         "occurred_at": "2026-02-27T08:00:00Z"},
    )  # fmt: skip
    api.alerts(
        {"alert_id": "ok", "product_id": "mart", "fingerprint": CHECK, "status": "resolved",
         "occurred_at": "2026-02-27T09:30:00Z"},
    )  # fmt: skip
    with api.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT id, status, resolved_at FROM incidents ORDER BY first_alert_at")
        ).all()
    older, newer = (str(r.id) for r in rows)
    for incident in (older, newer):
        body = _get(api, incident)
        assert body["status"] == "resolved" and body["resolved_at"] == "2026-02-27T09:30:00Z"
        assert body["alert_count"] == (1 if incident == older else 2)
        steps = _get(api, f"{incident}/timeline")
        assert [(s["alert_id"], s["status"]) for s in steps][-1] == ("ok", "resolved")
        assert steps[-1]["occurred_at"] == "2026-02-27T09:30:00Z"
        assert steps[-1]["incident_id"] == newer, "stored once, with the newer incident"
        assert steps[0]["status"] == "firing" and steps[0]["incident_id"] == incident
    assert [a["alert_id"] for a in _get(api, older)["alerts"]] == ["m1", "ok"]


def test_a_merged_incident_still_shows_its_alerts_where_they_went(api: ApiWorld) -> None:
    api.alerts({"alert_id": "m1", "product_id": "raw", "occurred_at": "2026-02-27T00:00:00Z"})
    api.alerts(
        {"alert_id": "m2", "product_id": "clean", "occurred_at": "2026-02-27T07:00:00Z"},
        {"alert_id": "m2b", "product_id": "clean", "occurred_at": "2026-02-27T07:01:00Z"},
    )
    with api.engine.connect() as conn:
        newer = str(
            conn.execute(text("SELECT id FROM incidents ORDER BY created_at DESC, id")).first()[0]  # type: ignore[index]
        )
    snapshot = _get(api, newer)["blast_radius_snapshot"]
    # 3.5 h from both: relates to both incidents, which merge into the older one
    api.alerts({"alert_id": "m3", "product_id": "raw", "occurred_at": "2026-02-27T03:30:00Z"})
    merged = _get(api, newer)
    target = merged["merged_into"]
    assert target is not None and merged["status"] == "resolved"
    assert [(a["alert_id"], a["incident_id"]) for a in merged["alerts"]] == [
        ("m2", target),
        ("m2b", target),
    ]
    assert merged["alert_count"] == 2
    steps = _get(api, f"{newer}/timeline")
    assert [(s["alert_id"], s["incident_id"], s["status"]) for s in steps] == [
        ("m2", target, "firing"),
        ("m2b", target, "firing"),
    ]
    assert sorted(p["product_id"] for p in merged["blast_radius"]) == snapshot
    # the lineage changes later: the merged incident keeps its snapshot
    api.client.post(
        f"/spaces/{SPACE}/edges",
        json={"upstream": "clean", "downstream": "island"},
        headers=api.headers("admin"),
    )
    again = _get(api, newer)
    assert sorted(p["product_id"] for p in again["blast_radius"]) == snapshot


def _history(api: ApiWorld, incident: str) -> list[tuple[str, str | None]]:
    return [(h["state"], h["detail"].get("action")) for h in _get(api, f"{incident}/history")]


def _version(api: ApiWorld, incident: str) -> int:
    return int(_get(api, incident)["version"])


def test_a_patch_that_changes_nothing_writes_nothing(api: ApiWorld) -> None:
    api.alerts({"alert_id": "a1", "product_id": "raw", "occurred_at": "2026-02-27T14:00:00Z"})
    incident = api.incident_of("raw")
    h = api.headers("editor")
    first = api.client.patch(
        f"{BASE}/{incident}", json={"root_cause": "ETL", "severity": "low"}, headers=h
    )
    assert first.status_code == 200
    version, steps = first.json()["version"], len(_history(api, incident))
    for body in (
        {},
        {"root_cause": None, "status": None, "severity": None, "description": None},
        {"root_cause": "ETL", "severity": "low", "status": "open"},
        {"root_product_id": "raw"},
    ):
        same = api.client.patch(f"{BASE}/{incident}", json=body, headers=h)
        assert same.status_code == 200 and same.json()["version"] == version, body
    assert len(_history(api, incident)) == steps
    with api.engine.connect() as conn:
        events = conn.execute(
            text("SELECT count(*) FROM outbox WHERE key = :k AND channel = 'kafka'"),
            {"k": incident},
        ).scalar_one()
    assert events == 2  # created, updated once
    changed = api.client.patch(
        f"{BASE}/{incident}", json={"root_cause": "ETL", "description": "late"}, headers=h
    )
    assert changed.json()["version"] == version + 1
    assert _get(api, f"{incident}/history")[-1]["detail"]["changed"] == ["description"]


def test_actions_on_a_resolved_incident_are_recorded_as_such(api: ApiWorld) -> None:
    api.alerts({"alert_id": "a1", "product_id": "raw", "occurred_at": "2026-02-27T14:00:00Z"})
    incident = api.incident_of("raw")
    h = api.headers("editor")
    assert api.client.post(f"{BASE}/{incident}/resolve", headers=h).status_code == 200
    assert (
        api.client.post(
            f"{BASE}/{incident}/link-ticket", json={"ticket_id": "DQ-7"}, headers=h
        ).json()["status"]
        == "resolved"
    )
    assert api.client.patch(f"{BASE}/{incident}", json={"root_cause": "x"}, headers=h).is_success
    notified = api.client.post(f"{BASE}/{incident}/notify-downstream", headers=h)
    assert notified.status_code == 200 and notified.json()["newly_notified"]
    assert _history(api, incident)[-4:] == [
        ("RESOLVED", "incident.resolved"),
        ("RESOLVED", "incident.ticket_linked"),
        ("RESOLVED", "incident.updated"),
        ("RESOLVED", "incident.downstream_notified"),
    ]
    reopened = api.client.patch(f"{BASE}/{incident}", json={"status": "investigating"}, headers=h)
    assert reopened.json()["resolved_at"] is None
    assert _history(api, incident)[-1] == ("REOPENED", "incident.reopened")
    api.client.post(f"{BASE}/{incident}/link-ticket", json={"ticket_id": "DQ-8"}, headers=h)
    assert _history(api, incident)[-1] == ("ONGOING", "incident.ticket_linked")


def test_a_merged_incident_is_read_only_and_errors_are_mapped_once(api: ApiWorld) -> None:
    api.alerts({"alert_id": "m1", "product_id": "raw", "occurred_at": "2026-02-27T00:00:00Z"})
    api.alerts({"alert_id": "m2", "product_id": "raw", "occurred_at": "2026-02-27T07:00:00Z"})
    api.alerts({"alert_id": "m3", "product_id": "raw", "occurred_at": "2026-02-27T03:30:00Z"})
    with api.engine.connect() as conn:
        merged, target = (
            str(v)
            for v in conn.execute(
                text("SELECT id, merged_into FROM incidents WHERE merged_into IS NOT NULL")
            ).one()
        )
    h = api.headers("editor")
    version = _version(api, merged)
    for method, path, body in (
        ("PATCH", "", {"description": "dup"}),
        ("PATCH", "", {"status": "open"}),
        ("POST", "/resolve", None),
        ("POST", "/link-ticket", {"ticket_id": "DQ-1"}),
        ("POST", "/notify-downstream", None),
    ):
        answer = api.client.request(method, f"{BASE}/{merged}{path}", json=body, headers=h)
        assert answer.status_code == 409, (path, answer.text)
        assert answer.json() == {"detail": f"incident was merged into {target}; work on that one"}
    assert _version(api, merged) == version
    outside = api.client.patch(f"{BASE}/{target}", json={"root_product_id": "mart"}, headers=h)
    assert outside.status_code == 422 and "root_product_id" in outside.json()["detail"]
    missing = api.client.post(f"{BASE}/00000000-0000-0000-0000-000000000000/resolve", headers=h)
    assert missing.status_code == 404 and "not found" in missing.json()["detail"]


def test_openapi_declares_the_error_bodies(api: ApiWorld) -> None:
    document = api.client.get("/openapi.json").json()
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/ApiError"}}}
    assert set(document["components"]["schemas"]["ApiError"]["properties"]) == {"detail", "errors"}
    patch = document["paths"]["/spaces/{slug}/incidents/{incident_id}"]["patch"]["responses"]
    for code in ("401", "403", "404", "409", "422"):
        assert patch[code]["content"] == error, code
    listing = document["paths"]["/spaces/{slug}/incidents"]["get"]["responses"]
    assert {"401", "403", "404", "422"} <= set(listing) and "409" not in listing
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for code in ("401", "422"):
                assert operation["responses"][code]["content"] == error, (path, method, code)
