"""OpenLineage `dataQualityAssertions` facets -> alerts, on RunEvents built and serialised by
the openlineage-python client (the classes an integration such as openlineage-dbt emits).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.generated.data_quality_assertions_dataset import (
    Assertion,
    DataQualityAssertionsDatasetFacet,
)
from openlineage.client.serde import Serde

from incidentd.intake.base import IntakeError, Mapped
from incidentd.intake.openlineage import SOURCE, map_assertions
from incidentd.intake.registry import source
from incidentd.schemas.alert import AlertEvent
from tests.support.tools import Catalog

RUN = "0190e5a2-7d1c-7a66-9b7e-0123456789ab"
LATER = "0190e5a3-0000-7a66-9b7e-0123456789ab"
WHEN = datetime(2026, 2, 27, 14, 5, tzinfo=UTC)
CATALOG = Catalog("finance", {"warehouse/orders_clean": "orders_clean"})


def event(*assertions: Assertion, run: str = RUN, when: datetime = WHEN, **dataset: str) -> Any:
    """A COMPLETE event of a dbt job whose input carries `assertions`, as JSON."""
    facet = DataQualityAssertionsDatasetFacet(assertions=list(assertions))
    built = RunEvent(
        eventType=RunState.COMPLETE,
        eventTime=when.isoformat(),
        run=Run(runId=run),
        job=Job(namespace="dbt", name="shop.orders_mart"),
        producer="https://github.com/OpenLineage/OpenLineage/tree/1.54.0/integration/dbt",
        inputs=[
            InputDataset(
                namespace=dataset.get("namespace", "warehouse"),
                name=dataset.get("name", "orders_clean"),
                inputFacets={"dataQualityAssertions": facet},
            )
        ],
        outputs=[OutputDataset(namespace="warehouse", name="orders_mart")],
    )
    return orjson.loads(Serde.to_json(built))


NOT_NULL = Assertion(assertion="not_null", success=False, column="customer_id", severity="error")


def test_a_failed_assertion_fires_on_the_claiming_product() -> None:
    result = map_assertions(event(NOT_NULL), CATALOG, None)
    (alert,) = result.alerts
    assert result.unresolved == [] and result.rejected == []
    assert alert["space"] == "finance" and alert["product_id"] == "orders_clean"
    assert alert["status"] == "firing" and alert["severity"] == "high"
    assert alert["attribute"] == "customer_id" and alert["source"] == "openlineage"
    assert alert["check"] == {"id": "not_null:customer_id", "name": "not_null", "type": "not_null"}
    assert alert["title"] == "not_null failed on warehouse/orders_clean.customer_id"
    assert AlertEvent.model_validate(alert).occurred_at == WHEN
    assert alert["fingerprint"] == "openlineage:orders_clean:not_null:customer_id"


def test_a_passing_assertion_recovers_the_same_fingerprint() -> None:
    fired = map_assertions(event(NOT_NULL), CATALOG, None).alerts[0]
    passed = Assertion(assertion="not_null", success=True, column="customer_id")
    recovered = map_assertions(event(passed, run=LATER), CATALOG, None).alerts[0]
    assert recovered["status"] == "resolved"
    assert recovered["fingerprint"] == fired["fingerprint"]
    assert recovered["alert_id"] != fired["alert_id"]


def test_an_unclaimed_dataset_is_its_own_product_in_the_default_space() -> None:
    result = map_assertions(event(NOT_NULL, name="orders_raw"), CATALOG, "ops")
    (alert,) = result.alerts
    assert alert["space"] == "ops" and alert["product_id"] == "warehouse/orders_raw"
    assert result.unresolved == ["warehouse/orders_raw"]


def test_without_a_default_space_an_unclaimed_dataset_is_rejected() -> None:
    result = map_assertions(event(NOT_NULL, name="orders_raw"), CATALOG, None)
    assert result.alerts == []
    assert "no product claims warehouse/orders_raw" in result.rejected[0].reason


def test_named_assertions_carry_severity_values_and_description() -> None:
    rows = Assertion(
        assertion="row_count",
        success=False,
        severity="warn",
        name="enough_orders",
        description="at least 1000 orders a day",
        expected="1000",
        actual="999",
    )
    (alert,) = map_assertions(event(rows), CATALOG, None).alerts
    assert alert["severity"] == "medium" and alert["check"]["name"] == "enough_orders"
    assert alert["metric"] == {"name": "row_count", "value": 999.0, "threshold": 1000.0}
    assert alert["description"] == "at least 1000 orders a day" and "attribute" not in alert


def test_the_same_check_twice_on_a_dataset_is_told_apart() -> None:
    twice = [Assertion(assertion="custom_sql", success=False) for _ in range(2)]
    alerts = map_assertions(event(*twice), CATALOG, None).alerts
    assert [a["check"]["id"] for a in alerts] == ["custom_sql:", "custom_sql:#2"]
    assert len({a["alert_id"] for a in alerts}) == 2


def test_resending_an_event_gives_the_same_alerts() -> None:
    assert map_assertions(event(NOT_NULL), CATALOG, None) == map_assertions(
        event(NOT_NULL), CATALOG, None
    )


def test_an_event_without_assertions_gives_nothing() -> None:
    body = event(NOT_NULL)
    body["inputs"][0]["inputFacets"] = {}
    assert map_assertions(body, CATALOG, "ops") == Mapped()


def test_the_source_takes_the_space_of_the_lineage_path() -> None:
    assert source("openlineage") is SOURCE
    result = SOURCE.map(event(NOT_NULL, name="orders_raw"), space="shop", products=CATALOG)
    assert result.alerts[0]["space"] == "shop"


def test_a_broken_assertion_is_rejected_alone() -> None:
    body = event(NOT_NULL)
    body["inputs"][0]["inputFacets"]["dataQualityAssertions"]["assertions"].append({"x": 1})
    result = map_assertions(body, CATALOG, None)
    assert len(result.alerts) == 1 and len(result.rejected) == 1
    assert result.rejected[0].item.endswith("assertions[1]")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "must be a JSON object"),
        ({"eventTime": "x", "job": {"namespace": "a", "name": "b"}}, "run"),
        ("event", "must be a JSON object"),
    ],
)
def test_unusable_events_are_refused(body: Any, message: str) -> None:
    with pytest.raises(IntakeError, match=message):
        map_assertions(body, CATALOG, None)


def test_a_dataset_without_a_name_is_refused() -> None:
    body = event(NOT_NULL)
    del body["inputs"][0]["name"]
    with pytest.raises(IntakeError, match=r"inputs\[0\]"):
        map_assertions(body, CATALOG, None)
