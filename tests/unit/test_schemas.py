"""The event contracts: validation rules of CONTRACT §2 and the exported JSON Schemas."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from pydantic import ValidationError

from incidentd.schemas.alert import AlertEvent
from incidentd.schemas.export import render

ROOT = Path(__file__).resolve().parents[2]
BASE = {
    "schema_version": 1,
    "alert_id": "chk-1",
    "space": "finance",
    "product_id": "orders_clean",
    "alert_type": "quality_check_failed",
    "severity": "critical",
    "occurred_at": "2026-02-27T14:00:00+02:00",
}


def test_exported_json_schemas_match_the_models() -> None:
    for name, content in render().items():
        path = ROOT / "schemas" / name
        assert path.exists(), f"{path} missing: run python -m incidentd.schemas.export schemas"
        assert path.read_text() == content, f"{name} drifted: re-export the schemas"


def test_alert_defaults_and_normalisation() -> None:
    event = AlertEvent.model_validate({**BASE, "severity": "HIGH", "extra_field": {"a": 1}})
    assert event.severity == "high"
    assert event.status == "firing"
    assert event.occurred_at.isoformat() == "2026-02-27T12:00:00+00:00"
    assert event.model_extra == {"extra_field": {"a": 1}}
    assert event.effective_fingerprint() == "finance/orders_clean/quality_check_failed///"
    with_check = AlertEvent.model_validate(
        {**BASE, "check": {"id": "c7"}, "attribute": "customer_id", "segment": "eu"}
    )
    assert with_check.effective_fingerprint() == (
        "finance/orders_clean/quality_check_failed/c7/customer_id/eu"
    )
    assert AlertEvent.model_validate({**BASE, "fingerprint": "fp"}).effective_fingerprint() == "fp"


@pytest.mark.parametrize(
    "change",
    [
        {"occurred_at": "2026-02-27T14:00:00"},
        {"occurred_at": "yesterday"},
        {"severity": "urgent"},
        {"status": "maybe"},
        {"alert_id": ""},
        {"alert_id": "x" * 201},
        {"space": "Not A Slug"},
        {"schema_version": 2},
        {"tags": "prod"},
        {"alert_id": 12},
    ],
)
def test_invalid_alerts_are_rejected(change: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        AlertEvent.model_validate({**BASE, **change})


@pytest.mark.parametrize(
    "missing", ["alert_id", "space", "product_id", "alert_type", "severity", "occurred_at"]
)
def test_required_fields(missing: str) -> None:
    body = {k: v for k, v in BASE.items() if k != missing}
    with pytest.raises(ValidationError):
        AlertEvent.model_validate_json(orjson.dumps(body))
