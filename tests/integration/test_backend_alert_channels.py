"""Seed 001's alert notification fields read the channels that told about the incident."""

from __future__ import annotations

from typing import Any

from incidentd.storage.subscriptions import record_told
from tests.support.api import SPACE, ApiWorld

BY_FILTERS = f"/api/backend/{SPACE}/configuration/alerts/by_filters"


def _notification_fields(api: ApiWorld) -> list[tuple[Any, ...]]:
    answer = api.client.post(BY_FILTERS, json={"sources": ["raw"]}, headers=api.headers("viewer"))
    assert answer.status_code == 200, answer.text
    return [
        (a["job_id"], a["notification_channels"], a["is_notified"], a["is_notification_enabled"])
        for a in answer.json()
    ]


def test_alerts_show_the_channels_that_told_about_their_incident(api: ApiWorld) -> None:
    api.alerts(
        {"alert_id": "n1", "product_id": "raw", "occurred_at": "2026-03-02T10:00:00Z"},
        {"alert_id": "n2", "product_id": "island", "occurred_at": "2026-03-02T10:00:00Z"},
    )
    assert _notification_fields(api) == [("n1", [], False, False)]
    created = api.client.post(
        f"/spaces/{SPACE}/subscriptions",
        json={"channel": "webhook", "target": "https://hooks.example.com/x"},
        headers=api.headers("admin"),
    )
    assert created.status_code == 201, created.text
    assert _notification_fields(api) == [("n1", [], False, True)]
    with api.engine.begin() as conn:
        record_told(conn, api.incident_of("raw"), "webhook")
        record_told(conn, api.incident_of("raw"), "email")
        record_told(conn, api.incident_of("island"), "slack")  # another incident's channel
    assert _notification_fields(api) == [("n1", ["email", "webhook"], True, True)]
