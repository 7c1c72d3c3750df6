"""CONTRACT §6, which alerts are related: lineage, spaces and the time window
(on the lineage of `tests.support.correlation`).
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from incidentd.correlation.model import SpacePolicy
from incidentd.schemas.common import EventType
from tests.support.correlation import T0, Store, alert, at, main_lineage

# -- which alerts are related ----------------------------------------------------------------


def test_alerts_on_the_same_product_share_an_incident() -> None:
    store = Store()
    outcome = store.run(alert("a1", "mart", at(0)), alert("a2", "mart", at(30)))
    assert store.open_groups() == {frozenset({"a1", "a2"})}
    assert outcome.assignments["a1"] == outcome.assignments["a2"]


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("raw", "report"),  # downstream at distance 3
        ("report", "raw"),  # upstream at distance 3
        ("clean", "mart"),
        ("raw", "side_report"),
        ("clean", "side_report"),
    ],
)
def test_upstream_and_downstream_products_are_related(first: str, second: str) -> None:
    store = Store()
    store.run(alert("a1", first, at(0)))
    outcome = store.run(alert("a2", second, at(10)))
    assert store.open_groups() == {frozenset({"a1", "a2"})}
    assert outcome.changes[store.holding("a1").id].event_type is EventType.ALERT_ADDED


def test_siblings_sharing_a_direct_upstream_are_related() -> None:
    store = Store()
    store.run(alert("a1", "mart", at(0)))
    store.run(alert("a2", "side", at(5)))
    assert store.open_groups() == {frozenset({"a1", "a2"})}


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("report", "side_report"),  # cousins: only the grandparent `clean` in common
        ("mart", "side_report"),  # uncle and nephew
        ("side", "report"),
        ("raw", "island"),
        ("island", "report"),
    ],
)
def test_products_without_a_lineage_relation_are_not_related(first: str, second: str) -> None:
    store = Store()
    store.run(alert("a1", first, at(0)))
    outcome = store.run(alert("a2", second, at(1)))
    assert store.open_groups() == {frozenset({"a1"}), frozenset({"a2"})}
    assert outcome.changes[outcome.assignments["a2"] or ""].event_type is EventType.CREATED


def test_a_product_unknown_to_the_lineage_relates_only_to_itself() -> None:
    store = Store()
    store.run(alert("a1", "ghost", at(0)), alert("a2", "raw", at(0)))
    store.run(alert("a3", "ghost", at(3)))
    assert store.open_groups() == {frozenset({"a1", "a3"}), frozenset({"a2"})}


def test_same_product_in_two_spaces_with_per_space_candidates() -> None:
    finance = Store(lineage=main_lineage("finance"))
    sales = Store(lineage=main_lineage("sales"))
    finance.run(alert("a1", "mart", at(0), space="finance"))
    sales.run(alert("a2", "mart", at(0), space="sales"))
    assert finance.holding("a1").space == "finance"
    assert sales.holding("a2").space == "sales"
    assert finance.holding("a1").id != sales.holding("a2").id


def test_alerts_of_another_space_are_never_related() -> None:
    """Same product id, same minute, but two spaces: never one incident.

    The caller passes its whole store (every incident of every space) as candidates and
    calls the engine once per space with that space's lineage.
    """
    store = Store()
    store.run(alert("a1", "mart", at(0), space="finance"), lineage=main_lineage("finance"))
    outcome = store.run(alert("a2", "mart", at(0), space="sales"), lineage=main_lineage("sales"))
    assert store.holding("a2").space == "sales"
    assert store.holding("a1").id != store.holding("a2").id
    created = outcome.changes[store.holding("a2").id]
    assert created.event_type is EventType.CREATED


@pytest.mark.parametrize(
    ("gap", "groups"),
    [
        (timedelta(hours=6), 1),  # exactly the default window: related
        (timedelta(hours=6, seconds=1), 2),
        (timedelta(hours=5, minutes=59, seconds=59), 1),
    ],
)
@pytest.mark.parametrize("products", [("mart", "mart"), ("raw", "report"), ("mart", "side")])
def test_the_window_bounds_relatedness_inclusively(
    gap: timedelta, groups: int, products: tuple[str, str]
) -> None:
    store = Store()
    store.run(alert("a1", products[0], T0))
    store.run(alert("a2", products[1], T0 + gap))
    assert len(store.open_groups()) == groups


def test_the_window_is_the_space_setting() -> None:
    store = Store(policy=SpacePolicy(window=timedelta(minutes=60)))
    store.run(alert("a1", "mart", at(0)), alert("a2", "mart", at(60)))
    store.run(alert("a3", "mart", at(121)))
    assert store.open_groups() == {frozenset({"a1", "a2"}), frozenset({"a3"})}
