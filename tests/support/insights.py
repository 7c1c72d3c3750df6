"""Seed 001's insight endpoints over HTTP: request helpers and a known data set of incidents."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text

from tests.support.api import SPACE, ApiWorld

BASE = f"/spaces/{SPACE}"
WEEK = {"from_time": "2026-03-01T00:00:00Z", "to_time": "2026-03-08T00:00:00Z"}


def _t(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _get(api: ApiWorld, path: str, **params: Any) -> Any:
    response = api.client.get(f"{BASE}{path}", params=params, headers=api.headers("viewer"))
    assert response.status_code == 200, response.text
    return response.json()


def _rejected(api: ApiWorld, path: str, **params: Any) -> str:
    response = api.client.get(f"{BASE}{path}", params=params, headers=api.headers("viewer"))
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str) and detail
    return detail


# --- a known data set of incidents ---------------------------------------------------------

# name: (first_alert_at, hours to resolve or None, status, severity, impact, tags); the
# figures are times of the problem (first alert, resolution), so created_at is set to match.
KNOWN: dict[str, tuple[str, float | None, str, str, str, list[str]]] = {
    "i1": ("2026-03-02T01:00:00Z", None, "open", "critical", "HIGH", ["prod", "T1"]),
    "i2": ("2026-03-02T08:00:00Z", 2, "resolved", "high", "MEDIUM", ["prod"]),
    "i3": ("2026-03-02T15:00:00Z", None, "investigating", "high", "LOW", []),
    "i4": ("2026-03-03T09:00:00Z", 4, "resolved", "low", "LOW", ["T1"]),
    "i5": ("2026-03-03T13:00:00Z", None, "open", "info", "HIGH", ["prod"]),
    # the week before: resolved after 10 h inside it
    "i6": ("2026-02-25T00:00:00Z", 10, "resolved", "critical", "HIGH", ["prod"]),
    # created the week before, resolved (after 6 h) in the week
    "i7": ("2026-02-28T22:00:00Z", 6, "resolved", "medium", "MEDIUM", ["prod"]),
    # merged into i1: never counted
    "i8": ("2026-03-02T05:00:00Z", 1, "resolved", "high", "HIGH", ["prod"]),
}


def _known(api: ApiWorld) -> dict[str, str]:
    """Incidents i1..i8 in finance (products p1..p8) and i9 in `other`, with known figures."""
    api.alerts(
        *[
            {"alert_id": f"k{n}", "product_id": f"p{n}", "occurred_at": "2026-03-02T00:00:00Z"}
            for n in range(1, 9)
        ],
        {
            "alert_id": "k9",
            "space": "other",
            "product_id": "p9",
            "occurred_at": "2026-03-02T00:00:00Z",
        },
    )
    ids = {f"i{n}": api.incident_of(f"p{n}") for n in range(1, 10)}
    with api.engine.begin() as conn:
        for name, (created, hours, status, severity, impact, tags) in KNOWN.items():
            created_at = _t(created)
            conn.execute(
                text(
                    "UPDATE incidents SET created_at = :c, first_alert_at = :c, resolved_at = :r, "
                    "status = :st, "
                    "severity = :sev, impact = :imp, tags = CAST(:tags AS text[]) WHERE id = :id"
                ),
                {
                    "c": created_at,
                    "r": None if hours is None else created_at + timedelta(hours=hours),
                    "st": status,
                    "sev": severity,
                    "imp": impact,
                    "tags": tags,
                    "id": ids[name],
                },
            )
        conn.execute(
            text("UPDATE incidents SET merged_into = CAST(:t AS uuid) WHERE id = :id"),
            {"t": ids["i1"], "id": ids["i8"]},
        )
        conn.execute(
            text("UPDATE incidents SET title = 'Orders freshness' WHERE id = :id"),
            {"id": ids["i5"]},
        )
        conn.execute(
            text(
                "UPDATE incidents SET created_at = '2026-03-02T02:00:00Z', "
                "first_alert_at = '2026-03-02T02:00:00Z', severity = 'critical', "
                "impact = 'HIGH' WHERE id = :id"
            ),
            {"id": ids["i9"]},
        )
    return ids
