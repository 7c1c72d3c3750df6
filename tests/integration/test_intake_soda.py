"""Soda scan results, produced by soda-core 3.x (soda-core-duckdb) scanning DuckDB tables,
become the expected alerts: failing and warning checks fire, passing checks recover.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from incidentd.intake.base import IntakeError
from incidentd.intake.registry import source
from incidentd.intake.soda import SOURCE
from incidentd.schemas.alert import AlertEvent
from tests.support.tools import Catalog

SPACE = "shop"
DATASET = "warehouse/orders"
NOBODY = Catalog(SPACE, {})
CHECKS = """
checks for orders:
  - row_count > 0
  - missing_count(customer_id) = 0:
      name: every order has a customer
  - min(amount) >= 0
  - duplicate_count(order_id):
      warn: when > 0
      fail: when > 5
  - schema:
      fail:
        when required column missing: [order_id, amount]
"""
BROKEN = "(1, 1, 10.0), (2, null, 20.0), (3, 2, -5.0), (3, 2, 1.0)"
GREEN = "(1, 1, 10.0), (2, 1, 20.0), (3, 2, 5.0)"


def scan(rows: str) -> dict[str, Any]:
    """Soda's scan result of the checks above on a DuckDB `orders` table holding `rows`."""
    import duckdb
    from soda.scan import Scan

    connection = duckdb.connect()
    connection.execute(
        f"create table orders as select * from (values {rows}) t(order_id, customer_id, amount)"
    )
    runner = Scan()
    runner.set_scan_definition_name("shop_nightly")
    runner.set_data_source_name("warehouse")
    runner.add_duckdb_connection(connection, data_source_name="warehouse")
    runner.add_sodacl_yaml_str(CHECKS)
    runner.execute()
    return dict(runner.get_scan_results())


@pytest.fixture(scope="session")
def scans(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """A broken and then a green scan (usage statistics off, as a config file says)."""
    config: Path = tmp_path_factory.mktemp("soda") / "config.yml"
    config.write_text("send_anonymous_usage_stats: false\nuser_cookie_id: incidentd-tests\n")
    from soda.common.config_helper import ConfigHelper

    ConfigHelper.get_instance(str(config))
    return {"broken": scan(BROKEN), "green": scan(GREEN)}


def by_name(alerts: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {a["check"]["name"]: a for a in alerts}


def test_failing_and_warning_checks_fire(scans: dict[str, dict[str, Any]]) -> None:
    result = SOURCE.map(scans["broken"], space=SPACE, products=NOBODY)
    assert result.rejected == [] and result.unresolved == [DATASET]
    alerts = by_name(result.alerts)
    assert {n: a["status"] for n, a in alerts.items()} == {
        "row_count > 0": "resolved",
        "every order has a customer": "firing",
        "min(amount) >= 0": "firing",
        "duplicate_count(order_id) warn when > 0 fail when > 5": "firing",
        "Schema Check": "resolved",
    }
    missing = alerts["every order has a customer"]
    assert missing["product_id"] == DATASET and missing["attribute"] == "customer_id"
    assert missing["severity"] == "high" and missing["source"] == "soda"
    assert missing["metric"]["name"] == "missing_count" and missing["metric"]["value"] == 1.0
    assert "shop_nightly" in missing["tags"]
    assert alerts["min(amount) >= 0"]["metric"] == {"name": "min", "value": -5.0, "threshold": 0.0}
    duplicates = alerts["duplicate_count(order_id) warn when > 0 fail when > 5"]
    assert duplicates["severity"] == "medium"
    assert duplicates["metric"] == {"name": "duplicate_count", "value": 1.0, "threshold": 0.0}
    ended = scans["broken"]["scanEndTimestamp"]
    for alert in result.alerts:
        moment = AlertEvent.model_validate({**alert, "occurred_at": ended}).occurred_at
        assert AlertEvent.model_validate(alert).occurred_at == moment


def test_a_green_scan_recovers_every_fingerprint(scans: dict[str, dict[str, Any]]) -> None:
    broken = by_name(SOURCE.map(scans["broken"], space=SPACE, products=NOBODY).alerts)
    green = by_name(SOURCE.map(scans["green"], space=SPACE, products=NOBODY).alerts)
    assert green.keys() == broken.keys()
    for name, alert in green.items():
        assert alert["status"] == "resolved", name
        assert alert["fingerprint"] == broken[name]["fingerprint"]
        if broken[name]["status"] == "firing":
            assert alert["alert_id"] != broken[name]["alert_id"]
        # Soda's result has no scan id, only times to the second: two scans of one definition
        # in the same second that both pass a check give the same recovery, once.


def test_the_same_result_twice_gives_the_same_alerts(scans: dict[str, dict[str, Any]]) -> None:
    first = SOURCE.map(scans["broken"], space=SPACE, products=NOBODY).alerts
    assert first == SOURCE.map(scans["broken"], space=SPACE, products=NOBODY).alerts


def test_the_table_resolves_through_the_catalog(scans: dict[str, dict[str, Any]]) -> None:
    catalog = Catalog(SPACE, {DATASET: "orders_raw"})
    result = SOURCE.map(scans["broken"], space=SPACE, products=catalog)
    assert {a["product_id"] for a in result.alerts} == {"orders_raw"}
    assert result.unresolved == []


def test_an_unevaluated_check_is_rejected_with_the_reason(
    scans: dict[str, dict[str, Any]],
) -> None:
    document = {**scans["broken"]}
    document["checks"] = [{**document["checks"][0], "outcome": None}, *document["checks"][1:]]
    result = SOURCE.map(document, space=SPACE, products=NOBODY)
    assert len(result.alerts) == 4
    assert [r.reason for r in result.rejected] == ["Soda did not evaluate it (None)"]


def test_soda_is_registered() -> None:
    assert source("soda") is SOURCE


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"results": []}, 'no "checks"'),
        ({"checks": {}}, "checks"),
        (["checks"], "must be a JSON object"),
    ],
)
def test_unusable_documents_are_refused(document: Any, message: str) -> None:
    with pytest.raises(IntakeError, match=message):
        SOURCE.map(document, space=SPACE, products=NOBODY)
