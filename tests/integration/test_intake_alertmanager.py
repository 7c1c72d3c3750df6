"""Alertmanager webhook payloads (version 4), sent by a real Prometheus Alertmanager to a
receiver in the test, become the expected alerts by the label convention of the README.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from incidentd.intake.alertmanager import SOURCE
from incidentd.intake.base import IntakeError, Mapped
from incidentd.intake.registry import source
from incidentd.schemas.alert import AlertEvent
from tests.support.alertmanager import running_alertmanager
from tests.support.tools import Catalog

SPACE = "shop"
STARTED = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
NULLS = {
    "labels": {
        "alertname": "OrdersNullRatioHigh",
        "product": "orders_clean",
        "column": "customer_id",
        "severity": "critical",
        "space": SPACE,
    },
    "annotations": {"summary": "customer_id nulls above 1%", "value": "0.032", "threshold": "0.01"},
    "startsAt": STARTED.isoformat(),
}
ROWS = {
    "labels": {"alertname": "RowCountLow", "dataset": "warehouse/orders", "severity": "warning"},
    "startsAt": STARTED.isoformat(),
}
ORPHAN = {"labels": {"alertname": "DiskFull", "instance": "db1"}, "startsAt": STARTED.isoformat()}
NOBODY = Catalog(SPACE, {})


@pytest.fixture(scope="module")
def payloads(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Alertmanager's notifications: three alerts fire, then the null-ratio one resolves."""
    with running_alertmanager(Path(tmp_path_factory.mktemp("alertmanager"))) as manager:
        manager.post([NULLS, ROWS, ORPHAN])
        firing = manager.wait_for("firing", count=3)
        ended = datetime.now(UTC).replace(microsecond=0)
        manager.post([{**NULLS, "endsAt": ended.isoformat()}])
        (resolved,) = manager.wait_for("resolved")
        yield {
            "firing": {p["alerts"][0]["labels"]["alertname"]: p for p in firing},
            "resolved": resolved,
            "ended": ended,
        }


def mapped(payload: dict[str, Any], catalog: Catalog = NOBODY) -> Mapped:
    return SOURCE.map(payload, space=SPACE, products=catalog)


def test_a_firing_alert_maps_by_the_label_convention(payloads: dict[str, Any]) -> None:
    result = mapped(payloads["firing"]["OrdersNullRatioHigh"])
    (alert,) = result.alerts
    assert result.unresolved == ["orders_clean"] and result.rejected == []
    assert alert["status"] == "firing" and alert["product_id"] == "orders_clean"
    assert alert["severity"] == "critical" and alert["attribute"] == "customer_id"
    assert alert["check"] == {"id": "OrdersNullRatioHigh", "name": "OrdersNullRatioHigh"}
    assert alert["metric"] == {"name": "OrdersNullRatioHigh", "value": 0.032, "threshold": 0.01}
    assert alert["title"] == "customer_id nulls above 1%" and alert["source"] == "alertmanager"
    assert AlertEvent.model_validate(alert).occurred_at == STARTED
    manager_fingerprint = payloads["firing"]["OrdersNullRatioHigh"]["alerts"][0]["fingerprint"]
    assert alert["fingerprint"] == f"alertmanager:orders_clean:{manager_fingerprint}"


def test_the_resolved_notification_recovers_the_same_fingerprint(payloads: dict[str, Any]) -> None:
    (fired,) = mapped(payloads["firing"]["OrdersNullRatioHigh"]).alerts
    (recovered,) = mapped(payloads["resolved"]).alerts
    assert recovered["status"] == "resolved"
    assert recovered["fingerprint"] == fired["fingerprint"]
    assert recovered["alert_id"] != fired["alert_id"]
    assert AlertEvent.model_validate(recovered).occurred_at == payloads["ended"]


def test_a_dataset_label_resolves_through_the_catalog(payloads: dict[str, Any]) -> None:
    catalog = Catalog(SPACE, {"warehouse/orders": "orders_raw"})
    (alert,) = mapped(payloads["firing"]["RowCountLow"], catalog).alerts
    assert alert["product_id"] == "orders_raw" and alert["severity"] == "medium"


def test_an_alert_without_a_product_label_is_rejected(payloads: dict[str, Any]) -> None:
    result = mapped(payloads["firing"]["DiskFull"])
    assert result.alerts == []
    assert [r.item for r in result.rejected] == ["DiskFull"]
    assert "no product label" in result.rejected[0].reason


def test_an_alert_of_another_space_is_rejected(payloads: dict[str, Any]) -> None:
    result = SOURCE.map(payloads["firing"]["OrdersNullRatioHigh"], space="ops", products=NOBODY)
    assert result.alerts == [] and "labelled for space 'shop'" in result.rejected[0].reason


def test_resending_a_notification_changes_nothing(payloads: dict[str, Any]) -> None:
    payload = payloads["firing"]["OrdersNullRatioHigh"]
    assert mapped(payload).alerts == mapped(payload).alerts


def test_alertmanager_is_registered() -> None:
    assert source("alertmanager") is SOURCE


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"version": "3", "alerts": []}, "version '3' is not supported"),
        ({"alerts": []}, "version"),
        ({"version": "4"}, "alerts"),
        ([], "must be a JSON object"),
    ],
)
def test_unusable_payloads_are_refused(document: Any, message: str) -> None:
    with pytest.raises(IntakeError, match=message):
        SOURCE.map(document, space=SPACE, products=NOBODY)
