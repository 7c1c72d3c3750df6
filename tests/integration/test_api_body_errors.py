"""A JSON body sent without `Content-Type: application/json` is refused with a 422 that says so."""

from __future__ import annotations

from tests.support.api import SPACE, ApiWorld

FORM = {"Content-Type": "application/x-www-form-urlencoded"}  # what `curl -d` sends


def test_a_body_without_a_json_content_type_is_a_422_naming_the_header(api: ApiWorld) -> None:
    api.alerts({"alert_id": "b1", "product_id": "raw", "occurred_at": "2026-03-02T10:00:00Z"})
    body = b'{"ticket_id": "DQ-42"}'
    for role, path in [
        ("editor", f"/spaces/{SPACE}/incidents/1/link-ticket"),
        ("admin", f"/spaces/{SPACE}/subscriptions"),
        ("viewer", f"/api/backend/{SPACE}/configuration/alerts/by_filters"),
    ]:
        answer = api.client.post(path, content=body, headers={**api.headers(role), **FORM})
        assert answer.status_code == 422, (path, answer.text)
        detail = answer.json()["detail"]
        assert "Content-Type: application/json" in detail, (path, detail)
        assert "application/x-www-form-urlencoded" in detail
    sent = api.client.post(
        f"/spaces/{SPACE}/incidents/1/link-ticket",
        content=body,
        headers={**api.headers(), "Content-Type": "application/json"},
    )
    assert sent.status_code == 200 and sent.json()["ticket_id"] == "DQ-42"
    wrong = api.client.post(
        f"/spaces/{SPACE}/incidents/1/link-ticket", json=["DQ-42"], headers=api.headers()
    )
    assert wrong.status_code == 422 and "Content-Type" not in wrong.json()["detail"]
