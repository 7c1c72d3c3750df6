"""HTTP intake on a real database: alert events and tool documents queued for `dq.alerts`,
rejections named, unusable or oversized bodies queue nothing, and the `ingest` role."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from sqlalchemy import text

from incidentd.api.routes.intake import MAX_DOCUMENT_BYTES
from incidentd.storage.users import create_user
from tests.support.api import SPACE, ApiWorld
from tests.support.intake import ChecksSource, registered

EVENT = {
    "schema_version": 1,
    "alert_type": "quality_check_failed",
    "severity": "high",
    "occurred_at": "2026-02-27T14:00:00Z",
}


@pytest.fixture
def world(api: ApiWorld) -> Iterator[ApiWorld]:
    """The API world plus an `ingest` token of the finance space and a `checks` tool."""
    with api.engine.begin() as conn:
        api.tokens["ingest"] = create_user(conn, "pipeline@example.com", SPACE, "ingest")
    with registered(ChecksSource()):
        yield api


def queued(world: ApiWorld) -> list[tuple[str, str, dict[str, Any]]]:
    """(topic, key, alert) of every outbox row, in order."""
    with world.engine.connect() as conn:
        rows = conn.execute(text("SELECT topic, key, payload FROM outbox ORDER BY id")).fetchall()
    return [(r.topic, r.key, orjson.loads(bytes(r.payload))) for r in rows]


def test_alert_events_are_queued_keyed_by_space(world: ApiWorld) -> None:
    body = [
        {**EVENT, "alert_id": "a1", "product_id": "raw"},
        {**EVENT, "alert_id": "a2", "product_id": "somewhere/new", "space": SPACE},
    ]
    answer = world.client.post(
        f"/spaces/{SPACE}/alerts", json=body, headers=world.headers("ingest")
    )
    assert answer.status_code == 202, answer.text
    assert answer.json() == {
        "detail": None,
        "space": SPACE,
        "source": "alerts",
        "accepted": 2,
        "rejected": 0,
        "unresolved": 1,
        "unresolved_targets": ["somewhere/new"],
        "rejections": [],
    }
    rows = queued(world)
    assert [(t, k, a["alert_id"]) for t, k, a in rows] == [
        ("dq.alerts", SPACE, "a1"),
        ("dq.alerts", SPACE, "a2"),
    ]


def test_rejected_items_are_named_and_the_others_queued(world: ApiWorld) -> None:
    body = [
        {**EVENT, "alert_id": "ok", "product_id": "raw"},
        {**EVENT, "alert_id": "other-space", "product_id": "raw", "space": "other"},
        {**EVENT, "alert_id": "no-product"},
        42,
    ]
    answer = world.client.post(f"/spaces/{SPACE}/alerts", json=body, headers=world.headers())
    assert answer.status_code == 422
    report = answer.json()
    assert report["accepted"] == 1 and report["rejected"] == 3
    assert "3 item(s) rejected" in report["detail"]
    reasons = {r["item"]: r["reason"] for r in report["rejections"]}
    assert reasons["[1] other-space"] == "alert is of space 'other', not 'finance'"
    assert "product_id" in reasons["[2] no-product"]
    assert reasons["[3]"] == "an alert event must be a JSON object"
    assert [a["alert_id"] for _, _, a in queued(world)] == ["ok"]


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"[{", "body is not valid JSON"),
        (b'{"alert_id": "x"}', "must be a JSON array of alert events"),
    ],
)
def test_an_unusable_body_queues_nothing(world: ApiWorld, body: bytes, detail: str) -> None:
    answer = world.client.post(
        f"/spaces/{SPACE}/alerts",
        content=body,
        headers={**world.headers("admin"), "Content-Type": "application/json"},
    )
    assert answer.status_code == 422
    assert detail in answer.json()["detail"]
    assert queued(world) == []


def test_a_tool_document_is_mapped_against_the_catalog(world: ApiWorld) -> None:
    document = {"checks": [{"target": "clean"}, {"target": "warehouse/unknown"}, {}]}
    answer = world.client.post(
        f"/spaces/{SPACE}/alerts/checks", json=document, headers=world.headers("ingest")
    )
    assert answer.status_code == 422
    report = answer.json()
    assert (report["source"], report["accepted"], report["rejected"]) == ("checks", 2, 1)
    assert report["unresolved_targets"] == ["warehouse/unknown"]
    assert report["rejections"] == [{"item": "checks[2]", "reason": "no target"}]
    assert [a["product_id"] for _, _, a in queued(world)] == ["clean", "warehouse/unknown"]


def test_an_unusable_tool_document_queues_nothing(world: ApiWorld) -> None:
    answer = world.client.post(
        f"/spaces/{SPACE}/alerts/checks", json={"checkz": []}, headers=world.headers()
    )
    assert answer.status_code == 422
    assert answer.json()["detail"] == "unusable checks document: document has no 'checks'"
    answer = world.client.post(f"/spaces/{SPACE}/alerts/checks", json=[], headers=world.headers())
    assert answer.status_code == 422
    assert answer.json()["detail"] == "a checks document must be a JSON object"
    assert queued(world) == []


def test_a_wrong_tool_is_404_with_the_list_of_tools(world: ApiWorld) -> None:
    answer = world.client.post(f"/spaces/{SPACE}/alerts/nagios", json={}, headers=world.headers())
    assert answer.status_code == 404
    assert answer.json()["detail"].startswith("no tool 'nagios'; the tools are: ")
    assert "checks" in answer.json()["detail"]


def test_an_oversized_body_is_refused_and_queues_nothing(world: ApiWorld) -> None:
    item = {**EVENT, "alert_id": "big", "product_id": "raw", "description": "x" * 1000}
    body = orjson.dumps([item] * (MAX_DOCUMENT_BYTES // 1000 + 1))
    answer = world.client.post(
        f"/spaces/{SPACE}/alerts",
        content=body,
        headers={**world.headers("ingest"), "Content-Type": "application/json"},
    )
    assert answer.status_code == 413
    assert str(MAX_DOCUMENT_BYTES) in answer.json()["detail"]
    assert queued(world) == []


def test_who_may_post_alerts(world: ApiWorld) -> None:
    body = [{**EVENT, "alert_id": "who", "product_id": "raw"}]
    path = f"/spaces/{SPACE}/alerts"
    assert world.client.post(path, json=body).status_code == 401
    viewer = world.client.post(path, json=body, headers=world.headers("viewer"))
    assert viewer.status_code == 403
    outsider = world.client.post(path, json=body, headers=world.headers("outsider"))
    assert outsider.status_code == 404
    assert outsider.json()["detail"] == "space 'finance' not found"
    unknown = world.client.post("/spaces/nope/alerts", json=body, headers=world.headers())
    assert unknown.status_code == 404
    assert queued(world) == []


def test_an_ingest_token_may_only_post_alerts(world: ApiWorld) -> None:
    ingest = world.headers("ingest")
    for method, path in [
        ("GET", f"/spaces/{SPACE}/incidents"),
        ("GET", f"/spaces/{SPACE}/alerts"),
        ("GET", f"/spaces/{SPACE}/products"),
        ("PUT", f"/spaces/{SPACE}/products/p"),
        ("POST", f"/spaces/{SPACE}/edges"),
    ]:
        answer = world.client.request(method, path, headers=ingest, json={})
        assert answer.status_code == 403, (method, path, answer.text)
        assert answer.json()["detail"] == "role 'ingest' may only post alerts"
    lineage = world.client.post(
        "/api/v1/lineage",
        json={
            "job": {"namespace": "n", "name": "j"},
            "outputs": [{"namespace": "w", "name": "raw"}],
        },
        headers=ingest,
        params={"space": SPACE},
    )
    assert lineage.status_code == 403


def test_a_gzipped_document_is_read_unpacked(world: ApiWorld) -> None:
    document = {"checks": [{"target": "clean"}]}
    answer = world.client.post(
        f"/spaces/{SPACE}/alerts/checks",
        content=gzip.compress(orjson.dumps(document)),
        headers={**world.headers("ingest"), "Content-Encoding": "gzip"},
    )
    assert answer.status_code == 202, answer.text
    assert [a["product_id"] for _, _, a in queued(world)] == ["clean"]
    broken = world.client.post(
        f"/spaces/{SPACE}/alerts",
        content=b"\x1f\x8bnot gzip",
        headers={**world.headers("ingest"), "Content-Encoding": "gzip"},
    )
    assert broken.status_code == 400
    assert len(queued(world)) == 1


def test_an_ingest_member_reads_no_notifications_of_its_space(world: ApiWorld) -> None:
    with world.engine.begin() as conn:  # ana owns `raw`, but may only post alerts to finance
        ana = {"Authorization": f"Bearer {create_user(conn, 'ana@example.com', SPACE, 'ingest')}"}
    world.alerts({"alert_id": "n1", "product_id": "raw", "occurred_at": "2026-02-27T14:00:00Z"})
    incident = world.incident_of("raw")
    told = world.client.post(
        f"/spaces/{SPACE}/incidents/{incident}/notify-downstream", headers=world.headers()
    )
    assert "ana@example.com" in told.json()["newly_notified"]
    with world.engine.connect() as conn:
        (mine,) = conn.execute(
            text("SELECT id FROM notifications WHERE recipient = 'ana@example.com'")
        ).scalars()
    listed = world.client.get("/notifications", headers=ana).json()
    assert (listed["items"], listed["total"], listed["unread"]) == ([], 0, 0)
    assert world.client.post(f"/notifications/{mine}/read", headers=ana).status_code == 404
    assert world.client.post("/notifications/read-all", headers=ana).json()["marked_read"] == 0
