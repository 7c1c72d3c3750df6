"""Seed 001 over HTTP: an incident's history of merges, resolutions and reopenings."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from tests.support.api import ApiWorld
from tests.support.insights import BASE, _get, _t

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


def test_a_recovery_stored_before_its_failure_resolves_the_incident_when_it_arrives(
    api: ApiWorld,
) -> None:
    recovery = {
        "alert_id": "late-ok",
        "product_id": "island",
        "status": "resolved",
        "fingerprint": "island/rows",
        "occurred_at": "2026-02-27T11:00:00Z",
    }
    api.alerts(recovery)  # no incident yet: stored unassigned
    with api.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM incidents")).scalar() == 0
    api.alerts(
        {
            "alert_id": "late-fail",
            "product_id": "island",
            "fingerprint": "island/rows",
            "occurred_at": "2026-02-27T10:00:00Z",
        }
    )
    with api.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT alert_id, incident_id, added_at FROM alerts ORDER BY alert_id")
        ).all()
        incident = str(rows[0].incident_id)
        assert [(r.alert_id, str(r.incident_id)) for r in rows] == [
            ("late-fail", incident),
            ("late-ok", incident),
        ]
        assert all(r.added_at is not None for r in rows)
    body = _get(api, f"/incidents/{incident}")
    assert body["status"] == "resolved" and body["alert_count"] == 2
    assert _steps(_history(api, incident)) == [
        ("NEW", ["late-fail", "late-ok"], {}),
        ("RESOLVED", ["late-ok"], {}),
    ]
