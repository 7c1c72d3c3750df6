"""CONTRACT §6, the fields derived from an incident's alerts: root, suspected upstream, severity
and impact, and the locks that keep a user's root and severity
(on the lineage of `tests.support.correlation`).
"""

from __future__ import annotations

import pytest

from incidentd.schemas.common import Impact, Severity
from tests.support.correlation import Store, alert, at, incident_of, lineage

# -- derived fields --------------------------------------------------------------------------


def test_root_is_the_alerted_product_without_an_alerted_ancestor() -> None:
    store = Store()
    store.run(alert("a1", "report", at(0)), alert("a2", "mart", at(1)))
    outcome = store.run(alert("a3", "raw", at(9)))  # later, but upstream of everything
    incident = incident_of(outcome, "a3")
    assert incident.root_product_id == "raw"
    assert incident.products == ("mart", "raw", "report")
    assert incident.suspected_upstream == ()


def test_root_ties_go_to_the_larger_blast_radius() -> None:
    store = Store(lineage=lineage([("hub", "x"), ("hub", "y"), ("y", "y_child")]))
    outcome = store.run(alert("a1", "x", at(0)), alert("a2", "y", at(0)))
    assert incident_of(outcome, "a1").root_product_id == "y"


def test_root_ties_on_blast_radius_go_to_the_smaller_id() -> None:
    store = Store(lineage=lineage([("hub", "y"), ("hub", "x")]))
    outcome = store.run(alert("a1", "y", at(0)), alert("a2", "x", at(0)))
    assert incident_of(outcome, "a1").root_product_id == "x"


def test_the_earliest_alerted_root_wins_over_blast_radius_and_id() -> None:
    store = Store(lineage=lineage([("hub", "x"), ("x", "x_child"), ("hub", "y")]))
    outcome = store.run(alert("a1", "x", at(1)), alert("a2", "y", at(0)))
    incident = incident_of(outcome, "a1")
    assert incident.root_product_id == "y"
    assert incident.suspected_upstream == ("hub",)


def test_a_root_set_by_a_user_and_a_locked_severity_survive_recorrelation() -> None:
    store = Store()
    incident = incident_of(store.run(alert("a1", "mart", at(0), severity=Severity.LOW)), "a1")
    incident.root_product_id = "report"
    incident.root_locked = True
    incident.severity = Severity.INFO
    incident.severity_locked = True

    outcome = store.run(alert("a2", "raw", at(5), severity=Severity.CRITICAL))

    assert outcome.assignments == {"a2": incident.id}
    assert incident.root_product_id == "report"
    assert incident.severity is Severity.INFO
    assert incident.products == ("mart", "raw")  # the rest is still derived
    assert incident.blast_radius == ("clean", "mart", "raw", "report", "side", "side_report")


def test_without_locks_root_and_severity_follow_the_alerts() -> None:
    store = Store()
    incident = incident_of(store.run(alert("a1", "mart", at(0), severity=Severity.LOW)), "a1")
    store.run(alert("a2", "raw", at(5), severity=Severity.CRITICAL))
    assert incident.root_product_id == "raw"
    assert incident.severity is Severity.CRITICAL


@pytest.mark.parametrize(
    ("alerted", "expected"),
    [
        (["report"], ("mart", "clean", "raw")),  # nearest first
        (["side_report"], ("side", "clean", "raw")),
        (["mart", "side"], ("clean", "raw")),  # upstream of every root
        (["report", "clean"], ("raw",)),  # only what lies upstream of the root `clean`
        (["raw"], ()),
        (["island"], ()),
    ],
)
def test_suspected_upstream(alerted: list[str], expected: tuple[str, ...]) -> None:
    store = Store()
    outcome = store.run(*(alert(f"a{n}", p, at(n)) for n, p in enumerate(alerted)))
    assert incident_of(outcome, "a0").suspected_upstream == expected


def test_severity_is_the_highest_alert_severity() -> None:
    store = Store()
    store.run(alert("a1", "mart", at(0), severity=Severity.LOW))
    store.run(alert("a2", "mart", at(1), severity=Severity.CRITICAL))
    outcome = store.run(alert("a3", "mart", at(2), severity=Severity.MEDIUM))
    assert incident_of(outcome, "a3").severity is Severity.CRITICAL


