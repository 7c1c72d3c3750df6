"""Per-space incident numbers: given in creation order, shown, and accepted wherever an id is."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import text

from incidentd.storage.db import make_engine, migrate
from tests.support.api import SPACE, ApiWorld

BASE = f"/spaces/{SPACE}/incidents"


def _alert(alert_id: str, product: str, at: str, **extra: Any) -> dict[str, Any]:
    return {"alert_id": alert_id, "product_id": product, "occurred_at": at, **extra}


def _numbers(api: ApiWorld, space: str = SPACE) -> dict[str, int]:
    with api.engine.connect() as conn:
        rows = conn.execute(text("SELECT id, number FROM incidents WHERE space = :s"), {"s": space})
        return {str(r.id): int(r.number) for r in rows}


def test_numbers_follow_creation_order_per_space(api: ApiWorld) -> None:
    # one batch opens two incidents (unrelated products), a later batch a third
    api.alerts(
        _alert("a1", "island", "2026-03-02T10:00:00Z"),
        _alert("a2", "raw", "2026-03-02T09:00:00Z"),
    )
    api.alerts(_alert("a3", "x-lonely", "2026-03-02T11:00:00Z"))
    api.alerts(_alert("o1", "p", "2026-03-02T11:00:00Z", space="other"))
    numbers = _numbers(api)
    by_product = {p: numbers[api.incident_of(p)] for p in ("raw", "island", "x-lonely")}
    # same batch: the earlier first alert first
    assert by_product == {"raw": 1, "island": 2, "x-lonely": 3}
    assert list(_numbers(api, "other").values()) == [1]  # every space counts on its own
    # an alert joining an incident gives no new number
    api.alerts(_alert("a4", "clean", "2026-03-02T12:00:00Z"))
    assert _numbers(api) == numbers
    with api.engine.connect() as conn:
        last = conn.execute(
            text("SELECT last_incident_number FROM spaces WHERE slug = :s"), {"s": SPACE}
        ).scalar_one()
    assert last == 3


def test_the_number_is_in_the_resource_and_in_events(api: ApiWorld) -> None:
    api.alerts(_alert("b1", "raw", "2026-03-02T10:00:00Z"))
    api.alerts(_alert("b2", "clean", "2026-03-02T10:30:00Z"))  # joins: a second event
    incident = api.incident_of("raw")
    body = api.client.get(f"{BASE}/{incident}", headers=api.headers("viewer")).json()
    assert body["number"] == 1
    listed = api.client.get(BASE, headers=api.headers("viewer")).json()["items"]
    assert [i["number"] for i in listed] == [1]
    with api.engine.connect() as conn:
        payloads = conn.execute(
            text("SELECT payload FROM outbox WHERE incident_id = :i ORDER BY id"), {"i": incident}
        ).scalars()
        events = [orjson.loads(p) for p in payloads]
    assert [e["event_type"] for e in events] == ["incident.created", "incident.alert_added"]
    assert [e["incident"]["number"] for e in events] == [1, 1]


def test_a_number_is_accepted_wherever_an_id_is(api: ApiWorld) -> None:
    api.alerts(_alert("c1", "raw", "2026-03-02T10:00:00Z"))
    incident = api.incident_of("raw")
    viewer, editor = api.headers("viewer"), api.headers("editor")
    by_id = api.client.get(f"{BASE}/{incident}", headers=viewer).json()
    assert api.client.get(f"{BASE}/1", headers=viewer).json() == by_id
    for path in ("/1/timeline", "/1/history"):
        assert api.client.get(f"{BASE}{path}", headers=viewer).json() == (
            api.client.get(f"{BASE}/{incident}{path.removeprefix('/1')}", headers=viewer).json()
        )
    patched = api.client.patch(f"{BASE}/1", json={"root_cause": "late load"}, headers=editor)
    assert patched.status_code == 200 and patched.json()["id"] == incident
    linked = api.client.post(f"{BASE}/1/link-ticket", json={"ticket_id": "2411"}, headers=editor)
    assert linked.status_code == 200 and linked.json()["ticket_id"] == "2411"
    alerts = api.client.get(
        f"/spaces/{SPACE}/alerts", params={"incident_id": "1"}, headers=viewer
    ).json()
    assert [a["alert_id"] for a in alerts["items"]] == ["c1"]
    assert api.client.post(f"{BASE}/1/resolve", headers=editor).json()["status"] == "resolved"


def test_unknown_numbers_and_other_spaces_numbers_are_404(api: ApiWorld) -> None:
    api.alerts(_alert("o1", "p", "2026-03-02T11:00:00Z", space="other"))
    viewer = api.headers("viewer")
    for ref in ("1", "2", "0", "-1", "99999999999999999999999", "1.0", "x"):
        response = api.client.get(f"{BASE}/{ref}", headers=viewer)
        assert response.status_code == 404, ref
        assert ref in response.json()["detail"]
    assert api.client.get(f"{BASE}/7/history", headers=viewer).status_code == 404
    assert api.client.post(f"{BASE}/7/resolve", headers=api.headers()).status_code == 404
    bad = api.client.get(f"/spaces/{SPACE}/alerts", params={"incident_id": "x"}, headers=viewer)
    assert bad.status_code == 422
    none = api.client.get(f"/spaces/{SPACE}/alerts", params={"incident_id": "5"}, headers=viewer)
    assert none.json()["total"] == 0


def test_migration_numbers_existing_incidents_and_derives_connections(db_url: str) -> None:
    migrate(db_url, "0004")
    engine = make_engine(db_url, pool_size=1)
    try:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO spaces (slug, name) VALUES ('a', 'a'), ('b', 'b')"))
            for key, space, created in (
                ("00000000-0000-0000-0000-000000000003", "a", "2026-03-02T10:00:00Z"),
                ("00000000-0000-0000-0000-000000000001", "a", "2026-03-01T10:00:00Z"),
                ("00000000-0000-0000-0000-000000000002", "b", "2026-03-03T10:00:00Z"),
                ("00000000-0000-0000-0000-000000000004", "a", "2026-03-02T10:00:00Z"),
            ):
                conn.execute(
                    text(
                        "INSERT INTO incidents (id, space, title, status, severity, impact, "
                        "created_at, updated_at) VALUES (:i, :s, 't', 'open', 'high', 'LOW', "
                        ":c, :c)"
                    ),
                    {"i": key, "s": space, "c": created},
                )
            conn.execute(
                text(
                    "INSERT INTO products (space, id, datasets) VALUES "
                    "('a', 'p', '{gs://bkt/x, bigquery/p.d.t}'), ('a', 'q', '{}')"
                )
            )
        migrate(db_url)
        with engine.connect() as conn:
            numbers = conn.execute(
                text("SELECT space, id::text, number FROM incidents ORDER BY space, number")
            ).all()
            last = dict(conn.execute(text("SELECT slug, last_incident_number FROM spaces")).all())
            products = conn.execute(
                text(
                    "SELECT id, project_id, connection_ids, connection_types FROM products "
                    "ORDER BY id"
                )
            ).all()
    finally:
        engine.dispose()
    assert [(s, i[-1], n) for s, i, n in numbers] == [
        ("a", "1", 1),
        ("a", "3", 2),  # same created_at as ...4: ties broken by id
        ("a", "4", 3),
        ("b", "2", 1),
    ]
    assert last == {"a": 3, "b": 1}
    assert [tuple(p) for p in products] == [
        ("p", 0, ["gs://bkt", "bigquery"], ["GCS", "BIGQUERY"]),
        ("q", 0, [], []),
    ]


def test_the_search_body_takes_a_number_as_a_json_integer(api: ApiWorld) -> None:
    api.alerts(_alert("d1", "raw", "2026-03-02T10:00:00Z"))
    for ref in (1, "1"):
        found = api.client.post(
            f"/spaces/{SPACE}/alerts/search", json={"incident_id": ref}, headers=api.headers()
        )
        assert found.status_code == 200, found.text
        assert [a["alert_id"] for a in found.json()["items"]] == ["d1"]
    for bad in (True, 0, -1, 1.5, [1]):
        refused = api.client.post(
            f"/spaces/{SPACE}/alerts/search", json={"incident_id": bad}, headers=api.headers()
        )
        assert refused.status_code == 422, bad
        assert "incident_id" in refused.json()["detail"]


def test_incidents_created_together_list_newest_number_first(api: ApiWorld) -> None:
    # one batch opens three unrelated incidents: one created_at, numbers 1, 2, 3
    api.alerts(
        _alert("e1", "raw", "2026-03-02T09:00:00Z"),
        _alert("e2", "island", "2026-03-02T10:00:00Z"),
        _alert("e3", "x-lonely", "2026-03-02T11:00:00Z"),
    )
    listed = api.client.get(BASE, headers=api.headers("viewer")).json()["items"]
    assert len({i["created_at"] for i in listed}) == 1
    assert [i["number"] for i in listed] == [3, 2, 1]
