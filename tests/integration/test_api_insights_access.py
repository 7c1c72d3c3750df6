"""Seed 001 over HTTP: who may call the insight routes, and their place in the OpenAPI document."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.api import SPACE, ApiWorld
from tests.support.insights import _get

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
