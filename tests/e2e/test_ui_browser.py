"""The web UI in headless Chromium, on the demo data, served by uvicorn.

Signs in with an API token, picks the space, opens the incident list and the incident with the
largest blast radius (billing_invoices_raw), finds the root and every blast-radius product in
the drawing, saves a screenshot (test-output/incident-page.png, copied to
docs/incident-page.png for the README) and resolves another incident with its form.

The browser is Debian's `chromium` (Playwright cannot download browsers here); `.ci/run`
installs it. The test tries `apt-get install chromium` itself when it runs as root, and skips
only when no Chromium is installed and none can be.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page, sync_playwright
from sqlalchemy import Engine

from incidentd.app.demo_alerts import DEMO_LINEAGE_FILE, DEMO_SPACE, demo_alert_burst
from incidentd.lineage.document import load_document
from incidentd.schemas.settings import Settings
from incidentd.storage.db import make_engine
from incidentd.storage.graphs import GraphCache
from incidentd.storage.lineage import import_document
from incidentd.storage.spaces import INCIDENTS_FEATURE, upsert_space
from incidentd.storage.users import create_user
from incidentd.worker.parsing import NewAlert, RecordError, parse_alert
from incidentd.worker.pipeline import process_batch
from tests.support.live import serve

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "test-output" / "incident-page.png"
DOCS_SCREENSHOT = ROOT / "docs" / "incident-page.png"
INSIGHTS_SCREENSHOT = ROOT / "test-output" / "insights-page.png"
DOCS_INSIGHTS_SCREENSHOT = ROOT / "docs" / "insights-page.png"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WIDE = {"width": 1500, "height": 1000}


def _find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None


def _chromium() -> str:
    """Debian's chromium, installed with apt-get when missing and possible; else skip."""
    found = _find_chromium()
    if found is None and os.geteuid() == 0 and shutil.which("apt-get"):
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            subprocess.run(["apt-get", "update", "-qq"], check=True, timeout=600)
            subprocess.run(
                ["apt-get", "install", "-y", "-qq", "chromium"],
                check=True,
                timeout=900,
                env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
            )
        found = _find_chromium()
    if found is None:
        pytest.skip(
            "no Chromium installed and it could not be installed "
            "(run `apt-get install chromium` as root; .ci/run does)"
        )
    return found


