"""The demo lineage file and alert burst: valid, realistic, and telling the intended story."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta

import networkx as nx
import pytest
from pydantic import ValidationError

from incidentd.app.demo_alerts import DEMO_LINEAGE_FILE, DEMO_SPACE, demo_alert_burst
from incidentd.lineage.document import load_document
from incidentd.lineage.graph import LineageGraph
from incidentd.schemas.alert import AlertEvent
from incidentd.schemas.common import AlertStatus
from incidentd.schemas.lineage import LineageDocument

NOW = datetime(2026, 2, 27, 14, 0, 30, 123456, tzinfo=UTC)
TREASURY = {"payments_raw", "cash_position", "treasury_dashboard"}
REVENUE = {"billing_invoices_raw", "revenue_daily", "cfo_dashboard", "board_pack_monthly"}
CUSTOMER = {"crm_accounts_stg", "customer_master"}


@pytest.fixture(scope="module")
def document() -> LineageDocument:
    return load_document(DEMO_LINEAGE_FILE)


@pytest.fixture(scope="module")
def graph(document: LineageDocument) -> LineageGraph:
    return LineageGraph.from_document(document, DEMO_SPACE)


@pytest.fixture(scope="module")
def records() -> list[tuple[bytes | None, bytes]]:
    return demo_alert_burst(NOW)


def _valid(records: list[tuple[bytes | None, bytes]]) -> list[AlertEvent]:
    alerts: list[AlertEvent] = []
    for _, value in records:
        try:
            alerts.append(AlertEvent.model_validate_json(value))
        except ValidationError:
            continue
    return alerts


# -- lineage -----------------------------------------------------------------------------


def test_lineage_file_is_a_valid_finance_catalog(document: LineageDocument) -> None:
    ids = [p.id for p in document.products]
    assert 30 <= len(ids) <= 36
    assert len(set(ids)) == len(ids)
    assert {p.space for p in document.products} == {"finance"}
    products = set(ids)
    for edge in document.edges:
        assert edge.upstream in products and edge.downstream in products, edge
    assert len({(e.upstream, e.downstream) for e in document.edges}) == len(document.edges)


def test_lineage_file_has_people_tiers_and_datasets(document: LineageDocument) -> None:
    people = {m for p in document.products for m in [*p.owners, *p.stewards]}
    assert 6 <= len(people) <= 10
    assert all(m.endswith("@example.com") for m in people)
    assert all(p.owners and p.name and p.tier and p.tags for p in document.products)
    tiers = Counter(str(p.tier) for p in document.products)
    assert 3 <= tiers["critical"] <= 8 and tiers["high"] and tiers["medium"] and tiers["low"]
    datasets = [d for p in document.products for d in p.datasets]
    assert len(datasets) == len(set(datasets))  # no dataset claimed twice
    assert all("/" in d for d in datasets)


def test_lineage_is_a_layered_dag_with_fan_in_and_fan_out(graph: LineageGraph) -> None:
    g = graph.networkx
    assert nx.is_directed_acyclic_graph(g)
    assert max(d for _, d in g.out_degree()) >= 3
    assert max(d for _, d in g.in_degree()) >= 3
    assert nx.dag_longest_path_length(g) >= 4
    assert graph.products_claiming("warehouse/cash_position") == "cash_position"


def test_lineage_has_separate_regions(graph: LineageGraph) -> None:
    regions = list(nx.weakly_connected_components(graph.networkx))
    assert len(regions) >= 3
    for scenario in (TREASURY, REVENUE, CUSTOMER):
        assert sum(1 for region in regions if scenario <= region) == 1
    for a, b in [(TREASURY, REVENUE), (TREASURY, CUSTOMER), (REVENUE, CUSTOMER)]:
        assert not any(graph.is_related(p, q) for p in a for q in b)


# -- alert burst -------------------------------------------------------------------------


def test_burst_size_and_exactly_one_malformed(records: list[tuple[bytes | None, bytes]]) -> None:
    assert 30 <= len(records) <= 60
    invalid = []
    for key, value in records:
        try:
            AlertEvent.model_validate_json(value)
        except ValidationError:
            invalid.append((key, value))
    assert len(invalid) == 1
    assert "occurred_at" not in json.loads(invalid[0][1])


def test_valid_alerts_follow_the_contract(
    records: list[tuple[bytes | None, bytes]], graph: LineageGraph
) -> None:
    for key, value in records:
        raw = json.loads(value)
        assert key == raw["space"].encode()  # keyed by space (CONTRACT §1)
        if "occurred_at" not in raw:
            continue
        alert = AlertEvent.model_validate_json(value)
        assert alert.schema_version == 1 and alert.space == DEMO_SPACE
        assert alert.product_id in graph
        assert NOW - timedelta(minutes=30) <= alert.occurred_at <= NOW
        assert raw["occurred_at"].endswith("Z")


def test_burst_is_varied(records: list[tuple[bytes | None, bytes]]) -> None:
    alerts = _valid(records)
    assert {a.alert_type for a in alerts} >= {
        "freshness_breach",
        "volume_anomaly",
        "quality_check_failed",
        "schema_change",
        "reconciliation_mismatch",
    }
    assert {a.source for a in alerts} >= {"soda", "great_expectations", "dbt", "telmai"}
    assert len({a.severity for a in alerts}) >= 4
    assert all(a.check is not None and a.check.id for a in alerts)
    # seed 001's policies: `alert_policy_ids=4` finds the demo's incidents
    assert {(a.check.policy_id, a.check.policy_name) for a in alerts if a.check} == {
        ("4", "prod checks")
    }
    assert sum(1 for a in alerts if a.metric is not None) >= len(alerts) - 2


def test_duplicates_and_repeats(records: list[tuple[bytes | None, bytes]]) -> None:
    alerts = _valid(records)
    ids = Counter(a.alert_id for a in alerts)
    twice = [i for i, n in ids.items() if n > 1]
    assert len(twice) == 1 and ids[twice[0]] == 2
    same = [v for _, v in records if json.loads(v)["alert_id"] == twice[0]]
    assert same[0] == same[1]  # an exact redelivery
    unique = {a.alert_id: a for a in alerts}.values()
    firing = Counter(a.effective_fingerprint() for a in unique if a.status is AlertStatus.FIRING)
    assert sum(1 for n in firing.values() if n > 1) >= 3


def test_burst_is_deterministic(records: list[tuple[bytes | None, bytes]]) -> None:
    assert demo_alert_burst(NOW) == records
    later = demo_alert_burst(NOW + timedelta(hours=1))
    assert {a.alert_id for a in _valid(later)}.isdisjoint(a.alert_id for a in _valid(records))


def _groups(alerts: list[AlertEvent], graph: LineageGraph) -> list[set[str]]:
    """CONTRACT §6 grouping of firing alerts, naively: components of 'related'."""
    firing = [a for a in alerts if a.status is AlertStatus.FIRING]
    related = nx.Graph()
    related.add_nodes_from(a.alert_id for a in firing)
    for a in firing:
        for b in firing:
            close = abs(a.occurred_at - b.occurred_at) <= timedelta(hours=6)
            if close and graph.is_related(a.product_id, b.product_id):
                related.add_edge(a.alert_id, b.alert_id)
    by_id = {a.alert_id: a.product_id for a in firing}
    return [{by_id[i] for i in c} for c in nx.connected_components(related)]


def test_three_incidents_in_three_regions(
    records: list[tuple[bytes | None, bytes]], graph: LineageGraph
) -> None:
    groups = _groups(_valid(records), graph)
    assert len(groups) == 3
    for scenario in (TREASURY, REVENUE, CUSTOMER):
        assert sum(1 for g in groups if scenario <= g) == 1


def test_roots_of_the_cascades(
    records: list[tuple[bytes | None, bytes]], graph: LineageGraph
) -> None:
    alerts = _valid(records)
    first: dict[str, datetime] = {}
    for a in sorted(alerts, key=lambda a: a.occurred_at):
        first.setdefault(a.product_id, a.occurred_at)
    roots = set()
    for group in _groups(alerts, graph):
        candidates = [p for p in group if not set(graph.ancestors(p)) & group]
        roots.add(min(candidates, key=lambda p: (first[p], p)))
    assert roots == {"payments_raw", "billing_invoices_raw", "crm_accounts_stg"}
    assert "crm_customers_raw" in graph.ancestors("crm_accounts_stg")


def test_only_the_customer_incident_fully_recovers(
    records: list[tuple[bytes | None, bytes]], graph: LineageGraph
) -> None:
    alerts = _valid(records)
    state: dict[str, AlertStatus] = {}
    for a in sorted(alerts, key=lambda a: a.occurred_at):
        state[a.effective_fingerprint()] = a.status
    product_of = {a.effective_fingerprint(): a.product_id for a in alerts}
    for group in _groups(alerts, graph):
        statuses = {s for f, s in state.items() if product_of[f] in group}
        if group >= CUSTOMER:
            assert statuses == {AlertStatus.RESOLVED}
        else:
            assert AlertStatus.FIRING in statuses
    resolved_elsewhere = {
        product_of[f] for f, s in state.items() if s is AlertStatus.RESOLVED
    } - CUSTOMER
    assert resolved_elsewhere == {"payments_raw"}  # one fingerprint clears, incident stays open
