"""The catalog over HTTP: products, edges and lineage queries; auth, paging, versions."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import text

from incidentd.storage.graphs import GraphCache
from incidentd.worker.parsing import parse_alert
from incidentd.worker.pipeline import process_batch
from tests.support.api import SPACE, ApiWorld

BASE = f"/spaces/{SPACE}"
PRODUCTS = f"{BASE}/products"
EDGES = f"{BASE}/edges"
SLASHED = "warehouse/orders/v1"


def version(api: ApiWorld, space: str = SPACE) -> int:
    """The space's lineage version, as workers read it."""
    with api.engine.connect() as conn:
        return int(
            conn.execute(
                text("SELECT lineage_version FROM spaces WHERE slug = :s"), {"s": space}
            ).scalar_one()
        )


def edges(api: ApiWorld, space: str = SPACE) -> set[tuple[str, str]]:
    """Every edge of the space in the database."""
    with api.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT upstream, downstream FROM edges WHERE space = :s"), {"s": space}
        )
        return {(r[0], r[1]) for r in rows}


def delete_edge(api: ApiWorld, body: dict[str, Any], role: str = "editor") -> httpx.Response:
    """DELETE with a JSON body (httpx's `delete` takes none)."""
    return api.client.request("DELETE", EDGES, json=body, headers=api.headers(role))


def lineage(api: ApiWorld, product: str, **params: Any) -> dict[str, int]:
    """Product id -> hops of a lineage query that must succeed."""
    response = api.client.get(f"{PRODUCTS}/{product}/lineage", params=params, headers=api.headers())
    assert response.status_code == 200, response.text
    return {n["product_id"]: n["hops"] for n in response.json()["nodes"]}


def _requests(api: ApiWorld) -> list[tuple[str, str, dict[str, Any] | None, bool]]:
    """(method, url, json body, is a write) of every catalog endpoint."""
    edge = {"upstream": "island", "downstream": "raw"}
    return [
        ("GET", PRODUCTS, None, False),
        ("GET", f"{PRODUCTS}/raw", None, False),
        ("GET", f"{PRODUCTS}/raw/lineage", None, False),
        ("PUT", f"{PRODUCTS}/{SLASHED}", {"name": "Orders"}, True),
        ("DELETE", f"{PRODUCTS}/island", None, True),
        ("POST", EDGES, edge, True),
        ("DELETE", EDGES, {"upstream": "raw", "downstream": "clean"}, True),
    ]


def test_auth_outcomes_of_every_endpoint(api: ApiWorld) -> None:
    c = api.client
    before = version(api)
    outsider = {"Authorization": f"Bearer {api.tokens['outsider']}"}
    for method, url, body, write in _requests(api):
        label = f"{method} {url}"
        assert c.request(method, url, json=body).status_code == 401, label
        bad = {"Authorization": "Bearer nope"}
        assert c.request(method, url, json=body, headers=bad).status_code == 401, label
        missing = c.request(method, url, json=body, headers=outsider)
        assert missing.status_code == 404 and "not found" in missing.json()["detail"], label
        nowhere = url.replace(f"/spaces/{SPACE}/", "/spaces/nowhere/")
        assert c.request(method, nowhere, json=body, headers=outsider).status_code == 404
        viewer = c.request(method, url, json=body, headers=api.headers("viewer"))
        if write:
            assert viewer.status_code == 403 and "viewer" in viewer.json()["detail"], label
        else:
            assert viewer.status_code == 200, label
    assert version(api) == before  # nothing a refused request did reached the catalog
    for method, url, body, write in _requests(api):
        for role in ("editor", "admin") if write else ("editor",):
            response = c.request(method, url, json=body, headers=api.headers(role))
            assert response.status_code in (200, 201, 204, 404), (method, url, response.text)
    # A write by a viewer is refused before its body is even looked at.
    junk = c.put(f"{PRODUCTS}/x", json={"tier": "bogus"}, headers=api.headers("viewer"))
    assert junk.status_code == 403


def test_catalog_needs_no_incidents_feature(api: ApiWorld) -> None:
    plain = "/spaces/plain"
    headers = api.headers("editor")  # the editor of `finance` is an editor of `plain` too
    created = api.client.put(f"{plain}/products/a", json={"tier": "low"}, headers=headers)
    assert created.status_code == 201 and created.json()["space"] == "plain"
    assert api.client.post(
        f"{plain}/edges", json={"upstream": "a", "downstream": "b"}, headers=headers
    ).is_success
    assert api.client.get(f"{plain}/products", headers=headers).json()["total"] == 1
    assert lineage_of(api, plain, "a") == {"b": 1}
    assert version(api, "plain") == 2
    assert version(api) == 1  # finance is untouched (its import was version 1)