def test_severity_of_info_only_alerts_is_info() -> None:
    store = Store()
    outcome = store.run(alert("a1", "mart", at(0), severity=Severity.INFO))
    assert incident_of(outcome, "a1").severity is Severity.INFO


def chain(length: int) -> list[tuple[str, str]]:
    """n0 -> n1 -> ... -> n{length-1}."""
    return [(f"n{i}", f"n{i + 1}") for i in range(length - 1)]


@pytest.mark.parametrize(
    ("edges", "products", "tiers", "alerted", "expected"),
    [
        ([], ["solo"], {"solo": "critical"}, "solo", Impact.HIGH),
        ([], ["solo"], {"solo": "high"}, "solo", Impact.MEDIUM),
        ([], ["solo"], {"solo": "medium"}, "solo", Impact.LOW),
        ([], ["solo"], {"solo": "low"}, "solo", Impact.LOW),
        ([], ["solo"], {}, "solo", Impact.LOW),
        (chain(10), [], {}, "n0", Impact.HIGH),  # 10 products in the blast radius
        (chain(10), [], {}, "n1", Impact.MEDIUM),  # 9
        (chain(3), [], {}, "n0", Impact.MEDIUM),  # 3
        (chain(3), [], {}, "n1", Impact.LOW),  # 2
        (chain(3), [], {"n2": "critical"}, "n0", Impact.HIGH),  # critical downstream
        (chain(3), [], {"n2": "high"}, "n1", Impact.MEDIUM),  # high downstream
        (chain(3), [], {"n0": "critical"}, "n1", Impact.LOW),  # upstream is not in the radius
    ],
)
def test_impact_thresholds(
    edges: list[tuple[str, str]],
    products: list[str],
    tiers: dict[str, str],
    alerted: str,
    expected: Impact,
) -> None:
    store = Store(lineage=lineage(edges, products=products, tiers=tiers))
    outcome = store.run(alert("a1", alerted, at(0)))
    assert incident_of(outcome, "a1").impact is expected


# -- derived fields stay current as alerts, products and lineage change ------------------------


def test_a_new_lineage_graph_recomputes_the_radius_of_unchanged_products() -> None:
    store = Store(lineage=lineage([("mart", "report")]))
    first = incident_of(store.run(alert("a1", "mart", at(0))), "a1")
    assert first.blast_radius == ("mart", "report") and first.impact is Impact.LOW

    grown = lineage(
        [("mart", "report"), ("mart", "board"), ("raw", "mart")], tiers={"board": "critical"}
    )
    again = incident_of(store.run(alert("a2", "mart", at(1)), lineage=grown), "a2")

    assert again is first and again.products == ("mart",)
    assert again.blast_radius == ("board", "mart", "report")
    assert again.impact is Impact.HIGH
    assert again.suspected_upstream == ("raw",)


def test_a_late_alert_on_a_known_product_moves_the_root() -> None:
    store = Store(lineage=lineage([("hub", "x"), ("hub", "y")]))
    incident = incident_of(store.run(alert("a1", "x", at(5)), alert("a2", "y", at(3))), "a1")
    assert incident.root_product_id == "y"

    store.run(alert("a3", "x", at(1)))  # no new product, but x was alerted first after all

    assert incident.products == ("x", "y")
    assert incident.root_product_id == "x"
    assert incident.first_alert_at == at(1) and incident.last_alert_at == at(5)


def test_a_merge_takes_the_times_severity_and_tags_of_the_merged_alerts() -> None:
    store = Store(lineage=lineage([("a", "c"), ("b", "c")]))
    older = incident_of(store.run(alert("a1", "a", at(10), severity=Severity.LOW)), "a1")
    newer = incident_of(store.run(alert("b1", "b", at(2), severity=Severity.CRITICAL)), "b1")
    assert older.id != newer.id and older.severity is Severity.LOW

    outcome = store.run(alert("c1", "c", at(20)))  # related to both: merged into the older

    assert incident_of(outcome, "c1") is older and newer.merged_into == older.id
    assert sorted(older.alerts) == ["a1", "b1", "c1"]
    assert older.first_alert_at == at(2) and older.last_alert_at == at(20)
    assert older.severity is Severity.CRITICAL
    assert older.products == ("a", "b", "c") and older.blast_radius == ("a", "b", "c")
    assert older.root_product_id == "b"  # alerted first, no alerted ancestor
