"""Every example request of Telmai's incidents API document, replayed against a running API.

The API runs under uvicorn on real PostgreSQL; the incidents come from alerts correlated by
the worker's batch code and from API calls, shaped so that the document's literal examples
(incident 1311 on asset `5x0e34yk1re4`, its alert refs) name real data. Each response must
have the document's shape: field names, JSON types, enumerations, time formats.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import text

from incidentd.schemas.lineage import EdgeSpec, LineageDocument, ProductSpec
from incidentd.schemas.settings import Settings
from incidentd.storage.db import make_engine
from incidentd.storage.graphs import GraphCache
from incidentd.storage.lineage import import_document
from incidentd.storage.spaces import INCIDENTS_FEATURE, upsert_space
from incidentd.storage.users import create_user
from incidentd.worker.parsing import parse_alert
from incidentd.worker.pipeline import process_batch
from tests.support import asset_api as doc
from tests.support.live import serve

TENANT = "acme"
ASSET = "5x0e34yk1re4"
LINEAGE = LineageDocument(
    products=[
        ProductSpec(
            id=ASSET,
            space=TENANT,
            name="CUSTOMER_ORDERS",
            datasets=["snowflake://acme-org/SALES_DB.PUBLIC.CUSTOMER_ORDERS"],
        ),
        ProductSpec(id="orders_enriched", space=TENANT, name="Orders (enriched)"),
        ProductSpec(
            id="web_events",
            space=TENANT,
            project_id=24,
            datasets=["gs://events-bucket/raw/events"],
        ),
        ProductSpec(
            id="web_sessions", space=TENANT, project_id=7, datasets=["bigquery/proj.web.sessions"]
        ),
    ],
    edges=[EdgeSpec(upstream=ASSET, downstream="orders_enriched")],
)


def _alert(alert_id: str, product: str, at: datetime | str, **fields: Any) -> dict[str, Any]:
    when = at if isinstance(at, str) else at.isoformat()
    return {
        "schema_version": 1,
        "alert_id": alert_id,
        "space": TENANT,
        "product_id": product,
        "alert_type": "quality_check_failed",
        "severity": "high",
        "occurred_at": when,
        **fields,
    }


def _pii(alert_id: str, at: str, fingerprint: str, **fields: Any) -> dict[str, Any]:
    return _alert(
        alert_id,
        ASSET,
        at,
        fingerprint=fingerprint,
        title="PII found in EMAIL",
        description="2.1% of EMAIL values look like personal data",
        check={"id": "chk-pii", "name": "PII %", "policy_id": "4", "policy_name": "test_policy"},
        metric={"name": "contains_pii", "aggregation": "ratio", "value": 0.021},
        attribute="EMAIL",
        segment="USA",
        tags=["T1", "PROD"],
        **fields,
    )


@dataclass
class Live:
    """The running API, a viewer's token and the incidents' numbers."""

    url: str
    token: str

    def get(self, path: str) -> Any:
        """GET a path of the document (with `{tenant}`) and return its JSON (200 required)."""
        response = httpx.get(self._url(path), headers=self._auth(), timeout=30)
        assert response.status_code == 200, response.text
        return response.json()

    def post(self, path: str, body: Any) -> Any:
        """POST a JSON body to a path of the document and return its JSON (200 required)."""
        response = httpx.post(self._url(path), json=body, headers=self._auth(), timeout=30)
        assert response.status_code == 200, response.text
        return response.json()

    def _url(self, path: str) -> str:
        return self.url + path.replace("{tenant}", TENANT)

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def _correlate(engine: Any, *bodies: dict[str, Any]) -> None:
    batch = [parse_alert(orjson.dumps(b)) for b in bodies]
    process_batch(engine, batch, [], GraphCache(), incidents_topic="t", default_space=None)


@pytest.fixture
def live(migrated_db: str) -> Iterator[Live]:
    """Incidents 1311 (asset 5x0e34yk1re4, project 0), 1312 (project 24), 1313 (7, closed)."""
    engine = make_engine(migrated_db, pool_size=2)
    now = datetime.now(UTC).replace(microsecond=0)
    with engine.begin() as conn:
        upsert_space(conn, TENANT, features=[INCIDENTS_FEATURE])
        import_document(conn, LINEAGE)
        viewer = create_user(conn, "viewer@example.com", TENANT, "viewer")
        editor = create_user(conn, "editor@example.com", TENANT, "editor")
        # the tenant has had 1310 incidents before: the next one is the document's 1311
        conn.execute(
            text("UPDATE spaces SET last_incident_number = 1310 WHERE slug = :s"), {"s": TENANT}
        )
    _correlate(
        engine,
        _pii("a1", "2025-06-30T14:12:51.871Z", "FEATURE.s132j7ja1"),
        _pii("a2", "2025-06-30T14:13:55.325Z", "DATA.a531", severity="critical"),
    )
    _correlate(engine, _alert("a3", "orders_enriched", "2025-06-30T14:20:00Z"))
    freshness = {"id": "chk-fresh", "policy_id": "5", "policy_name": "freshness"}
    _correlate(
        engine,
        _alert(
            "b1",
            "web_events",
            now - timedelta(hours=2),
            severity="medium",
            check=freshness,
            tags=["prod"],
        ),
    )
    _correlate(engine, _alert("c1", "web_sessions", now - timedelta(hours=1), severity="low"))
    try:
        with serve(Settings(database_url=migrated_db, incidents_topic="t")) as url:
            edit = {"Authorization": f"Bearer {editor}"}
            base = f"{url}/spaces/{TENANT}/incidents"
            assert httpx.post(f"{base}/1311/link-ticket", json={"ticket_id": "2411"}, headers=edit)
            assert httpx.post(f"{base}/1313/resolve", headers=edit).status_code == 200
            yield Live(url, viewer)
    finally:
        engine.dispose()


def _assert_shape(actual: Any, example: Any, nullable: frozenset[str] = frozenset()) -> None:
    problems = doc.shape_of(actual, example, nullable=nullable)
    assert not problems, "\n".join(problems)


def test_list_incidents_example(live: Live) -> None:
    listed = live.get(doc.LIST_REQUEST)
    assert isinstance(listed, list)
    assert [i["id"] for i in listed] == [1312, 1311]  # project 7's 1313 is filtered out
    for item in listed:
        _assert_shape(item, doc.LIST_ITEM, nullable=frozenset({"ticket_id"}))
    first = listed[1]
    assert first == {
        "id": 1311,
        "project_id": 0,
        "asset_id": ASSET,
        "last_upload_timestamp": "2025-06-30T14:20:00.000Z",
        "created_time": "2025-06-30T14:12:51.871Z",  # the problem started with a1
        "severity": "HIGH",  # critical
        "impact": "LOW",
        "status": "OPEN",
        "ticket_id": 2411,
        "alert_policy_id": "4",
        "alert_policy_name": "test_policy",
        "description": first["description"],
        "tags": ["PROD", "T1"],
    }
    assert "CUSTOMER_ORDERS" in first["description"]
    assert (listed[0]["project_id"], listed[0]["severity"]) == (24, "MEDIUM")


def test_incident_detail_example(live: Live) -> None:
    detail = live.get(doc.DETAIL_REQUEST)
    # "In addition to the fields in the list response": created_time too
    _assert_shape(
        detail, {**doc.LIST_ITEM, **doc.DETAIL}, nullable=frozenset({"metric_aggregation"})
    )
    assert detail["id"] == 1311 and detail["ticket_id"] == 2411
    assert detail["metrics"][0] == {
        "metric_name": "contains_pii",
        "metric_aggregation": "ratio",
        "display_metric_name": "PII %",
        "segment": "USA",
        "rule": None,
        "attribute": "EMAIL",
    }
    assert [m["metric_name"] for m in detail["metrics"]] == ["contains_pii", "quality_check_failed"]
    states = [step["state"] for step in detail["history"]]
    assert states[0] == "NEW" and set(states) <= {"NEW", "ONGOING"}
    refs = [r for step in detail["history"] for r in step["alert_refs"]]
    for ref in doc.ALERT_REFS:  # the document's own alert refs are this incident's
        assert ref in refs


def test_alerts_by_filters_example(live: Live) -> None:
    alerts = live.post(doc.ALERTS_REQUEST, doc.ALERTS_BODY)
    assert isinstance(alerts, list)
    assert [a["job_id"] for a in alerts] == ["a1", "a2"]
    for alert in alerts:
        _assert_shape(alert, doc.ALERT)
    first = alerts[0]
    assert first["violation_name"] == "FEATURE.s132j7ja1"
    assert first["metric_time"] == "2025-06-30T14:12:51.871Z"
    assert (first["source"], first["source_name"], first["source_type"]) == (
        ASSET,
        "CUSTOMER_ORDERS",
        "SNOWFLAKE",
    )
    assert (first["policy_name"], first["priority"], alerts[1]["priority"]) == (
        "test_policy",
        "HIGH",
        "HIGH",
    )
    assert first["description"] == {"HIGH": ["2.1% of EMAIL values look like personal data"]}
    assert first["violation_data"] == {
        "name": "contains_pii",
        "aggregation": "ratio",
        "value": 0.021,
    }
    assert (first["metric_value"], first["attribute"], first["segment"]) == (0.021, "EMAIL", "USA")


def test_the_documented_recipe_finds_every_alert_of_an_incident(live: Live) -> None:
    detail = live.get(doc.DETAIL_REQUEST)
    refs = [r for step in detail["history"] for r in step["alert_refs"]]
    body = {
        "sources": [detail["asset_id"]],
        "upload_dates": [r["metric_time"] for r in refs],
        "violation_names": [r["violation_name"] for r in refs],
    }
    alerts = live.post(doc.ALERTS_REQUEST, body)
    # the alert on the downstream product belongs to the incident whose asset is the root
    assert sorted(a["job_id"] for a in alerts) == ["a1", "a2", "a3"]


def test_distribution_example(live: Live) -> None:
    body = live.get(doc.DISTRIBUTION_REQUEST)
    _assert_shape(body, doc.DISTRIBUTION)
    days = body["incidents"]
    assert len(days) >= 30  # the last 30 days, every day listed
    for day in days:
        assert list(day["counts"]) == ["LOW", "MEDIUM", "HIGH", ""]
        assert set(day["counts_by_impact"]) == {"LOW", "MEDIUM", "HIGH"}
    totals = {k: sum(d["counts"][k] for d in days) for k in ("LOW", "MEDIUM", "HIGH", "")}
    assert totals == {"LOW": 1, "MEDIUM": 1, "HIGH": 0, "": 0}  # 1311 started in 2025


def test_summary_example(live: Live) -> None:
    body = live.get(doc.SUMMARY_REQUEST)
    _assert_shape(body, doc.SUMMARY, nullable=frozenset({"previous_mean_time_to_resolve"}))
    # the last 30 days: 1312 and 1313 (1311's problem started in 2025)
    assert (body["total"], body["open"], body["closed"]) == (2, 1, 1)
    assert body["mean_time_to_resolve"] == 1  # 1313: its alert an hour ago, resolved now
    assert body["previous_mean_time_to_resolve"] is None or isinstance(
        body["previous_mean_time_to_resolve"], int
    )
    assert body["open_by_tag"] == {"prod": 1} and body["closed_by_tag"] == {}