def lineage_of(api: ApiWorld, base: str, product: str) -> dict[str, int]:
    """Downstream hops of `product` in the space at `base`."""
    body = api.client.get(f"{base}/products/{product}/lineage", headers=api.headers()).json()
    return {n["product_id"]: n["hops"] for n in body["nodes"]}


def test_list_pagination_and_search(api: ApiWorld) -> None:
    c, h = api.client, api.headers("viewer")
    page = c.get(PRODUCTS, headers=h).json()
    assert page["total"] == 5
    assert [p["id"] for p in page["items"]] == ["clean", "island", "mart", "raw", "report"]
    raw = page["items"][3]
    assert raw == {
        "id": "raw",
        "space": SPACE,
        "name": "Raw",
        "owners": ["ana@example.com"],
        "stewards": [],
        "tier": "high",
        "tags": [],
        "datasets": [],
        "project_id": 0,
        "connection_ids": [],
        "connection_types": [],
        "updated_at": raw["updated_at"],
    }
    assert raw["updated_at"].endswith("Z")
    for skip, limit, ids in (
        (0, 2, ["clean", "island"]),
        (2, 2, ["mart", "raw"]),
        (4, 2, ["report"]),
        (5, 2, []),
        (1_000_000, 200, []),
        (0, 1, ["clean"]),
        (0, 200, ["clean", "island", "mart", "raw", "report"]),
    ):
        got = c.get(PRODUCTS, params={"skip": skip, "limit": limit}, headers=h).json()
        assert got["total"] == 5 and [p["id"] for p in got["items"]] == ids, (skip, limit)
    for bad in (
        {"limit": 0},
        {"limit": 201},
        {"skip": -1},
        {"skip": 1_000_001},
        {"text_to_search": "a\x00b"},
    ):
        response = c.get(PRODUCTS, params=bad, headers=h)
        assert response.status_code == 422 and response.json()["detail"], bad
    c.put(f"{PRODUCTS}/{SLASHED}", json={"datasets": ["db/orders.v1"]}, headers=api.headers())
    c.put(f"{PRODUCTS}/x_y", json={"owners": ["Zed@Example.com"]}, headers=api.headers())
    for query, ids in (
        ("RAW", ["raw"]),  # id and name, case-insensitively
        ("bo@example", ["mart"]),  # an owner
        ("st@", ["clean"]),  # a steward
        ("finance", ["mart"]),  # a tag
        ("db/orders", [SLASHED]),  # a dataset
        ("orders/v", [SLASHED]),
        ("_", ["x_y"]),  # LIKE wildcards are literal
        ("%", []),
        ("zed@", ["x_y"]),
        ("", ["clean", "island", "mart", "raw", "report", SLASHED, "x_y"]),
    ):
        got = c.get(PRODUCTS, params={"text_to_search": query}, headers=h).json()
        assert [p["id"] for p in got["items"]] == ids and got["total"] == len(ids), query
    one = c.get(PRODUCTS, params={"text_to_search": "r", "limit": 1, "skip": 1}, headers=h).json()
    assert one["total"] == 4 and [p["id"] for p in one["items"]] == ["raw"]  # mart raw report w/


