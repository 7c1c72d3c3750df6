"""OpenLineage: the `dataQualityAssertions` dataset facets of a `RunEvent` -> alert events v1.

The same events feed lineage (incidentd.lineage.openlineage). Each assertion is an alert on the
dataset's product: `success: false` fires, `success: true` recovers the same fingerprint. The
product is the one claiming the dataset `namespace/name`, else the dataset as its own node (id
`namespace/name`, as lineage names it); the alert's space is the resolved product's, else the
default space. The README has the field table.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from incidentd.intake.base import IntakeError, Mapped, Products
from incidentd.intake.build import Collector, Finding, describe, number_text, parse_document

NAME = "openlineage"
FACET = "dataQualityAssertions"
FACET_KEYS = ("inputFacets", "outputFacets", "facets")
SEVERITY = {"error": "high", "warn": "medium", "warning": "medium"}
SEVERITIES = frozenset({"critical", "high", "medium", "low", "info"})


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class _Run(_Model):
    run_id: str = Field(min_length=1, alias="runId")


class _Job(_Model):
    namespace: str
    name: str


class _Event(_Model):
    event_time: str = Field(alias="eventTime")
    run: _Run
    job: _Job
    inputs: list[Any] | None = None
    outputs: list[Any] | None = None


class _Dataset(_Model):
    namespace: str = Field(min_length=1)
    name: str = Field(min_length=1)


class _Assertion(_Model):
    assertion: str = Field(min_length=1)
    success: bool
    column: str | None = None
    severity: str | None = None
    name: str | None = None
    description: str | None = None
    expected: str | None = None
    actual: str | None = None


def map_assertions(run_event: object, products: Products, default_space: str | None) -> Mapped:
    """Alerts of every `dataQualityAssertions` facet of `run_event` (pure; IntakeError when the
    event is not a usable RunEvent). An assertion on a dataset no product claims goes to
    `default_space`, or is rejected when there is none."""
    event = parse_document(_Event, run_event, "OpenLineage RunEvent")
    collector = Collector(NAME, default_space or "", products)
    for where, dataset, facet in _facets(event):
        assertions = facet.get("assertions")
        if not isinstance(assertions, list):
            collector.reject(f"{where}.{FACET}", "assertions must be a list")
            continue
        for index, raw in enumerate(assertions):
            _add(collector, f"{where}.{FACET}.assertions[{index}]", raw, dataset, event)
    return collector.mapped


def _facets(event: _Event) -> Iterator[tuple[str, _Dataset, Mapping[str, Any]]]:
    """(location, dataset, facet) for each assertions facet on an input or output dataset."""
    for side, datasets in (("inputs", event.inputs), ("outputs", event.outputs)):
        for index, raw in enumerate(datasets or []):
            if not isinstance(raw, Mapping):
                continue
            for key in FACET_KEYS:
                facets = raw.get(key)
                facet = facets.get(FACET) if isinstance(facets, Mapping) else None
                if isinstance(facet, Mapping):
                    try:
                        dataset = _Dataset.model_validate(raw)
                    except ValueError as exc:
                        raise IntakeError(f"{side}[{index}]: {describe(exc)}") from exc
                    yield f"{side}[{index}].{key}", dataset, facet


def _add(collector: Collector, item: str, raw: object, dataset: _Dataset, event: _Event) -> None:
    assertion = collector.parse(_Assertion, raw, item)
    if assertion is None:
        return
    target = f"{dataset.namespace}/{dataset.name}"
    ref = collector.products.resolve(target)
    space = ref.space if ref is not None else collector.space
    if not space:
        collector.reject(item, f"no product claims {target} and no default space is configured")
        return
    collector.add(item, _finding(assertion, target, event), space=space)


def _finding(assertion: _Assertion, target: str, event: _Event) -> Finding:
    check = assertion.name or assertion.assertion
    column = assertion.column
    where = f"{target}.{column}" if column else target
    actual = number_text(assertion.actual)
    return Finding(
        run_id=f"{event.run.run_id}/{event.event_time}",
        check_id=f"{check}:{column or ''}",
        targets=[target],
        firing=not assertion.success,
        severity=_severity(assertion.severity),
        occurred_at=event.event_time,
        title=f"{check} {'passes' if assertion.success else 'failed'} on {where}",
        check_name=check,
        check_extra={"type": assertion.assertion},
        description=assertion.description,
        attribute=column,
        metric=None
        if actual is None
        else {
            "name": assertion.assertion,
            "value": actual,
            "threshold": number_text(assertion.expected),
        },
        tags=[event.job.name],
        extra={"openlineage": {"job": f"{event.job.namespace}/{event.job.name}"}},
    )


def _severity(severity: str | None) -> str:
    """The assertion's `severity` (dbt's error/warn, or one of ours), default high."""
    chosen = (severity or "").lower()
    return chosen if chosen in SEVERITIES else SEVERITY.get(chosen, "high")


class OpenLineageSource:
    """The `Source` of the lineage path: the caller's space is the default space."""

    name = NAME

    def map(self, document: Mapping[str, Any], *, space: str, products: Products) -> Mapped:
        """`map_assertions` with `space` as the default space."""
        return map_assertions(document, products, space)


SOURCE = OpenLineageSource()
