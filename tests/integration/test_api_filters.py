"""Filters never lie: unknown query parameters are refused, and every filter does what it says."""

from __future__ import annotations

import pytest

from tests.support.api import SPACE, ApiWorld

BASE = f"/spaces/{SPACE}/incidents"
WINDOW = {"from_time": "2026-01-01T00:00:00Z", "to_time": "2026-12-31T00:00:00Z"}


def _two_incidents(api: ApiWorld) -> tuple[str, str]:
    """A cascade raw -> clean (blast radius raw, clean, mart, report) and an island."""
    api.alerts(
        {
            "alert_id": "f1",
            "product_id": "raw",
            "occurred_at": "2026-02-27T14:00:00Z",
            "tags": ["Prod", "T1"],
        },
        {"alert_id": "f2", "product_id": "clean", "occurred_at": "2026-02-27T14:05:00Z"},
        {
            "alert_id": "f3",
            "product_id": "island",
            "occurred_at": "2026-02-27T14:06:00Z",
            "tags": ["dev"],
        },
    )
    return api.incident_of("raw"), api.incident_of("island")


def _ids(api: ApiWorld, params: dict[str, str]) -> set[str]:
    page = api.client.get(BASE, params=params, headers=api.headers())
    assert page.status_code == 200, page.text
    return {i["id"] for i in page.json()["items"]}


@pytest.mark.parametrize(
    ("path", "params", "accepted"),
    [
        (BASE, {"severity": "low"}, "severities"),
        (BASE, {"limit": "5", "page": "2"}, "skip"),
        (f"{BASE}/distribution", {"product": "raw"}, "product_match"),
        (f"{BASE}/summary", {"status": "open"}, "text_to_search"),
        (f"/spaces/{SPACE}/alerts", {"incident": "x"}, "incident_id"),
        (f"/spaces/{SPACE}/products", {"q": "raw"}, "text_to_search"),
        ("/notifications", {"unread": "true"}, "unread_only"),
    ],
)
def test_an_unknown_query_parameter_is_a_422_naming_the_accepted_ones(
    api: ApiWorld, path: str, params: dict[str, str], accepted: str
) -> None:
    response = api.client.get(path, params=params, headers=api.headers())
    assert response.status_code == 422, response.text
    body = response.json()
    unknown = sorted(k for k in params if k not in ("limit",))
    assert [e["loc"] for e in body["errors"]] == [["query", k] for k in unknown]
    assert accepted in body["detail"] and unknown[0] in body["detail"]


def test_routes_without_query_parameters_refuse_any(api: ApiWorld) -> None:
    incident, _ = _two_incidents(api)
    got = api.client.get(f"{BASE}/{incident}", params={"expand": "alerts"}, headers=api.headers())
    assert got.status_code == 422 and "accepts: none" in got.json()["detail"]
    healthz = api.client.get("/healthz", params={"verbose": "1"})
    assert healthz.status_code == 422
    assert api.client.get(f"{BASE}/{incident}", headers=api.headers()).status_code == 200


def test_known_parameters_still_work_on_every_kind_of_route(api: ApiWorld) -> None:
    h = api.headers()
    for path, params in (
        (BASE, {"limit": "5", "skip": "0", "status": "open", "product_match": "blast_radius"}),
        (f"{BASE}/summary", WINDOW),
        (f"/spaces/{SPACE}/products/raw/lineage", {"direction": "upstream", "depth": "2"}),
    ):
        response = api.client.get(path, params=params, headers=h)
        assert response.status_code == 200, (path, response.text)


def test_tag_filters_ignore_case(api: ApiWorld) -> None:
    cascade, island = _two_incidents(api)
    for spelling in ("prod", "PROD", "Prod", "pRoD,unknown"):
        assert _ids(api, {"tags": spelling}) == {cascade}
    assert _ids(api, {"tags": "DEV"}) == {island}
    assert _ids(api, {"tags": "prod,dev"}) == {cascade, island}
    assert _ids(api, {"tags": "stage"}) == set()
    summary = api.client.get(
        f"{BASE}/summary", params={**WINDOW, "tags": "t1"}, headers=api.headers()
    ).json()
    assert summary["total"] == 1 and summary["open_by_tag"] == {"Prod": 1, "T1": 1}


def test_product_ids_match_the_blast_radius_when_asked(api: ApiWorld) -> None:
    cascade, island = _two_incidents(api)
    assert _ids(api, {"product_ids": "report"}) == set()  # downstream, never alerted
    blast = {"product_ids": "report", "product_match": "blast_radius"}
    assert _ids(api, blast) == {cascade}
    assert _ids(api, {"product_ids": "clean", "product_match": "alerted"}) == {cascade}
    assert _ids(api, {"product_ids": "mart,island", "product_match": "blast_radius"}) == {
        cascade,
        island,
    }
    days = api.client.get(
        f"{BASE}/distribution", params={**WINDOW, **blast}, headers=api.headers()
    ).json()["days"]
    assert sum(d["total"] for d in days) == 1
    bad = api.client.get(BASE, params={"product_match": "downstream"}, headers=api.headers())
    assert bad.status_code == 422 and "blast_radius" in bad.json()["detail"]


def test_text_to_search_finds_an_incident_by_product_id_or_name(api: ApiWorld) -> None:
    cascade, island = _two_incidents(api)
    renamed = api.client.put(
        f"/spaces/{SPACE}/products/island",
        json={"name": "Ledger of Islands", "owners": ["ivy@example.com"]},
        headers=api.headers("admin"),
    )
    assert renamed.status_code == 200, renamed.text
    assert _ids(api, {"text_to_search": "clean"}) == {cascade}  # a product id, not the root
    assert _ids(api, {"text_to_search": "ISLAND"}) == {island}
    assert _ids(api, {"text_to_search": "ledger of"}) == {island}  # the product's name
    assert _ids(api, {"text_to_search": "mart"}) == set()  # in the blast radius only
    assert _ids(api, {"text_to_search": "%"}) == set()  # wildcards are literal