def test_put_get_delete_with_slashes_in_ids(api: ApiWorld) -> None:
    c, h = api.client, api.headers()
    url = f"{PRODUCTS}/{SLASHED}"
    assert c.get(url, headers=h).status_code == 404
    body = {
        "name": "Orders v1",
        "owners": ["ana@example.com"],
        "stewards": ["st@example.com"],
        "tier": "critical",
        "tags": ["orders"],
        "datasets": ["warehouse/orders_v1"],
        "project_id": 24,
    }
    v0 = version(api)
    created = c.put(url, json=body, headers=h)
    assert created.status_code == 201, created.text
    assert created.json() == {
        **body,
        "id": SLASHED,
        "space": SPACE,
        "connection_ids": ["warehouse"],
        "connection_types": ["WAREHOUSE"],
        "updated_at": ANY_Z,
    }
    assert version(api) == v0 + 1
    assert c.get(url, headers=api.headers("viewer")).json() == created.json()
    percent = c.get(f"{PRODUCTS}/warehouse%2Forders%2Fv1", headers=h)
    assert percent.status_code == 200 and percent.json()["id"] == SLASHED
    same = c.put(url, json={**body, "id": SLASHED, "space": SPACE}, headers=h)
    assert same.status_code == 200 and same.json() == created.json()
    assert version(api) == v0 + 1  # nothing changed, nothing to reload
    replaced = c.put(url, json={"name": "Orders", "tier": "low"}, headers=api.headers("admin"))
    assert replaced.status_code == 200
    got = replaced.json()
    assert (got["name"], got["tier"], got["owners"], got["tags"]) == ("Orders", "low", [], [])
    assert got["datasets"] == ["warehouse/orders_v1"]  # omitted: the claims stay
    assert version(api) == v0 + 2
    cleared = c.put(url, json={"datasets": []}, headers=h).json()
    assert cleared["datasets"] == [] and cleared["name"] is None
    assert version(api) == v0 + 3
    for bad in (
        {"id": "other"},
        {"space": "other"},
        {"tier": "bogus"},
        {"owners": ["not-an-email"]},
        {"datasets": ["no-namespace"]},
        {"colour": "red"},
        {"tags": ["a\x00b"]},
        {"owners": [f"u{i}@example.com" for i in range(101)]},
    ):
        response = c.put(url, json=bad, headers=h)
        assert response.status_code == 422 and response.json()["detail"], bad
    assert c.put(f"{PRODUCTS}/a%00b", json={}, headers=h).status_code == 422
    assert c.put(f"{PRODUCTS}/{'x' * 501}", json={}, headers=h).status_code == 422
    c.post(EDGES, json={"upstream": "raw", "downstream": SLASHED}, headers=h)
    c.post(EDGES, json={"upstream": SLASHED, "downstream": "report"}, headers=h)
    v1 = version(api)
    assert c.delete(url, headers=api.headers("admin")).status_code == 204
    assert version(api) == v1 + 1
    assert c.get(url, headers=h).status_code == 404
    assert edges(api) == {("raw", "clean"), ("clean", "mart"), ("mart", "report")}
    again = c.delete(url, headers=h)
    assert again.status_code == 404 and SLASHED in again.json()["detail"]
    assert version(api) == v1 + 1


