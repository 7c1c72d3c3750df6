"""The web UI over HTTP (TestClient): sign-in, pages, the blast-radius drawing, forms, escaping.

The world of `tests/support/api.py`: lineage raw -> clean -> mart -> report plus an island, in
space `finance`; users of every role; `plain` (no incidents feature); an outsider.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from incidentd.api.ui import routes as ui_routes
from incidentd.schemas.lineage import EdgeSpec, LineageDocument, ProductSpec
from incidentd.storage.lineage import import_document
from tests.support.api import SPACE, ApiWorld
from tests.support.ui import Element, Page, browser, csrf_of, parse, sign_in

UI = f"/ui/spaces/{SPACE}/incidents"
API = f"/spaces/{SPACE}/incidents"
ID = "data-incident-id"


def cascade(api: ApiWorld) -> str:
    """Alerts on raw and clean (one incident rooted at raw) and on the island (another)."""
    api.alerts(
        {"alert_id": "a1", "product_id": "raw", "occurred_at": "2026-02-27T14:00:00Z"},
        {
            "alert_id": "a2",
            "product_id": "clean",
            "severity": "critical",
            "occurred_at": "2026-02-27T14:05:00Z",
        },
        {"alert_id": "a3", "product_id": "island", "occurred_at": "2026-02-27T14:06:00Z"},
    )
    return api.incident_of("raw")


@pytest.fixture
def editor(api: ApiWorld) -> Iterator[TestClient]:
    """The editor, signed in."""
    yield sign_in(api, "editor")


# --- sign-in ----------------------------------------------------------------------------------


def test_sign_in_sets_an_httponly_strict_cookie_and_lists_the_users_spaces(api: ApiWorld) -> None:
    client = browser(api)
    away = client.get(UI)
    assert away.status_code == 303
    target = urlsplit(away.headers["location"])
    assert target.path == "/ui/login" and parse_qs(target.query)["next"] == [UI]

    form = client.get(away.headers["location"])
    assert form.status_code == 200
    assert "incidentd_login_csrf" in form.headers["set-cookie"]
    page = parse(form.text)
    nonce = page.find("input", name="login_nonce")[0].attrs["value"]
    assert page.find("input", name="next")[0].attrs["value"] == UI

    done = client.post(
        "/ui/login", data={"token": api.tokens["editor"], "login_nonce": nonce, "next": UI}
    )
    assert done.status_code == 303 and done.headers["location"] == UI
    cookie = next(
        c for c in done.headers.get_list("set-cookie") if c.startswith("incidentd_session=")
    )
    parts = {p.strip().split("=")[0].lower(): p.strip() for p in cookie.split(";")}
    assert "httponly" in parts and parts["samesite"].lower() == "samesite=strict"
    assert parts["path"] == "Path=/ui"
    assert client.get(UI).status_code == 200

    spaces = parse(client.get("/ui/spaces").text)
    assert {e.attrs["data-space"] for e in spaces.find(data_space=SPACE)} == {SPACE}
    plain = spaces.find(data_space="plain")
    assert plain and plain[0].tag == "span", "a space without incidents is not a link"
    assert not spaces.find(data_space="other"), "not the editor's space"
    # Without `next`, sign-in leads to the space picker; `next` must stay inside the UI.
    again = browser(api)
    for target_path in ("https://evil.example/", "//evil.example/ui/x", "/docs"):
        nonce = parse(again.get("/ui/login").text).find("input", name="login_nonce")[0]
        response = again.post(
            "/ui/login",
            data={
                "token": api.tokens["viewer"],
                "login_nonce": nonce.attrs["value"],
                "next": target_path,
            },
        )
        assert response.headers["location"] == "/ui/spaces"


def test_a_bad_token_or_a_stale_form_shows_an_error(api: ApiWorld) -> None:
    client = browser(api)
    nonce = parse(client.get("/ui/login").text).find("input", name="login_nonce")[0]
    bad = client.post("/ui/login", data={"token": "idt_nope", "login_nonce": nonce.attrs["value"]})
    assert bad.status_code == 401
    assert "not valid" in parse(bad.text).find("p", role="alert")[0].text
    assert "incidentd_session=" not in bad.headers.get("set-cookie", "")
    stale = browser(api).post("/ui/login", data={"token": api.tokens["editor"]})
    assert stale.status_code == 403 and "expired" in stale.text
    assert "incidentd_session=" not in stale.headers.get("set-cookie", "")


def test_a_revoked_token_and_signing_out_lead_back_to_sign_in(api: ApiWorld) -> None:
    client = sign_in(api, "viewer")
    page = client.get("/ui/spaces")
    assert page.status_code == 200
    missing = client.post("/ui/logout", data={})
    assert missing.status_code == 403
    out = client.post("/ui/logout", data={"csrf_token": csrf_of(page.text)})
    assert out.status_code == 303 and out.headers["location"] == "/ui/login"
    assert client.get("/ui/spaces").status_code == 303

    client = sign_in(api, "admin")
    with api.engine.begin() as conn:
        conn.execute(text("DELETE FROM api_tokens"))
    revoked = client.get(UI)
    assert revoked.status_code == 303 and revoked.headers["location"].startswith("/ui/login")
    assert 'incidentd_session=""' in revoked.headers["set-cookie"]


def test_membership_and_feature_are_checked_as_in_the_api(api: ApiWorld) -> None:
    incident = cascade(api)
    outsider = sign_in(api, "outsider")
    for path in (UI, f"{UI}/{incident}", "/ui/spaces/nowhere/incidents"):
        response = outsider.get(path)
        assert response.status_code == 404, path
        assert "text/html" in response.headers["content-type"]
        assert "not found" in response.text
    editor = sign_in(api, "editor")
    plain = editor.get("/ui/spaces/plain/incidents")
    assert plain.status_code == 403 and "quality.incidents" in plain.text
    assert editor.get(f"{UI}/not-a-uuid").status_code == 404
    assert editor.get(f"{UI}/00000000-0000-0000-0000-000000000000").status_code == 404


# --- list -------------------------------------------------------------------------------------


def test_list_filters_and_pages(
    api: ApiWorld, editor: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    incident = cascade(api)
    island = api.incident_of("island")
    listed = [r.attrs[ID] for r in parse(editor.get(UI).text).having("tr", ID)]
    assert sorted(listed) == sorted([incident, island])

    def shown(**params: str) -> list[str]:
        response = editor.get(UI, params=params)
        assert response.status_code == 200
        return [e.attrs["data-incident-id"] for e in parse(response.text).having("tr", ID)]

    assert shown(severity="critical") == [incident]
    assert shown(severity="HIGH") == [island]  # any case, as in the API
    assert shown(status="resolved") == []
    assert shown(q=incident) == [incident]
    assert shown(impact="bogus", status="nope") == shown()  # unknown choices are ignored
    assert shown(q="Raw\x00") == shown(q="Raw")  # control characters never reach the database

    monkeypatch.setattr(ui_routes, "PAGE_SIZE", 1)
    first = parse(editor.get(UI).text)
    older = first.find("a", rel="next")[0].attrs["href"]
    assert older == "?page=2"
    second = parse(editor.get(UI + older).text)
    assert not second.find("a", rel="next") and second.find("a", rel="prev")
    ids = [e.attrs["data-incident-id"] for p in (first, second) for e in p.having("tr", ID)]
    assert sorted(ids) == sorted([incident, island])
    filtered = parse(editor.get(UI, params={"severity": "high", "page": "1"}).text)
    assert not filtered.find("a", rel="next")


# --- the incident page ------------------------------------------------------------------------


def _nodes(page: Page) -> dict[str, Element]:
    nodes = page.having("g", "data-product-id")
    ids = [n.attrs["data-product-id"] for n in nodes]
    assert len(ids) == len(set(ids)), f"drawn twice: {ids}"
    return {n.attrs["data-product-id"]: n for n in nodes}


def test_incident_page_draws_every_product_of_the_blast_radius(
    api: ApiWorld, editor: TestClient
) -> None:
    incident = cascade(api)
    detail = api.client.get(f"{API}/{incident}", headers=api.headers()).json()
    response = editor.get(f"{UI}/{incident}")
    assert response.status_code == 200
    assert "default-src 'none'" in response.headers["content-security-policy"]
    page = parse(response.text)
    assert page.find("h1")[0].text.strip() == detail["title"]

    nodes = _nodes(page)
    assert set(nodes) == set(detail["blast_radius_snapshot"]) == {"raw", "clean", "mart", "report"}
    expected = {
        "raw": ("root", "0"),
        "clean": ("alerted", "0"),
        "mart": ("affected", "1"),
        "report": ("affected", "2"),
    }
    assert {k: (v.attrs["data-role"], v.attrs["data-hops"]) for k, v in nodes.items()} == expected
    assert [int(nodes[p].attrs["data-column"]) for p in ("raw", "clean", "mart", "report")] == [
        0,
        1,
        2,
        3,
    ]
    for product in detail["blast_radius"]:
        tooltip = nodes[product["product_id"]].text
        assert all(owner in tooltip for owner in product["owners"] + product["stewards"])
        assert f"tier: {product['tier'] or '-'}" in tooltip
    edges = {
        (e.attrs["data-upstream"], e.attrs["data-downstream"])
        for e in page.having("path", "data-upstream")
    }
    assert edges == {("raw", "clean"), ("clean", "mart"), ("mart", "report")}
    listed = {
        e.attrs["data-product-id"]: e.attrs["data-role"] for e in page.having("tr", "data-role")
    }
    assert listed == {k: v[0] for k, v in expected.items()}
    assert "cfo@example.com" in page.find("section", id="products")[0].text
    timeline = page.find("section", id="timeline")[0].text
    assert "NEW" in timeline and "raw" in timeline and "quality_check_failed" in timeline


def test_suspected_upstream_is_drawn_left_of_the_root(api: ApiWorld, editor: TestClient) -> None:
    api.alerts({"alert_id": "m1", "product_id": "mart", "occurred_at": "2026-02-27T14:00:00Z"})
    incident = api.incident_of("mart")
    detail = api.client.get(f"{API}/{incident}", headers=api.headers()).json()
    assert detail["root_product_id"] == "mart" and "clean" in detail["suspected_upstream"]
    nodes = _nodes(parse(editor.get(f"{UI}/{incident}").text))
    assert set(nodes) == {"mart", "report", *detail["suspected_upstream"]}
    assert nodes["mart"].attrs["data-role"] == "root"
    assert nodes["report"].attrs["data-role"] == "affected"
    for product in detail["suspected_upstream"]:
        node = nodes[product]
        assert node.attrs["data-role"] == "upstream"
        assert int(node.attrs["data-column"]) < int(nodes["mart"].attrs["data-column"])
        assert int(node.attrs["data-hops"]) < 0
    assert nodes["clean"].attrs["data-hops"] == "-1"


def test_everything_shown_is_escaped(api: ApiWorld, editor: TestClient) -> None:
    evil = "<script>alert(1)</script>"
    with api.engine.begin() as conn:
        import_document(
            conn,
            LineageDocument(
                products=[
                    ProductSpec(id="x<b>y", space=SPACE, name=evil, owners=["x@example.com"])
                ],
                edges=[EdgeSpec(upstream="report", downstream="x<b>y")],
            ),
        )
        # Owners are validated as addresses now; one stored before that is still escaped.
        conn.execute(
            text(
                "UPDATE products SET owners = ARRAY['\"><img src=x>@example.com'] "
                "WHERE id = 'x<b>y'"
            )
        )
    api.alerts(
        {
            "alert_id": "e1",
            "product_id": "raw",
            "occurred_at": "2026-02-27T14:00:00Z",
            "title": evil,
        }
    )
    incident = api.incident_of("raw")
    patched = api.client.patch(
        f"{API}/{incident}", json={"root_cause": evil}, headers=api.headers()
    )
    assert patched.status_code == 200
    html = editor.get(f"{UI}/{incident}").text
    assert "<script>" not in html and "<img" not in html and "<b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    nodes = _nodes(parse(html))
    assert "x<b>y" in nodes and evil in nodes["x<b>y"].text
    listing = editor.get(UI, params={"q": evil}).text
    assert "<script>" not in listing


# --- actions ----------------------------------------------------------------------------------


def test_viewers_see_no_action_forms_and_cannot_post(api: ApiWorld) -> None:
    incident = cascade(api)
    viewer = sign_in(api, "viewer")
    html = viewer.get(f"{UI}/{incident}").text
    assert not parse(html).find("form", data_action="resolve")
    assert not parse(html).find("form", data_action="notify")
    denied = viewer.post(f"{UI}/{incident}/resolve", data={"csrf_token": csrf_of(html)})
    assert denied.status_code == 403 and "viewer" in denied.text
    state = api.client.get(f"{API}/{incident}", headers=api.headers()).json()["status"]
    assert state == "open"
    editor_html = sign_in(api, "editor").get(f"{UI}/{incident}").text
    assert parse(editor_html).find("form", data_action="resolve")
    assert parse(editor_html).find("form", data_action="notify")


def test_editor_resolves_through_the_form_with_its_csrf_token(
    api: ApiWorld, editor: TestClient
) -> None:
    incident = cascade(api)
    html = editor.get(f"{UI}/{incident}").text
    form = parse(html).find("form", data_action="resolve")[0]
    assert form.attrs["action"] == f"{UI}/{incident}/resolve"
    for data in ({}, {"csrf_token": ""}, {"csrf_token": "0" * 64}):
        refused = editor.post(form.attrs["action"], data=data)
        assert refused.status_code == 403 and "security token" in refused.text
    other = sign_in(api, "admin").get(f"{UI}/{incident}").text
    assert csrf_of(other) != csrf_of(html)
    stolen = editor.post(form.attrs["action"], data={"csrf_token": csrf_of(other)})
    assert stolen.status_code == 403
    assert api.client.get(f"{API}/{incident}", headers=api.headers()).json()["status"] == "open"

    done = editor.post(form.attrs["action"], data={"csrf_token": csrf_of(html)})
    assert done.status_code == 303
    assert done.headers["location"] == f"{UI}/{incident}?done=resolved"
    after = api.client.get(f"{API}/{incident}", headers=api.headers()).json()
    assert after["status"] == "resolved" and after["resolved_at"]
    history = api.client.get(f"{API}/{incident}/history", headers=api.headers()).json()
    assert history[-1]["state"] == "RESOLVED" and history[-1]["actor"] == "editor@example.com"
    page = parse(editor.get(done.headers["location"]).text)
    assert "Incident resolved." in page.find("p", role="status")[0].text
    assert not page.find("form", data_action="resolve")
    assert page.find("form", data_action="notify")


def test_notify_downstream_through_the_form(api: ApiWorld, editor: TestClient) -> None:
    incident = cascade(api)
    token = csrf_of(editor.get(f"{UI}/{incident}").text)
    first = editor.post(f"{UI}/{incident}/notify", data={"csrf_token": token})
    assert first.status_code == 303
    query = parse_qs(urlsplit(first.headers["location"]).query)
    assert query["done"] == ["notified"] and int(query["told"][0]) >= 3
    assert query["products"] == ["4"]
    flash = parse(editor.get(first.headers["location"]).text).find("p", role="status")[0].text
    assert "Notified" in flash and "4 products" in flash
    with api.engine.connect() as conn:
        told = conn.execute(
            text("SELECT count(DISTINCT recipient) FROM notifications WHERE incident_id = :i"),
            {"i": incident},
        ).scalar()
    assert told == int(query["told"][0])
    again = editor.post(f"{UI}/{incident}/notify", data={"csrf_token": token})
    assert again.headers["location"].endswith("?done=nothing-new")


def test_the_ui_is_not_in_the_openapi_document_and_serves_its_stylesheet(api: ApiWorld) -> None:
    paths = api.client.get("/openapi.json").json()["paths"]
    assert not [p for p in paths if p.startswith("/ui")]
    css = api.client.get("/ui/static/ui.css")
    assert css.status_code == 200 and "text/css" in css.headers["content-type"]
    assert api.client.get("/ui/", follow_redirects=False).headers["location"] == "/ui/spaces"
