"""Notify downstream over HTTP: exactly the owners and stewards of the blast radius, once.

Also the notification centre (`/notifications`) and what notifying writes: notification rows,
e-mail outbox rows, a history line and an `incident.downstream_notified` event.
"""

from __future__ import annotations

import threading
from typing import Any

import orjson
from sqlalchemy import text

from incidentd.storage.graphs import GraphCache
from incidentd.storage.notifications import NotifyOutcome, notify_downstream
from incidentd.storage.users import create_user
from tests.support.api import SPACE, ApiWorld

BASE = f"/spaces/{SPACE}/incidents"
NOTIFICATIONS = "/notifications"


def _setup(api: ApiWorld) -> dict[str, str]:
    """Stewards on `report` (one is `mart`'s owner in another case); tokens for two owners."""
    with api.engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE products SET stewards = ARRAY[' BO@Example.com ', 'dee@example.com'] "
                "WHERE space = :s AND id = 'report'"
            ),
            {"s": SPACE},
        )
        return {
            who: create_user(conn, f"{who}@example.com", SPACE, "viewer")
            for who in ("bo", "ana", "ivy")
        }


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _mart_incident(api: ApiWorld) -> str:
    """An incident on `mart`: blast radius mart -> report (not raw, clean or island)."""
    api.alerts({"alert_id": "m1", "product_id": "mart", "occurred_at": "2026-02-27T14:00:00Z"})
    return api.incident_of("mart")


def _notify(api: ApiWorld, incident: str, role: str = "editor") -> Any:
    response = api.client.post(f"{BASE}/{incident}/notify-downstream", headers=api.headers(role))
    assert response.status_code == 200, response.text
    return response.json()


def _count(api: ApiWorld, sql: str, **params: object) -> int:
    with api.engine.connect() as conn:
        return int(conn.execute(text(sql), params).scalar_one())


def _sizes(api: ApiWorld) -> tuple[int, ...]:
    """Rows in notifications, outbox and incident_history."""
    tables = ("notifications", "outbox", "incident_history")
    return tuple(_count(api, f"SELECT count(*) FROM {t}") for t in tables)


def _kafka_events(api: ApiWorld, incident: str) -> list[dict[str, Any]]:
    with api.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT payload FROM outbox WHERE key = :k AND channel = 'kafka' ORDER BY id"),
            {"k": incident},
        )
        return [orjson.loads(bytes(r[0])) for r in rows]


def _emails(api: ApiWorld, incident: str) -> list[dict[str, Any]]:
    with api.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT topic, key, payload, incident_id::text AS incident_id, sent_at "
                "FROM outbox WHERE channel = 'email' AND key = :k ORDER BY id"
            ),
            {"k": incident},
        )
        return [
            {
                "topic": r.topic,
                "key": r.key,
                "incident_id": r.incident_id,
                "sent_at": r.sent_at,
                **orjson.loads(bytes(r.payload)),
            }
            for r in rows
        ]


def _history(api: ApiWorld, incident: str) -> list[tuple[str, dict[str, Any], str | None]]:
    with api.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT state, detail, actor FROM incident_history WHERE incident_id = :i "
                "ORDER BY id"
            ),
            {"i": incident},
        )
        return [(r.state, r.detail, r.actor) for r in rows]


def test_notifies_exactly_the_owners_and_stewards_of_the_blast_radius(api: ApiWorld) -> None:
    _setup(api)
    incident = _mart_incident(api)
    radius = api.client.get(f"{BASE}/{incident}", headers=api.headers()).json()
    assert radius["blast_radius_snapshot"] == ["mart", "report"]
    version_before = radius["version"]

    first = _notify(api, incident)
    # bo owns mart and stewards report (case and blanks differ): counted once.
    assert first == {
        "notified_users": 3,
        "affected_products": 2,
        "newly_notified": ["bo@example.com", "cfo@example.com", "dee@example.com"],
        "already_notified": [],
        "new_products": ["mart", "report"],
    }
    with api.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT recipient, products FROM notifications WHERE incident_id = :i"),
            {"i": incident},
        ).fetchall()
    recipients = {r.recipient: sorted(r.products) for r in rows}
    assert recipients == {
        "bo@example.com": ["mart", "report"],
        "cfo@example.com": ["report"],
        "dee@example.com": ["report"],
    }
    # Owners of products outside the radius (raw, clean, island) hear nothing.
    outside = ("ana@example.com", "st@example.com", "ivy@example.com")
    assert not set(outside) & set(recipients)

    emails = _emails(api, incident)
    assert sorted(e["to"] for e in emails) == sorted(recipients)
    for email in emails:
        assert email["topic"] == email["to"] and email["key"] == incident
        assert email["incident_id"] == incident and email["sent_at"] is None
        assert email["subject"].startswith("[high] ") and "\n" not in email["subject"]
        assert f"/spaces/{SPACE}/incidents/{incident}" in email["body"]
        assert "Blast radius (2): mart, report" in email["body"]
        assert "Severity: high" in email["body"]
        assert "Root product: mart" in email["body"]

    events = _kafka_events(api, incident)
    assert events[-1]["event_type"] == "incident.downstream_notified"
    assert events[-1]["incident"]["version"] == version_before + 1
    assert events[-1]["incident_id"] == incident and events[-1]["space"] == SPACE
    after = api.client.get(f"{BASE}/{incident}", headers=api.headers()).json()
    assert after["version"] == version_before + 1

    state, detail, actor = _history(api, incident)[-1]
    assert (state, actor) == ("ONGOING", "editor@example.com")
    assert detail["notified_users"] == 3 and detail["affected_products"] == 2
    assert detail["newly_notified"] == 3 and detail["new_products"] == ["mart", "report"]


