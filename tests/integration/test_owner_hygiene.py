"""Owners and stewards are single addresses; only members see a space's notifications; no
self-loops by any path (issue 11, defect 7)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import text

from incidentd.storage.users import create_user
from tests.support.cli import run_cli

BAD_ADDRESSES = ["a@x.com, b@evil.example", "a@x.com,b@evil.example", "a@x.com\r\nBcc: e@x.io"]


@pytest.mark.parametrize("address", BAD_ADDRESSES)
def test_the_catalog_api_refuses_a_list_or_a_header_as_an_owner(api: Any, address: str) -> None:
    for field in ("owners", "stewards"):
        answer = api.client.put(
            "/spaces/finance/products/raw", json={field: [address]}, headers=api.headers()
        )
        assert answer.status_code == 422, answer.text


def _import(api: Any, tmp_path: Path, document: dict[str, Any]) -> Any:
    path = tmp_path / "lineage.json"
    path.write_bytes(orjson.dumps(document))
    return run_cli(api.settings.database_url, "lineage", "import", str(path))


@pytest.mark.parametrize("address", BAD_ADDRESSES)
def test_lineage_import_refuses_a_list_or_a_header_as_an_owner(
    api: Any, tmp_path: Path, address: str
) -> None:
    product = {"id": "p", "space": "finance", "owners": ["ok@example.com"], "stewards": [address]}
    done = _import(api, tmp_path, {"products": [product]})
    assert done.returncode == 1, done.stderr
    with api.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM products WHERE id = 'p'")).scalar() == 0


def test_lineage_import_refuses_a_self_loop(api: Any, tmp_path: Path) -> None:
    edge = {"upstream": "raw", "downstream": "raw", "space": "finance"}
    done = _import(api, tmp_path, {"edges": [edge]})
    assert done.returncode == 1 and "itself" in done.stderr, done.stderr
    with api.engine.connect() as conn:
        loops = conn.execute(text("SELECT count(*) FROM edges WHERE upstream = downstream"))
        assert loops.scalar() == 0


def test_notifications_show_only_spaces_the_caller_is_a_member_of(api: Any) -> None:
    with api.engine.begin() as conn:
        # zed owns a finance product but is a member of `other` only.
        zed = create_user(conn, "zed@example.com", "other", "viewer")
        conn.execute(
            text("UPDATE products SET owners = ARRAY['zed@example.com'] WHERE id = 'report'")
        )
    api.alerts({"alert_id": "m1", "product_id": "mart", "occurred_at": "2026-02-27T14:00:00Z"})
    incident = api.incident_of("mart")
    done = api.client.post(
        f"/spaces/finance/incidents/{incident}/notify-downstream", headers=api.headers()
    )
    assert done.status_code == 200, done.text
    page = api.client.get("/notifications", headers={"Authorization": f"Bearer {zed}"}).json()
    assert page == {"items": [], "total": 0, "unread": 0}
    read_all = api.client.post(
        "/notifications/read-all", headers={"Authorization": f"Bearer {zed}"}
    ).json()
    assert read_all == {"marked_read": 0}