class _AnyZ:
    """Equal to any RFC 3339 UTC time string."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and other.endswith("Z") and "T" in other

    def __hash__(self) -> int:
        return 0


ANY_Z = _AnyZ()


def test_ids_ending_in_lineage(api: ApiWorld) -> None:
    c, h = api.client, api.headers()
    created = c.put(f"{PRODUCTS}/ns/lineage", json={"name": "odd"}, headers=h)
    assert created.status_code == 201 and created.json()["id"] == "ns/lineage"
    # A GET ending in /lineage is the lineage query of the id before it (documented).
    assert c.get(f"{PRODUCTS}/ns/lineage", headers=h).status_code == 404
    page = c.get(PRODUCTS, params={"text_to_search": "ns/"}, headers=h).json()
    assert [p["id"] for p in page["items"]] == ["ns/lineage"]
    assert c.get(f"{PRODUCTS}/ns/lineage/lineage", headers=h).json()["nodes"] == []
    assert c.delete(f"{PRODUCTS}/ns/lineage", headers=h).status_code == 204


def test_edges(api: ApiWorld) -> None:
    c, h = api.client, api.headers()
    v0 = version(api)
    edge = {"upstream": "island", "downstream": "raw"}
    created = c.post(EDGES, json=edge, headers=h)
    assert created.status_code == 201 and created.json() == {**edge, "space": SPACE}
    assert version(api) == v0 + 1 and ("island", "raw") in edges(api)
    existed = c.post(EDGES, json=edge, headers=api.headers("admin"))
    assert existed.status_code == 200 and existed.json() == {**edge, "space": SPACE}
    assert version(api) == v0 + 1
    loop = c.post(EDGES, json={"upstream": "raw", "downstream": "raw"}, headers=h)
    assert loop.status_code == 422 and "itself" in loop.json()["detail"]
    assert delete_edge(api, {"upstream": "raw", "downstream": "raw"}).status_code == 404
    for bad in (
        {"upstream": "raw"},
        {"upstream": "raw", "downstream": ""},
        {"upstream": "raw", "downstream": "x", "space": SPACE},
        {"upstream": "a\x00", "downstream": "x"},
    ):
        assert c.post(EDGES, json=bad, headers=h).status_code == 422, bad
        assert delete_edge(api, bad).status_code == 422, bad
    # Ends need not be catalog products: an unclaimed dataset is its own node (CONTRACT §5).
    ghost = c.post(EDGES, json={"upstream": "report", "downstream": "s3/exports"}, headers=h)
    assert ghost.status_code == 201
    assert lineage(api, "island") == {"raw": 1, "clean": 2, "mart": 3, "report": 4, "s3/exports": 5}
    assert version(api) == v0 + 2
    assert delete_edge(api, edge).status_code == 204
    assert version(api) == v0 + 3 and ("island", "raw") not in edges(api)
    gone = delete_edge(api, edge)
    assert gone.status_code == 404 and "not found" in gone.json()["detail"]
    assert version(api) == v0 + 3
    assert lineage(api, "island") == {}
    # Deleting a node that only edges know removes those edges.
    assert c.delete(f"{PRODUCTS}/s3/exports", headers=h).status_code == 204
    assert ("report", "s3/exports") not in edges(api) and version(api) == v0 + 4


def test_lineage_depth_direction_and_hops(api: ApiWorld) -> None:
    c, h = api.client, api.headers()
    assert lineage(api, "raw") == {"clean": 1, "mart": 2, "report": 3}
    assert lineage(api, "raw", direction="downstream", depth=2) == {"clean": 1, "mart": 2}
    assert lineage(api, "raw", depth=1) == {"clean": 1}
    assert lineage(api, "report", direction="upstream") == {"mart": 1, "clean": 2, "raw": 3}
    assert lineage(api, "report", direction="upstream", depth=50) == {
        "mart": 1,
        "clean": 2,
        "raw": 3,
    }
    assert lineage(api, "raw", direction="upstream") == {}
    assert lineage(api, "island") == {}
    full = c.get(f"{PRODUCTS}/raw/lineage", headers=h).json()
    assert full["product_id"] == "raw" and full["direction"] == "downstream"
    assert full["depth"] is None
    assert full["nodes"][-1] == {
        "product_id": "report",
        "hops": 3,
        "name": None,
        "tier": "critical",
    }
    # A shortcut makes mart one hop away; a cycle back to raw never lists raw itself.
    c.post(EDGES, json={"upstream": "raw", "downstream": "mart"}, headers=h)
    c.post(EDGES, json={"upstream": "report", "downstream": "raw"}, headers=h)
    assert lineage(api, "raw") == {"clean": 1, "mart": 1, "report": 2}
    ordered = c.get(f"{PRODUCTS}/raw/lineage", headers=h).json()["nodes"]
    assert [n["product_id"] for n in ordered] == ["clean", "mart", "report"]
    assert lineage(api, "clean", direction="upstream") == {"raw": 1, "report": 2, "mart": 3}
    # Ids with slashes, and names and tiers of the nodes.
    c.put(f"{PRODUCTS}/ns/src", json={"name": "Source", "tier": "medium"}, headers=h)
    c.post(EDGES, json={"upstream": "ns/src", "downstream": "island"}, headers=h)
    assert lineage(api, "ns/src") == {"island": 1}
    up = c.get(f"{PRODUCTS}/island/lineage?direction=upstream", headers=h).json()
    assert up["nodes"] == [{"product_id": "ns/src", "hops": 1, "name": "Source", "tier": "medium"}]
    for params in ({"depth": 0}, {"depth": 51}, {"direction": "sideways"}, {"depth": "x"}):
        response = c.get(f"{PRODUCTS}/raw/lineage", params=params, headers=h)
        assert response.status_code == 422 and response.json()["detail"], params
    missing = c.get(f"{PRODUCTS}/nope/lineage", headers=h)
    assert missing.status_code == 404 and "nope" in missing.json()["detail"]


@pytest.mark.parametrize("via", ["put", "edge"])
def test_workers_see_catalog_changes_through_the_version(api: ApiWorld, via: str) -> None:
    """A worker's graph cache reloads after an API change: island joins raw's incident."""
    cache = GraphCache()

    def alert(alert_id: str, product: str) -> None:
        body = {
            "schema_version": 1,
            "alert_id": alert_id,
            "space": SPACE,
            "product_id": product,
            "alert_type": "quality_check_failed",
            "severity": "high",
            "occurred_at": "2026-02-27T14:00:00Z",
        }
        batch = [parse_alert(orjson.dumps(body))]
        process_batch(api.engine, batch, [], cache, incidents_topic="t", default_space=None)

    alert("a1", "raw")
    first = api.incident_of("raw")
    if via == "edge":
        change = api.client.post(
            EDGES, json={"upstream": "raw", "downstream": "island"}, headers=api.headers()
        )
        assert change.status_code == 201
        island = "island"
    else:
        island = "ns/new"
        change = api.client.put(f"{PRODUCTS}/{island}", json={"tier": "low"}, headers=api.headers())
        assert change.status_code == 201
        api.client.post(
            EDGES, json={"upstream": "raw", "downstream": island}, headers=api.headers()
        )
    alert("a2", island)
    assert api.incident_of(island) == first
    detail = api.client.get(f"{BASE}/incidents/{first}", headers=api.headers()).json()
    assert island in {p["product_id"] for p in detail["blast_radius"]}