def test_second_call_does_not_spam_and_growth_notifies_only_the_new(api: ApiWorld) -> None:
    _setup(api)
    incident = _mart_incident(api)
    _notify(api, incident, role="admin")
    before = _sizes(api)
    events_before = _kafka_events(api, incident)

    again = _notify(api, incident)
    assert again == {
        "notified_users": 3,
        "affected_products": 2,
        "newly_notified": [],
        "already_notified": ["bo@example.com", "cfo@example.com", "dee@example.com"],
        "new_products": [],
    }
    assert _sizes(api) == before  # no notification, e-mail, event or history line
    assert _kafka_events(api, incident) == events_before

    # An alert on `clean` grows the blast radius by `clean` (owner ana, steward st).
    api.alerts({"alert_id": "c1", "product_id": "clean", "occurred_at": "2026-02-27T14:05:00Z"})
    assert api.incident_of("clean") == incident
    grown = api.client.get(f"{BASE}/{incident}", headers=api.headers()).json()
    assert grown["blast_radius_snapshot"] == ["clean", "mart", "report"]

    third = _notify(api, incident)
    assert third == {
        "notified_users": 5,
        "affected_products": 3,
        "newly_notified": ["ana@example.com", "st@example.com"],
        "already_notified": ["bo@example.com", "cfo@example.com", "dee@example.com"],
        "new_products": ["clean"],
    }
    newest = _emails(api, incident)[-2:]
    assert sorted(e["to"] for e in newest) == ["ana@example.com", "st@example.com"]
    assert _count(api, "SELECT count(*) FROM outbox WHERE channel = 'email'") == 5
    events = _kafka_events(api, incident)
    assert [e["event_type"] for e in events[len(events_before) :]] == [
        "incident.alert_added",
        "incident.downstream_notified",
    ]
    versions = [e["incident"]["version"] for e in events]
    assert versions == sorted(versions) and len(set(versions)) == len(versions)
    notified = [d for s, d, _ in _history(api, incident) if "notified_users" in d]
    assert [d["new_products"] for d in notified] == [["mart", "report"], ["clean"]]


def test_a_recipient_whose_products_grew_is_told_about_the_new_ones(api: ApiWorld) -> None:
    tokens = _setup(api)
    incident = _mart_incident(api)
    _notify(api, incident)
    with api.engine.begin() as conn:  # bo now also owns clean, which the next alert adds
        conn.execute(
            text(
                "UPDATE products SET owners = ARRAY['ana@example.com', 'bo@example.com'] "
                "WHERE space = :s AND id = 'clean'"
            ),
            {"s": SPACE},
        )
    api.alerts({"alert_id": "c1", "product_id": "clean", "occurred_at": "2026-02-27T14:05:00Z"})
    result = _notify(api, incident)
    assert result["newly_notified"] == ["ana@example.com", "bo@example.com", "st@example.com"]
    assert result["already_notified"] == ["cfo@example.com", "dee@example.com"]
    page = api.client.get(NOTIFICATIONS, headers=_bearer(tokens["bo"])).json()
    assert [n["products"] for n in page["items"]] == [["clean"], ["mart", "report"]]
    assert "Your products newly affected: clean" in page["items"][0]["body"]


def test_who_may_notify(api: ApiWorld) -> None:
    incident = _mart_incident(api)
    c = api.client
    url = f"{BASE}/{incident}/notify-downstream"
    assert c.post(url).status_code == 401
    denied = c.post(url, headers=api.headers("viewer"))
    assert denied.status_code == 403 and "viewer" in denied.json()["detail"]
    outsider = c.post(url, headers={"Authorization": f"Bearer {api.tokens['outsider']}"})
    assert outsider.status_code == 404
    plain = c.post(f"/spaces/plain/incidents/{incident}/notify-downstream", headers=api.headers())
    assert plain.status_code == 403 and "quality.incidents" in plain.json()["detail"]
    for missing in ("00000000-0000-0000-0000-000000000000", "not-a-uuid"):
        response = c.post(f"{BASE}/{missing}/notify-downstream", headers=api.headers())
        assert response.status_code == 404 and missing in response.json()["detail"]
    assert _count(api, "SELECT count(*) FROM notifications") == 0
    assert _count(api, "SELECT count(*) FROM outbox WHERE channel = 'email'") == 0


