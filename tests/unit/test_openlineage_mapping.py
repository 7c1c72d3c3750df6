"""OpenLineage RunEvent -> lineage delta (CONTRACT §5)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from incidentd.lineage.openlineage import LineageDelta, OpenLineageError, map_run_event

CATALOG = {
    "warehouse/orders_raw": ("finance", "orders_raw"),
    "warehouse/orders_clean": ("finance", "orders_clean"),
    "kafka/orders.v1": ("finance", "orders_raw"),  # a second dataset of the same product
    "warehouse/customers": ("finance", "customers"),
    "warehouse/campaigns": ("marketing", "campaigns"),
}


def claims(dataset: str) -> tuple[str, str] | None:
    return CATALOG.get(dataset)


def nothing_claimed(dataset: str) -> tuple[str, str] | None:
    return None


def _ds(name: str) -> dict[str, Any]:
    namespace, _, rest = name.rpartition("/")
    return {"namespace": namespace, "name": rest, "facets": {"schema": {"fields": []}}}


def event(inputs: list[str] | None, outputs: list[str] | None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "eventType": "COMPLETE",
        "eventTime": "2026-02-27T14:00:00.000Z",
        "run": {"runId": "0176a8c2-fe01-7439-87e6-56a1a1b4029f", "facets": {}},
        "job": {"namespace": "airflow", "name": "orders_dag.transform", "facets": {}},
        "producer": "https://github.com/OpenLineage/OpenLineage/tree/1.20.0/integration/airflow",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        **extra,
    }
    if inputs is not None:
        body["inputs"] = [_ds(n) for n in inputs]
    if outputs is not None:
        body["outputs"] = [_ds(n) for n in outputs]
    return body


def test_claimed_inputs_feed_claimed_outputs() -> None:
    delta = map_run_event(
        event(["warehouse/orders_raw", "warehouse/customers"], ["warehouse/orders_clean"]),
        claims,
        None,
    )
    assert delta == LineageDelta(
        space="finance",
        new_products=[],
        edges=[("customers", "orders_clean"), ("orders_raw", "orders_clean")],
        job="airflow/orders_dag.transform",
    )
    assert not delta.is_empty


def test_unclaimed_datasets_become_products_in_the_claimed_space() -> None:
    delta = map_run_event(
        event(["warehouse/orders_clean", "s3://lake/fx"], ["postgres://db:5432/mart.revenue"]),
        claims,
        "ops",
    )
    assert delta.space == "finance"  # the claimed space wins over the default
    assert [p.id for p in delta.new_products] == ["postgres://db:5432/mart.revenue", "s3://lake/fx"]
    revenue = delta.new_products[0]
    assert revenue.space == "finance"
    assert revenue.name == "postgres://db:5432/mart.revenue"
    assert revenue.datasets == ["postgres://db:5432/mart.revenue"]
    assert delta.edges == [
        ("orders_clean", "postgres://db:5432/mart.revenue"),
        ("s3://lake/fx", "postgres://db:5432/mart.revenue"),
    ]


def test_default_space_when_nothing_is_claimed() -> None:
    delta = map_run_event(event(["ns/a"], ["ns/b", "ns/c"]), nothing_claimed, "ops")
    assert delta.space == "ops"
    assert {p.space for p in delta.new_products} == {"ops"}
    assert delta.edges == [("ns/a", "ns/b"), ("ns/a", "ns/c")]


def test_no_space_at_all_is_an_error() -> None:
    with pytest.raises(OpenLineageError, match="cannot determine the space"):
        map_run_event(event(["ns/a"], ["ns/b"]), nothing_claimed, None)


def test_several_spaces_is_an_error() -> None:
    with pytest.raises(OpenLineageError, match=r"several spaces \(finance, marketing\)"):
        map_run_event(event(["warehouse/campaigns"], ["warehouse/orders_clean"]), claims, "finance")


def test_self_loops_and_duplicates_are_dropped() -> None:
    # both datasets belong to orders_raw; the output is listed twice
    delta = map_run_event(
        event(
            ["kafka/orders.v1", "warehouse/orders_raw"],
            ["warehouse/orders_raw", "warehouse/orders_clean", "warehouse/orders_clean"],
        ),
        claims,
        None,
    )
    assert delta.edges == [("orders_raw", "orders_clean")]


@pytest.mark.parametrize(
    ("inputs", "outputs"),
    [(None, ["ns/out"]), ([], ["ns/out"]), (["ns/in"], None), (["ns/in"], [])],
)
def test_one_sided_events_yield_products_but_no_edges(
    inputs: list[str] | None, outputs: list[str] | None
) -> None:
    delta = map_run_event(event(inputs, outputs), nothing_claimed, "ops")
    assert delta.edges == []
    assert len(delta.new_products) == 1


def test_empty_event_is_an_empty_delta() -> None:
    delta = map_run_event(event(None, None), nothing_claimed, "ops")
    assert delta.is_empty and delta.space == "ops"


@pytest.mark.parametrize("event_type", ["START", "RUNNING", "COMPLETE", "FAIL", "ABORT", None])
def test_every_event_type_carries_lineage(event_type: str | None) -> None:
    body = event(["warehouse/orders_raw"], ["warehouse/orders_clean"], eventType=event_type)
    assert map_run_event(body, claims, None).edges == [("orders_raw", "orders_clean")]


def test_unknown_fields_are_ignored() -> None:
    body = event(["warehouse/orders_raw"], ["warehouse/orders_clean"], customField={"x": 1})
    body["inputs"][0]["inputFacets"] = {"dataQualityMetrics": {"rowCount": 10}}
    body["job"]["facets"] = {"jobType": {"jobType": "TASK"}}
    assert map_run_event(body, claims, None).edges == [("orders_raw", "orders_clean")]


def _broken(mutate: str) -> object:
    body: dict[str, Any] = event(["warehouse/orders_raw"], ["warehouse/orders_clean"])
    if mutate == "no job":
        del body["job"]
    elif mutate == "job name missing":
        del body["job"]["name"]
    elif mutate == "job not object":
        body["job"] = "orders_dag"
    elif mutate == "inputs not list":
        body["inputs"] = {"namespace": "warehouse", "name": "orders_raw"}
    elif mutate == "outputs not list":
        body["outputs"] = "warehouse/orders_clean"
    elif mutate == "dataset without namespace":
        del body["outputs"][0]["namespace"]
    elif mutate == "dataset with empty name":
        body["inputs"][0]["name"] = ""
    elif mutate == "namespace not a string":
        body["inputs"][0]["namespace"] = 42
    elif mutate == "dataset not an object":
        body["inputs"] = ["warehouse/orders_raw"]
    return body


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        ("no job", r"job: Field required"),
        ("job name missing", r"job\.name: Field required"),
        ("job not object", r"job:"),
        ("inputs not list", r"inputs: Input should be a valid list"),
        ("outputs not list", r"outputs: Input should be a valid list"),
        ("dataset without namespace", r"outputs\.0\.namespace: Field required"),
        ("dataset with empty name", r"inputs\.0\.name: String should have at least 1"),
        ("namespace not a string", r"inputs\.0\.namespace: Input should be a valid string"),
        ("dataset not an object", r"inputs\.0:"),
    ],
)
def test_unusable_events_are_rejected(mutate: str, needle: str) -> None:
    with pytest.raises(OpenLineageError, match=needle):
        map_run_event(_broken(mutate), claims, "ops")


@pytest.mark.parametrize("body", [[], "x", None, 3])
def test_non_objects_are_rejected(body: object) -> None:
    with pytest.raises(OpenLineageError, match="must be a JSON object"):
        map_run_event(body, claims, "ops")
    assert issubclass(OpenLineageError, ValueError)


def test_invalid_default_space_is_reported() -> None:
    with pytest.raises(OpenLineageError, match="cannot become a product"):
        map_run_event(event(["ns/a"], ["ns/b"]), nothing_claimed, "Not A Slug")


def test_input_is_not_mutated() -> None:
    body = event(["warehouse/orders_raw", "ns/x"], ["warehouse/orders_clean"])
    before = copy.deepcopy(body)
    map_run_event(body, claims, None)
    assert body == before


DATASETS = [*CATALOG.keys() - {"warehouse/campaigns"}, "ns/a", "ns/b", "ns/c"]


@settings(max_examples=200, deadline=None)
@given(
    inputs=st.lists(st.sampled_from(DATASETS), max_size=6),
    outputs=st.lists(st.sampled_from(DATASETS), max_size=6),
)
def test_edges_are_the_product_cross_join(inputs: list[str], outputs: list[str]) -> None:
    delta = map_run_event(event(inputs, outputs), claims, "finance")

    def node(name: str) -> str:
        hit = claims(name)
        return hit[1] if hit else name

    expected = {(node(i), node(o)) for i in inputs for o in outputs if node(i) != node(o)}
    assert delta.edges == sorted(expected)
    assert all(u != v for u, v in delta.edges)
    new_ids = [p.id for p in delta.new_products]
    assert new_ids == sorted({n for n in [*inputs, *outputs] if claims(n) is None})
    known = set(new_ids) | {pid for _, pid in CATALOG.values()}
    assert {n for edge in delta.edges for n in edge} <= known
