"""Great Expectations validation results, produced by GX 1.x on a pandas data asset, become the
expected alerts: failing expectations fire with column and observed value, passing ones recover.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from incidentd.intake.base import IntakeError
from incidentd.intake.gx import SOURCE
from incidentd.intake.registry import source
from incidentd.schemas.alert import AlertEvent
from tests.support.tools import Catalog

SPACE = "shop"
ASSET = "warehouse/orders"
NOBODY = Catalog(SPACE, {})
BROKEN = {"order_id": [1, 2, 3], "customer_id": [1, None, 2], "amount": [10.0, 20.0, -5.0]}
GREEN = {"order_id": [1, 2, 3], "customer_id": [1, 2, 2], "amount": [150.0, 200.0, 120.0]}


@pytest.fixture(scope="session")
def validations() -> dict[str, dict[str, Any]]:
    """One suite validated against broken, then green orders (GX's own result JSON)."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations as gx
    import pandas as pd

    context = gx.get_context(mode="ephemeral")
    asset = context.data_sources.add_pandas("warehouse").add_dataframe_asset("orders")
    batch = asset.add_batch_definition_whole_dataframe("all")
    suite = context.suites.add(gx.ExpectationSuite("orders_checks"))
    expect = gx.expectations
    suite.add_expectation(
        expect.ExpectColumnValuesToNotBeNull(column="customer_id", meta={"severity": "critical"})
    )
    suite.add_expectation(expect.ExpectColumnValuesToBeBetween(column="amount", min_value=0))
    suite.add_expectation(expect.ExpectColumnMeanToBeBetween(column="amount", min_value=100))
    suite.add_expectation(expect.ExpectTableRowCountToBeBetween(min_value=1, max_value=10))
    suite.add_expectation(
        expect.ExpectColumnValuesToBeUnique(column="order_id", severity="warning")
    )
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(data=batch, suite=suite, name="orders_validation")
    )
    return {
        name: definition.run(batch_parameters={"dataframe": pd.DataFrame(data)}).to_json_dict()
        for name, data in (("broken", BROKEN), ("green", GREEN))
    }


def by_check(alerts: list[dict[str, Any]]) -> dict[tuple[str, str | None], dict[str, Any]]:
    return {(a["check"]["name"], a.get("attribute")): a for a in alerts}


def test_failed_expectations_fire_with_column_and_observed_value(
    validations: dict[str, dict[str, Any]],
) -> None:
    result = SOURCE.map(validations["broken"], space=SPACE, products=NOBODY)
    assert result.rejected == [] and result.unresolved == [ASSET]
    alerts = by_check(result.alerts)
    assert {k for k, a in alerts.items() if a["status"] == "firing"} == {
        ("expect_column_values_to_not_be_null", "customer_id"),
        ("expect_column_values_to_be_between", "amount"),
        ("expect_column_mean_to_be_between", "amount"),
    }
    nulls = alerts[("expect_column_values_to_not_be_null", "customer_id")]
    assert nulls["product_id"] == ASSET and nulls["severity"] == "critical"
    assert nulls["metric"]["name"] == "unexpected_percent"
    assert nulls["metric"]["value"] == pytest.approx(100 / 3)
    mean = alerts[("expect_column_mean_to_be_between", "amount")]
    assert mean["metric"] == {"name": "observed_value", "value": 25 / 3, "threshold": 100.0}
    assert mean["severity"] == "high"  # GX's default severity, critical, reads as high
    assert mean["check"]["suite"] == "orders_checks" and mean["source"] == "gx"
    assert mean["title"] == "expect_column_mean_to_be_between failed on warehouse/orders.amount"
    rows = alerts[("expect_table_row_count_to_be_between", None)]
    assert rows["status"] == "resolved" and rows["metric"]["value"] == 3.0
    assert alerts[("expect_column_values_to_be_unique", "order_id")]["severity"] == "medium"
    validated = validations["broken"]["meta"]["validation_time"]
    for alert in result.alerts:
        parsed = AlertEvent.model_validate(alert)
        assert (
            parsed.occurred_at
            == AlertEvent.model_validate({**alert, "occurred_at": validated}).occurred_at
        )


def test_a_green_validation_recovers_every_fingerprint(
    validations: dict[str, dict[str, Any]],
) -> None:
    broken = by_check(SOURCE.map(validations["broken"], space=SPACE, products=NOBODY).alerts)
    green = by_check(SOURCE.map(validations["green"], space=SPACE, products=NOBODY).alerts)
    assert green.keys() == broken.keys()
    for key, alert in green.items():
        assert alert["status"] == "resolved"
        assert alert["fingerprint"] == broken[key]["fingerprint"]
        assert alert["alert_id"] != broken[key]["alert_id"]


def test_the_same_result_twice_gives_the_same_alerts(
    validations: dict[str, dict[str, Any]],
) -> None:
    first = SOURCE.map(validations["broken"], space=SPACE, products=NOBODY)
    assert first.alerts == SOURCE.map(validations["broken"], space=SPACE, products=NOBODY).alerts
    assert len({a["alert_id"] for a in first.alerts}) == len(first.alerts) == 5


def test_the_asset_resolves_through_the_catalog(validations: dict[str, dict[str, Any]]) -> None:
    catalog = Catalog(SPACE, {"orders": "orders_clean"})
    result = SOURCE.map(validations["broken"], space=SPACE, products=catalog)
    assert {a["product_id"] for a in result.alerts} == {"orders_clean"}
    assert result.unresolved == [] and catalog.asked[:2] == [ASSET, "orders"]


def test_a_broken_expectation_result_is_rejected_alone(
    validations: dict[str, dict[str, Any]],
) -> None:
    document = {**validations["broken"]}
    document["results"] = [{"success": "maybe"}, *document["results"]]
    result = SOURCE.map(document, space=SPACE, products=NOBODY)
    assert len(result.alerts) == 5 and [r.item for r in result.rejected] == ["results[0]"]


def test_gx_is_registered() -> None:
    assert source("gx") is SOURCE


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"results": []}, "names no suite"),
        ({"run_results": {}, "manifest": {}}, "one validation result"),
        ({"suite_name": "s"}, "results"),
        ("[]", "must be a JSON object"),
    ],
)
def test_unusable_documents_are_refused(document: Any, message: str) -> None:
    with pytest.raises(IntakeError, match=message):
        SOURCE.map(document, space=SPACE, products=NOBODY)