def test_a_merged_incident_is_not_notified(api: ApiWorld) -> None:
    incident = _mart_incident(api)
    api.alerts({"alert_id": "i1", "product_id": "island", "occurred_at": "2026-02-27T14:00:00Z"})
    other = api.incident_of("island")
    with api.engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE incidents SET status = 'resolved', resolved_at = now(), merged_into = :o "
                "WHERE id = :i"
            ),
            {"o": other, "i": incident},
        )
    response = api.client.post(f"{BASE}/{incident}/notify-downstream", headers=api.headers())
    assert response.status_code == 409 and other in response.json()["detail"]
    assert _count(api, "SELECT count(*) FROM notifications") == 0


def test_notification_centre(api: ApiWorld) -> None:
    tokens = _setup(api)
    bo, ivy = _bearer(tokens["bo"]), _bearer(tokens["ivy"])
    incident = _mart_incident(api)
    _notify(api, incident)
    # A second incident on island, which bo stewards too: bo has two notifications.
    with api.engine.begin() as conn:
        conn.execute(
            text("UPDATE products SET stewards = ARRAY['bo@example.com'] WHERE id = 'island'")
        )
    api.alerts({"alert_id": "i1", "product_id": "island", "occurred_at": "2026-02-27T15:00:00Z"})
    island = api.incident_of("island")
    assert island != incident
    _notify(api, island)

    c = api.client
    assert c.get(NOTIFICATIONS).status_code == 401
    page = c.get(NOTIFICATIONS, headers=bo).json()
    assert (page["total"], page["unread"]) == (2, 2)
    newest, oldest = page["items"]
    assert (newest["incident_id"], oldest["incident_id"]) == (island, incident)
    assert oldest["products"] == ["mart", "report"] and oldest["space"] == SPACE
    assert oldest["link"] == f"/spaces/{SPACE}/incidents/{incident}"
    assert oldest["read"] is False and oldest["read_at"] is None
    assert oldest["created_at"].endswith("Z") and oldest["title"] and oldest["body"]
    second = c.get(NOTIFICATIONS, params={"skip": 1, "limit": 1}, headers=bo).json()
    assert second["total"] == 2 and [n["id"] for n in second["items"]] == [oldest["id"]]
    for bad in ({"limit": 0}, {"limit": 201}, {"skip": -1}):
        assert c.get(NOTIFICATIONS, params=bad, headers=bo).status_code == 422

    # Other people see their own only and cannot touch bo's.
    assert c.get(NOTIFICATIONS, headers=api.headers("editor")).json() == {
        "items": [],
        "total": 0,
        "unread": 0,
    }
    ivy_page = c.get(NOTIFICATIONS, headers=ivy).json()
    assert [n["incident_id"] for n in ivy_page["items"]] == [island]
    stolen = c.post(f"{NOTIFICATIONS}/{oldest['id']}/read", headers=api.headers("editor"))
    assert stolen.status_code == 404 and stolen.json()["detail"]
    assert c.post(f"{NOTIFICATIONS}/999999/read", headers=bo).status_code == 404

    marked = c.post(f"{NOTIFICATIONS}/{oldest['id']}/read", headers=bo)
    assert marked.status_code == 200
    assert marked.json()["read"] is True and marked.json()["read_at"].endswith("Z")
    again = c.post(f"{NOTIFICATIONS}/{oldest['id']}/read", headers=bo).json()
    assert again["read_at"] == marked.json()["read_at"]  # reading twice keeps the first time
    unread = c.get(NOTIFICATIONS, params={"unread_only": True}, headers=bo).json()
    assert (unread["total"], unread["unread"]) == (1, 1)
    assert [n["id"] for n in unread["items"]] == [newest["id"]]

    assert c.post(f"{NOTIFICATIONS}/read-all", headers=bo).json() == {"marked_read": 1}
    assert c.post(f"{NOTIFICATIONS}/read-all", headers=bo).json() == {"marked_read": 0}
    final = c.get(NOTIFICATIONS, headers=bo).json()
    assert (final["total"], final["unread"]) == (2, 0)
    assert c.get(NOTIFICATIONS, headers=ivy).json()["unread"] == 1  # untouched by bo's read-all


def test_concurrent_calls_notify_once(api: ApiWorld) -> None:
    """The second call waits for the first's space lock and then sees its notifications."""
    incident = _mart_incident(api)
    outcomes: list[NotifyOutcome] = []

    def call() -> None:
        with api.engine.begin() as conn:
            outcomes.append(
                notify_downstream(
                    conn, SPACE, incident, actor="b@example.com", topic="t", graphs=GraphCache()
                )
            )

    with api.engine.begin() as first:
        outcomes.append(
            notify_downstream(
                first, SPACE, incident, actor="a@example.com", topic="t", graphs=GraphCache()
            )
        )
        second = threading.Thread(target=call)
        second.start()
        second.join(0.5)
        assert second.is_alive()  # blocked on the space lock held by the first transaction
    second.join(10)
    assert [o.newly_notified for o in outcomes] == [["bo@example.com", "cfo@example.com"], []]
    assert _count(api, "SELECT count(*) FROM notifications") == 2
