"""Fuzzing the tool mappings: any JSON document gives a `Mapped` or an IntakeError, nothing else.

A mapping runs inside an HTTP request, the CLI and the worker's lineage path; any other
exception would be a 500 or a stuck partition. The property: `map` returns a `Mapped` whose
alerts are valid alert events v1 of the space (serialisable as JSON) and whose rejections give
a reason, or raises IntakeError with a message.
"""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from incidentd.intake.base import IntakeError, Mapped, Source
from incidentd.intake.openlineage import map_assertions
from incidentd.intake.registry import SOURCES
from incidentd.schemas.alert import AlertEvent
from tests.support.tools import Catalog
from tests.unit.test_parsing_fuzz import json_values

SPACE = "shop"
CATALOG = Catalog(SPACE, {"warehouse/orders": "orders", "model.shop.stg": "stg"})
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))

# Skeletons of each tool's document, only for mutation (the mappings' own tests read documents
# the real tools produced).
_TIME = "2026-02-27T14:00:00Z"
SKELETONS: dict[str, dict[str, Any]] = {
    "dbt": {
        "run_results": {
            "metadata": {
                "dbt_schema_version": "https://schemas.getdbt.com/dbt/run-results/v6.json",
                "invocation_id": "i-1",
                "generated_at": _TIME,
            },
            "results": [
                {"unique_id": "test.shop.nn.1", "status": "fail", "failures": 3, "timing": []},
                {"unique_id": "model.shop.stg", "status": "error", "message": "boom"},
            ],
        },
        "manifest": {
            "metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json"},
            "nodes": {
                "test.shop.nn.1": {
                    "name": "nn",
                    "resource_type": "test",
                    "column_name": "id",
                    "attached_node": "model.shop.stg",
                    "config": {"severity": "ERROR", "error_if": "!= 0", "meta": {}},
                    "depends_on": {"nodes": ["model.shop.stg"]},
                },
                "model.shop.stg": {"name": "stg", "resource_type": "model", "relation_name": "a"},
            },
            "sources": {},
        },
    },
    "gx": {
        "suite_name": "s",
        "success": False,
        "results": [
            {
                "success": False,
                "expectation_config": {
                    "type": "expect_x",
                    "kwargs": {"column": "c", "min_value": 1},
                },
                "result": {"observed_value": 0, "unexpected_percent": 50},
                "exception_info": {"raised_exception": False},
            }
        ],
        "meta": {
            "active_batch_definition": {
                "datasource_name": "warehouse",
                "data_asset_name": "orders",
            },
            "validation_time": _TIME,
            "run_id": {"run_time": _TIME},
        },
    },
    "soda": {
        "definitionName": "d",
        "scanEndTimestamp": _TIME,
        "metrics": [{"identity": "m", "metricName": "min"}],
        "checks": [
            {
                "identity": "c1",
                "name": "min(a) >= 0",
                "table": "orders",
                "column": "a",
                "dataSource": "warehouse",
                "outcome": "fail",
                "metrics": ["m"],
                "diagnostics": {"value": -1, "fail": {"lessThan": 0}},
            }
        ],
    },
    "alertmanager": {
        "version": "4",
        "status": "firing",
        "receiver": "incidentd",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "A", "product": "orders", "severity": "critical"},
                "annotations": {"value": "1", "threshold": "0"},
                "startsAt": _TIME,
                "endsAt": "0001-01-01T00:00:00Z",
                "fingerprint": "f",
            }
        ],
    },
    "openlineage": {
        "eventType": "COMPLETE",
        "eventTime": _TIME,
        "run": {"runId": "r"},
        "job": {"namespace": "dbt", "name": "j"},
        "inputs": [
            {
                "namespace": "warehouse",
                "name": "orders",
                "inputFacets": {
                    "dataQualityAssertions": {
                        "assertions": [{"assertion": "not_null", "success": False, "column": "c"}]
                    }
                },
            }
        ],
    },
}


def check(source: Source, document: Any) -> Mapped | None:
    """`source.map(document)` is a valid `Mapped` or an IntakeError with a message."""
    try:
        result = source.map(document, space=SPACE, products=CATALOG)
    except IntakeError as exc:
        assert str(exc)
        return None
    assert isinstance(result, Mapped)
    for alert in result.alerts:
        parsed = AlertEvent.model_validate(alert)
        assert parsed.space == SPACE and parsed.fingerprint
        orjson.dumps(alert)
    assert all(r.reason for r in result.rejected)
    assert all(isinstance(name, str) for name in result.unresolved)
    return result


@st.composite
def mutated(draw: st.DrawFn, skeleton: Any) -> Any:
    """`skeleton` with some of its values replaced by arbitrary JSON, or keys dropped."""
    document = copy.deepcopy(skeleton)
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        document = _mutate(draw, document)
    return document


def _mutate(draw: st.DrawFn, node: Any) -> Any:
    """Walk down a random path; replace or drop what is found at its end."""
    if isinstance(node, dict) and node and draw(st.integers(0, 3)):
        key = draw(st.sampled_from(sorted(node)))
        if draw(st.integers(0, 5)) == 0:
            del node[key]
        else:
            node[key] = _mutate(draw, node[key])
        return node
    if isinstance(node, list) and node and draw(st.integers(0, 3)):
        index = draw(st.integers(0, len(node) - 1))
        node[index] = _mutate(draw, node[index])
        return node
    return draw(json_values)


SOURCE_NAMES = sorted(SKELETONS)


def test_every_registered_source_is_fuzzed() -> None:
    assert set(SOURCES) == set(SKELETONS)


@pytest.mark.parametrize("name", SOURCE_NAMES)
def test_the_skeletons_map_to_alerts(name: str) -> None:
    result = check(SOURCES[name], SKELETONS[name])
    assert result is not None and result.alerts and not result.rejected


@pytest.mark.parametrize("name", SOURCE_NAMES)
@FUZZ
@given(document=json_values)
def test_any_json_value(name: str, document: Any) -> None:
    check(SOURCES[name], document)


@pytest.mark.parametrize("name", SOURCE_NAMES)
@FUZZ
@given(data=st.data())
def test_mutated_documents(name: str, data: st.DataObject) -> None:
    check(SOURCES[name], data.draw(mutated(SKELETONS[name])))


@FUZZ
@given(document=mutated(SKELETONS["openlineage"]), default=st.none() | st.just("ops"))
def test_map_assertions_with_or_without_a_default_space(document: Any, default: str | None) -> None:
    try:
        result = map_assertions(document, CATALOG, default)
    except IntakeError as exc:
        assert str(exc)
        return
    for alert in result.alerts:
        assert AlertEvent.model_validate(alert).space in {SPACE, "ops"}
