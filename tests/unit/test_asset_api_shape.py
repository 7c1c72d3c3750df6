"""The replay test's yardstick: `shape_of` finds every way a response departs from the document."""

from __future__ import annotations

from tests.support import asset_api as doc


def test_the_documents_own_examples_have_its_shape() -> None:
    for example in (doc.LIST_ITEM, doc.DETAIL, doc.DISTRIBUTION, doc.SUMMARY, doc.ALERT):
        assert doc.shape_of(example, example) == []


def test_departures_are_named() -> None:
    item = {**doc.LIST_ITEM}
    del item["tags"]
    item.update(id="1311", severity="critical", status="open", created_time="2025-06-30T14:12:51Z")
    item["extra"] = 1
    problems = doc.shape_of(item, doc.LIST_ITEM)
    assert any("fields missing ['tags'], not in the document ['extra']" in p for p in problems)
    assert "$.id: string, the document has integer" in problems
    assert any(p.startswith("$.severity: 'critical' is not one of") for p in problems)
    assert any(p.startswith("$.status: 'open'") for p in problems)
    assert any(p.startswith("$.created_time:") for p in problems)


def test_nulls_only_where_the_document_or_the_caller_allows() -> None:
    item = {**doc.LIST_ITEM, "ticket_id": None}
    assert doc.shape_of(item, doc.LIST_ITEM) == ["$.ticket_id: null"]
    assert doc.shape_of(item, doc.LIST_ITEM, nullable=frozenset({"ticket_id"})) == []
    metric = {**doc.DETAIL["metrics"][0], "segment": "USA"}  # null in the document: any type
    assert doc.shape_of({**doc.DETAIL, "metrics": [metric]}, doc.DETAIL) == []


def test_maps_are_checked_by_value_and_arrays_item_by_item() -> None:
    day = {"date": "2025-07-22", "counts": {"LOW": "1"}, "counts_by_impact": {}}
    problems = doc.shape_of({"incidents": [day]}, doc.DISTRIBUTION)
    assert problems == ["$.incidents[0].counts['LOW']: string, the document has integer"]
    assert doc.shape_of(
        {"incidents": [{**day, "date": "22/07/2025", "counts": {}}]}, doc.DISTRIBUTION
    ) == ["$.incidents[0].date: '22/07/2025' is not a date like 2025-07-22"]
