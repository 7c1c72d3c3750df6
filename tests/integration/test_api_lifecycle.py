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
