"""The insights page over HTTP: its three SVG charts count what the API counts, every bar links
to the incident list of exactly the incidents it counts, and the filters apply to all of it.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from tests.support.api import SPACE, ApiWorld
from tests.support.ui import Page, parse, sign_in

INSIGHTS = f"/ui/spaces/{SPACE}/insights"
WEEK = {"from": "2026-03-02", "to": "2026-03-16"}  # two weeks, Monday to Monday
ID = "data-incident-id"


@pytest.fixture
def viewer(api: ApiWorld) -> TestClient:
    """Five incidents in the two weeks (and one before), the viewer signed in."""
    for alert_id, product, severity, day, tags in (
        ("i1", "raw", "high", "02", ["prod"]),
        ("i2", "island", "critical", "02", ["prod", "T1"]),
        ("i3", "lonely-a", "medium", "03", []),
        ("i4", "lonely-b", "low", "10", ["T1"]),
        ("i5", "lonely-c", "critical", "11", ["prod"]),
        ("i0", "lonely-d", "high", "01", ["prod"]),  # the day before the window
    ):
        api.alerts(
            {
                "alert_id": alert_id,
                "product_id": product,
                "severity": severity,
                "occurred_at": f"2026-03-{day}T09:00:00Z",
                "tags": tags,
            }
        )
    with api.engine.begin() as conn:  # i3 resolved after 3 h, i4 after 9 h
        for product, hours in (("lonely-a", 3), ("lonely-b", 9)):
            conn.execute(
                text(
                    "UPDATE incidents SET status = 'resolved', "
                    "resolved_at = first_alert_at + make_interval(hours => :h) "
                    "WHERE :p = ANY(products)"
                ),
                {"h": hours, "p": product},
            )
    return sign_in(api, "viewer")


def _page(client: TestClient, **params: str) -> Page:
    response = client.get(INSIGHTS, params=params)
    assert response.status_code == 200, response.text
    assert "<script" not in response.text and "http://" not in response.text.split("<svg", 1)[0]
    return parse(response.text)


def _listed(client: TestClient, href: str) -> list[str]:
    """The incidents of the list a chart links to (all on one page here)."""
    url = urlsplit(href)
    response = client.get(url.path, params={k: v[0] for k, v in parse_qs(url.query).items()})
    assert response.status_code == 200, href
    return [e.attrs[ID] for e in parse(response.text).having("tr", ID)]


def _bars(page: Page, chart: str) -> list[tuple[str, str, int]]:
    """(href, kind, value) of every linked bar of a chart, in document order."""
    inside, found = False, []
    for e in page.elements:
        if e.tag == "svg":
            inside = chart in e.attrs.get("class", "")
        elif inside and e.tag == "a" and "data-value" in e.attrs:
            found.append((e.attrs["href"], e.attrs.get("data-kind", ""), e.attrs["data-value"]))
    return [(h, k, int(float(v))) for h, k, v in found]


def test_incidents_per_day_stacked_by_severity(viewer: TestClient) -> None:
    page = _page(viewer, **WEEK)
    bars = _bars(page, "chart-per-day")
    by_kind: dict[str, int] = {}
    for href, kind, value in bars:
        by_kind[kind] = by_kind.get(kind, 0) + value
        assert len(_listed(viewer, href)) == value, href  # the link lists what the bar counts
        query = parse_qs(urlsplit(href).query)
        assert query["severity"] == [kind]
        assert query["to"][0] > query["from"][0] >= WEEK["from"]
    assert by_kind == {"critical": 2, "high": 1, "medium": 1, "low": 1}
    figures = {e.attrs["data-figure"]: e.text for e in page.having("span", "data-figure")}
    assert figures == {"total": "5", "open": "3", "closed": "2", "mttr": "6.0 h"}


def test_mttr_per_week_is_a_line_with_linked_points(viewer: TestClient) -> None:
    page = _page(viewer, **WEEK)
    points = _bars(page, "chart-mttr")
    assert [v for _, _, v in points] == [3, 9]  # week of 2 March: i3; week of 9 March: i4
    for href, _, _ in points:
        assert parse_qs(urlsplit(href).query)["status"] == ["resolved"]
        assert len(_listed(viewer, href)) == 1
    assert len(page.find("path", **{"class": "trend"})) == 1


def test_open_incidents_by_tag(viewer: TestClient) -> None:
    bars = _bars(_page(viewer, **WEEK), "chart-by-tag")
    assert [(parse_qs(urlsplit(h).query)["tag"][0], v) for h, _, v in bars] == [
        ("prod", 3),
        ("T1", 1),
    ]
    for href, _, value in bars:
        assert len(_listed(viewer, href)) == value  # open or investigating, with that tag


def test_the_filters_apply_to_every_chart(viewer: TestClient) -> None:
    page = _page(viewer, **WEEK, severity="critical")
    assert {k for _, k, _ in _bars(page, "chart-per-day")} == {"critical"}
    assert _bars(page, "chart-mttr") == []
    assert [v for _, _, v in _bars(page, "chart-by-tag")] == [2, 1]
    tagged = _page(viewer, **WEEK, tag="t1")  # tags ignore case, as in the API
    assert sum(v for _, _, v in _bars(tagged, "chart-per-day")) == 2
    earlier = _page(viewer, **{"from": "2026-03-01", "to": "2026-03-02"})
    assert [(k, v) for _, k, v in _bars(earlier, "chart-per-day")] == [("high", 1)]


def test_access_as_in_the_api(api: ApiWorld) -> None:
    outsider = sign_in(api, "outsider")
    assert outsider.get(INSIGHTS).status_code == 404
    editor = sign_in(api, "editor")
    assert editor.get("/ui/spaces/plain/insights").status_code == 403
    assert (
        editor.get(INSIGHTS, params={"from": "2024-01-01", "to": "2026-01-01"}).status_code == 422
    )
    signed_out = TestClient(api.client.app, follow_redirects=False).get(INSIGHTS)
    assert signed_out.status_code == 303 and "/ui/login" in signed_out.headers["location"]
    empty = parse(editor.get(INSIGHTS).text)  # no incidents in the last 30 days
    assert not empty.find("svg") and empty.find("p", **{"class": "empty"})