@dataclass
class DemoServer:
    """The API on the demo data, and an editor's token."""

    base: str
    token: str
    engine: Engine

    def get(self, path: str) -> Any:
        """GET a JSON API path with the token."""
        request = urllib.request.Request(
            self.base + path, headers={"Authorization": f"Bearer {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())


def _prepare_demo(engine: Engine) -> str:
    """Space finance, the demo lineage, the demo alert burst correlated; an editor's token."""
    with engine.begin() as conn:
        upsert_space(conn, DEMO_SPACE, name="Finance", features=[INCIDENTS_FEATURE])
        import_document(conn, load_document(DEMO_LINEAGE_FILE))
        token = create_user(conn, "ui.editor@example.com", DEMO_SPACE, "editor")
    alerts: list[NewAlert] = []
    for _key, value in demo_alert_burst(datetime.now(UTC)):
        with contextlib.suppress(RecordError):
            alerts.append(parse_alert(value))
    graphs = GraphCache()
    for alert in alerts:  # one record per batch, in delivery order, as a stream would
        process_batch(engine, [alert], [], graphs, incidents_topic="t", default_space=None)
    return token


def _serve_demo(migrated_db: str, backlog_days: tuple[int, ...] = ()) -> Iterator[DemoServer]:
    """The demo (and its burst replayed `backlog_days` days earlier) behind a live API."""
    engine = make_engine(migrated_db, pool_size=2)
    graphs = GraphCache()
    for days in backlog_days:  # older bursts first, as they happened: earlier incidents
        with engine.begin() as conn:
            upsert_space(conn, DEMO_SPACE, name="Finance", features=[INCIDENTS_FEATURE])
            import_document(conn, load_document(DEMO_LINEAGE_FILE))
        burst = demo_alert_burst(datetime.now(UTC) - timedelta(days=days))
        alerts = [a for a in (_parsed(value) for _key, value in burst) if a is not None]
        process_batch(engine, alerts, [], graphs, incidents_topic="t", default_space=None)
    token = _prepare_demo(engine)
    try:
        with serve(Settings(database_url=migrated_db, incidents_topic="t")) as base:
            yield DemoServer(base, token, engine)
    finally:
        engine.dispose()


def _parsed(value: bytes) -> NewAlert | None:
    try:
        return parse_alert(value)
    except RecordError:
        return None


@pytest.fixture
def demo_server(migrated_db: str) -> Iterator[DemoServer]:
    """The demo data behind uvicorn on a free 127.0.0.1 port."""
    yield from _serve_demo(migrated_db)


@pytest.fixture
def history_server(migrated_db: str) -> Iterator[DemoServer]:
    """The demo data plus six older bursts over the two weeks before."""
    yield from _serve_demo(migrated_db, backlog_days=(13, 11, 9, 6, 4, 2))


def _widest(incidents: list[dict[str, Any]]) -> dict[str, Any]:
    """The billing incident if present, else the one with the largest blast radius."""
    for item in incidents:
        if item["root_product_id"] == "billing_invoices_raw":
            return item
    return max(incidents, key=lambda i: len(i["blast_radius_snapshot"]))


def _sign_in(page: Page, context: BrowserContext, server: DemoServer) -> None:
    """Signed out, any UI page leads to the sign-in form; a bad token is refused."""
    page.goto(f"{server.base}/ui/")
    assert "/ui/login" in page.url
    page.fill("#token", "idt_not-a-real-token")
    page.click("form.stack button[type=submit]")
    assert "not valid" in page.inner_text(".error")
    page.fill("#token", server.token)
    page.click("form.stack button[type=submit]")
    page.wait_for_url("**/ui/spaces")
    cookie = next(c for c in context.cookies() if c["name"] == "incidentd_session")
    assert cookie.get("httpOnly") and cookie.get("sameSite") == "Strict"


def _check_drawing(page: Page, detail: dict[str, Any]) -> None:
    """The root and every blast-radius product drawn once, with role, hops and owners."""
    nodes = page.eval_on_selector_all(
        "svg.blast-radius g.node",
        """els => els.map(e => {
            const box = e.getBoundingClientRect();
            return {id: e.dataset.productId, role: e.dataset.role,
                    hops: Number(e.dataset.hops), width: box.width, height: box.height,
                    title: e.querySelector('title').textContent};
        })""",
    )
    drawn = [n["id"] for n in nodes]
    assert len(drawn) == len(set(drawn)), "a product is drawn twice"
    radius = set(detail["blast_radius_snapshot"])
    assert radius <= set(drawn), f"not drawn: {sorted(radius - set(drawn))}"
    hops = {p["product_id"]: p["hops"] for p in detail["blast_radius"]}
    upstream = [u for u in detail["suspected_upstream"] if u not in hops]
    assert set(drawn) == set(hops) | set(upstream)
    by_id = {n["id"]: n for n in nodes}
    assert [n["id"] for n in nodes if n["role"] == "root"] == [detail["root_product_id"]]
    for product in detail["blast_radius"]:
        node = by_id[product["product_id"]]
        assert node["hops"] == product["hops"], product
        role = "alerted" if product["alerted"] else "affected"
        if product["product_id"] == detail["root_product_id"]:
            role = "root"
        assert node["role"] == role, product
        assert node["width"] > 100 and node["height"] > 20, "node not rendered"
        assert all(owner in node["title"] for owner in product["owners"])
    assert all(by_id[product]["role"] == "upstream" for product in upstream)
    assert page.locator("svg.blast-radius path.edge").count() >= len(radius) - 1


def _resolve_through_the_form(page: Page, server: DemoServer, incident_id: str) -> None:
    """The Resolve button (CSRF token, Strict cookie) resolves it as the JSON API sees it."""
    page.goto(f"{server.base}/ui/spaces/{DEMO_SPACE}/incidents/{incident_id}")
    page.click("form[data-action='resolve'] button")
    page.wait_for_url("**?done=resolved")
    assert "Incident resolved." in page.inner_text(".flash")
    assert page.locator("form[data-action='resolve']").count() == 0
    assert server.get(f"/spaces/{DEMO_SPACE}/incidents/{incident_id}")["status"] == "resolved"


@contextlib.contextmanager
def _signed_in(executable: str, server: DemoServer) -> Iterator[tuple[Page, BrowserContext]]:
    """A wide headless Chromium page signed in to `server`; the browser closes on exit."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport=WIDE, device_scale_factor=1)
            page = context.new_page()
            page.set_default_timeout(20_000)
            _sign_in(page, context, server)
            yield page, context
        finally:
            browser.close()


def test_sign_in_list_and_blast_radius_drawing(demo_server: DemoServer) -> None:
    executable = _chromium()
    listed = demo_server.get(f"/spaces/{DEMO_SPACE}/incidents")["items"]
    assert len(listed) >= 2, listed
    chosen = _widest(listed)
    detail = demo_server.get(f"/spaces/{DEMO_SPACE}/incidents/{chosen['id']}")
    other = next(i for i in listed if i["id"] != chosen["id"] and i["status"] != "resolved")

    with _signed_in(executable, demo_server) as (page, context):
        # Pick the space, then the incident with the widest blast radius.
        page.click(f"a[data-space='{DEMO_SPACE}']")
        page.wait_for_url(f"**/ui/spaces/{DEMO_SPACE}/incidents")
        assert page.locator("tr[data-incident-id]").count() == len(listed)
        page.click(f"tr[data-incident-id='{chosen['id']}'] a")
        page.wait_for_url(f"**/incidents/{chosen['id']}")
        assert page.inner_text("h1") == detail["title"]
        _check_drawing(page, detail)
        assert page.locator("form[data-action='resolve'] button").is_visible()
        assert page.locator("form[data-action='notify'] button").is_visible()

        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOT), full_page=True)
        if os.environ.get("INCIDENTD_UPDATE_DOCS_SCREENSHOT"):  # refresh the README's copy
            DOCS_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(SCREENSHOT, DOCS_SCREENSHOT)

        _resolve_through_the_form(page, demo_server, other["id"])
        page.goto(f"{demo_server.base}/ui/spaces/{DEMO_SPACE}/incidents?status=resolved")
        shown = page.eval_on_selector_all(
            "tr[data-incident-id]", "els => els.map(e => e.dataset.incidentId)"
        )
        assert other["id"] in shown and chosen["id"] not in shown

        page.click("header form button")  # Sign out
        page.wait_for_url("**/ui/login")
        assert not [c for c in context.cookies() if c["name"] == "incidentd_session"]


def _follow_every_bar(page: Page, server: DemoServer) -> int:
    """Each bar of the per-day chart leads to a list of exactly as many incidents."""
    bars = page.eval_on_selector_all(
        "svg.chart-per-day a.bar",
        "els => els.map(e => ({href: e.getAttribute('href'), value: Number(e.dataset.value)}))",
    )
    for bar in bars:
        page.goto(server.base + bar["href"])
        assert page.locator("tr[data-incident-id]").count() == bar["value"], bar
    return sum(b["value"] for b in bars)


def test_insights_page(history_server: DemoServer) -> None:
    executable = _chromium()
    summary = history_server.get(f"/api/backend/{DEMO_SPACE}/incidents/summary")
    with _signed_in(executable, history_server) as (page, _):
        page.goto(f"{history_server.base}/ui/spaces/{DEMO_SPACE}/incidents")
        page.click("text=Insights")
        page.wait_for_url("**/insights")
        for chart in ("per-day", "mttr", "by-tag"):
            box = page.locator(f"svg.chart-{chart}").bounding_box()
            assert box is not None and box["width"] > 600 and box["height"] > 100, chart
        INSIGHTS_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(INSIGHTS_SCREENSHOT), full_page=True)
        if os.environ.get("INCIDENTD_UPDATE_DOCS_SCREENSHOT"):
            shutil.copyfile(INSIGHTS_SCREENSHOT, DOCS_INSIGHTS_SCREENSHOT)
        assert page.locator("svg.chart-mttr circle").count() >= 2
        assert page.inner_text("[data-figure=total]") == str(summary["total"])
        assert _follow_every_bar(page, history_server) == summary["total"]
        # a tag bar leads to the open incidents with that tag
        page.goto(f"{history_server.base}/ui/spaces/{DEMO_SPACE}/insights")
        first = page.locator("svg.chart-by-tag a.bar").first
        count = int(first.get_attribute("data-value") or 0)
        first.locator("rect").click()
        page.wait_for_url("**/incidents?**")
        assert page.locator("tr[data-incident-id]").count() == count > 0
