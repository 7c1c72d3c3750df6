"""dbt's own artifacts become the expected alerts: a real dbt run of tests/tools/dbt_shop.

The session runs the shop twice with dbt-core on DuckDB (tests/support/tools.py): broken (an
order lost its customer, one amount is negative, `order_audit` cannot build) and green. Each run
keeps the artifacts of `dbt run` and of `dbt test`.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from incidentd.intake.base import IntakeError, Mapped
from incidentd.intake.dbt import SOURCE
from incidentd.intake.registry import source
from incidentd.schemas.alert import AlertEvent
from tests.support.correlation import Store, lineage
from tests.support.tools import (
    Catalog,
    correlation_alert,
    dbt_document,
    dbt_lineage,
    finish_dbt,
    run_dbt,
)

SPACE = "shop"
ORDERS = "source.shop.shop.orders"
STG = "model.shop.stg_orders"
ENRICHED = "model.shop.orders_enriched"
AUDIT = "model.shop.order_audit"
NOBODY = Catalog(SPACE, {})


@pytest.fixture(scope="session")
def dbt_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """The broken run of the shop, then the green one (later, so its passes clear)."""
    root = tmp_path_factory.mktemp("dbt")
    runs = {"broken": root / "broken", "green": root / "green"}
    for name, out in runs.items():
        finish_dbt(run_dbt(out, broken=name == "broken"))
    yield runs


def mapped(runs: dict[str, Path], run: str, command: str, catalog: Catalog = NOBODY) -> Mapped:
    return SOURCE.map(dbt_document(runs[run], command), space=SPACE, products=catalog)


def by_check(result: Mapped) -> dict[str, dict[str, Any]]:
    """Alerts by the test's short name (`not_null_stg_orders_customer_id`)."""
    return {a["check"]["name"]: a for a in result.alerts}


def test_failing_and_warning_tests_fire_on_the_tested_node(dbt_runs: dict[str, Path]) -> None:
    result = mapped(dbt_runs, "broken", "test")
    assert result.rejected == []
    alerts = by_check(result)
    firing = {name: a["product_id"] for name, a in alerts.items() if a["status"] == "firing"}
    assert firing == {
        "source_not_null_shop_orders_customer_id": ORDERS,
        "not_null_stg_orders_customer_id": STG,
        "not_null_orders_enriched_customer_name": ENRICHED,
        "non_negative_stg_orders_amount": STG,
    }
    failed = alerts["not_null_stg_orders_customer_id"]
    assert failed["severity"] == "high" and failed["attribute"] == "customer_id"
    assert failed["check"]["type"] == "not_null"
    assert failed["check"]["id"].startswith("test.shop.not_null_stg_orders_customer_id.")
    assert failed["metric"] == {"name": "failures", "value": 1.0, "threshold": 0.0}
    assert failed["source"] == "dbt" and "dbt" in failed["tags"] and "model" in failed["tags"]
    assert failed["description"] == "Got 1 result, configured to fail if != 0"
    warned = alerts["non_negative_stg_orders_amount"]
    assert warned["severity"] == "medium" and warned["attribute"] == "amount"
    for alert in result.alerts:
        AlertEvent.model_validate(alert)


def test_passing_tests_are_recoveries_of_the_same_fingerprint(dbt_runs: dict[str, Path]) -> None:
    broken, green = mapped(dbt_runs, "broken", "test"), mapped(dbt_runs, "green", "test")
    assert {a["status"] for a in green.alerts} == {"resolved"}
    before, after = by_check(broken), by_check(green)
    assert before.keys() == after.keys() and len(after) == 9
    for name, alert in after.items():
        assert alert["fingerprint"] == before[name]["fingerprint"]
        assert alert["alert_id"] != before[name]["alert_id"]  # another invocation
    assert before["unique_stg_orders_order_id"]["status"] == "resolved"


def test_occurred_at_is_when_dbt_finished_the_test(dbt_runs: dict[str, Path]) -> None:
    document = dbt_document(dbt_runs["broken"], "test")
    timing = {
        r["unique_id"]: r["timing"][-1]["completed_at"] for r in document["run_results"]["results"]
    }
    for alert in SOURCE.map(document, space=SPACE, products=NOBODY).alerts:
        parsed = AlertEvent.model_validate(alert)
        dbt_time = AlertEvent.model_validate({**alert, "occurred_at": timing[alert["check"]["id"]]})
        assert parsed.occurred_at == dbt_time.occurred_at
        assert parsed.occurred_at.utcoffset() == timedelta(0)


def test_a_model_that_fails_to_build_fires_and_built_models_recover(
    dbt_runs: dict[str, Path],
) -> None:
    result = mapped(dbt_runs, "broken", "run")
    status = {a["product_id"]: (a["status"], a["alert_type"]) for a in result.alerts}
    assert status[AUDIT] == ("firing", "dbt_build_failed")
    assert status[STG] == ("resolved", "dbt_build_failed")
    audit = next(a for a in result.alerts if a["product_id"] == AUDIT)
    assert "missing_column" in audit["description"] and audit["severity"] == "high"
    green = {a["product_id"]: a for a in mapped(dbt_runs, "green", "run").alerts}
    assert green[AUDIT]["status"] == "resolved"
    assert green[AUDIT]["fingerprint"] == audit["fingerprint"]


def test_the_same_artifact_twice_gives_the_same_alerts(dbt_runs: dict[str, Path]) -> None:
    assert mapped(dbt_runs, "broken", "test").alerts == mapped(dbt_runs, "broken", "test").alerts


def test_products_resolve_by_unique_id_then_relation_then_name(dbt_runs: dict[str, Path]) -> None:
    catalog = Catalog(
        SPACE,
        {STG: "staging_orders", "shop.main.orders_enriched": "enriched"},
        products=("revenue",),
    )
    result = mapped(dbt_runs, "broken", "test", catalog)
    products = {a["check"]["name"]: a["product_id"] for a in result.alerts}
    assert products["not_null_stg_orders_customer_id"] == "staging_orders"
    assert products["not_null_orders_enriched_customer_name"] == "enriched"
    assert products["unique_revenue_customer_name"] == "revenue"
    assert products["source_not_null_shop_orders_customer_id"] == ORDERS
    assert sorted(result.unresolved) == ["seed.shop.customers", ORDERS]
    at = catalog.asked.index(ORDERS)
    assert catalog.asked[at : at + 3] == [ORDERS, "shop.raw.orders", "orders"]


def test_a_broken_source_is_one_incident_rooted_at_the_source(dbt_runs: dict[str, Path]) -> None:
    broken_run = dbt_document(dbt_runs["broken"], "run")
    graph = lineage(dbt_lineage(broken_run["manifest"]), space=SPACE)
    store = Store(lineage=graph)
    events = [*mapped(dbt_runs, "broken", "run").alerts, *mapped(dbt_runs, "broken", "test").alerts]
    store.run(*(correlation_alert(e) for e in events))
    (incident,) = [i for i in store.incidents.values() if i.is_open]
    assert incident.root_product_id == ORDERS
    assert set(incident.products) == {ORDERS, STG, ENRICHED, AUDIT}
    recovered = [
        *mapped(dbt_runs, "green", "run").alerts,
        *mapped(dbt_runs, "green", "test").alerts,
    ]
    store.run(*(correlation_alert(e) for e in recovered))
    assert not any(i.is_open for i in store.incidents.values())


def test_dbt_is_registered() -> None:
    assert source("dbt") is SOURCE


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"run_results": {"metadata": {}, "results": []}}, "without its manifest.json"),
        ({"manifest": {"nodes": {}}}, 'needs "run_results"'),
        ([], "must be a JSON object"),
        ({"run_results": [], "manifest": {"nodes": {}}}, "must be a JSON object, got list"),
        ({"run_results": {"results": []}, "manifest": {"nodes": {}}}, "metadata"),
    ],
)
def test_unusable_documents_are_refused_with_the_reason(document: Any, message: str) -> None:
    with pytest.raises(IntakeError, match=message):
        SOURCE.map(document, space=SPACE, products=NOBODY)


def test_swapped_artifacts_are_named(dbt_runs: dict[str, Path]) -> None:
    document = dbt_document(dbt_runs["broken"], "test")
    swapped = {"run_results": document["manifest"], "manifest": document["run_results"]}
    with pytest.raises(IntakeError, match=r"another dbt artifact .*manifest/v12"):
        SOURCE.map(swapped, space=SPACE, products=NOBODY)


def test_results_missing_from_the_manifest_are_rejected(dbt_runs: dict[str, Path]) -> None:
    document = dbt_document(dbt_runs["broken"], "test")
    document["manifest"]["nodes"] = {}
    result = SOURCE.map(document, space=SPACE, products=NOBODY)
    assert result.alerts == [] and len(result.rejected) == 9
    assert "not in the manifest" in result.rejected[0].reason
