"""Great Expectations 1.x: a validation result (`ExpectationSuiteValidationResult` as JSON, what
`ValidationDefinition.run()` returns and the validations store keeps) -> alert events v1.

Every expectation result is an alert on the validated data asset: `success: false` fires,
`success: true` is the recovery of the same fingerprint. The README has the field table.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from incidentd.intake.base import IntakeError, Mapped, Products, stable_id
from incidentd.intake.build import Collector, Finding, number, parse_document

NAME = "gx"
SEVERITY = {"critical": "high", "warning": "medium", "info": "info"}
SEVERITIES = frozenset({"critical", "high", "medium", "low", "info"})
_NOT_CHECK_KWARGS = frozenset({"batch_id", "result_format", "catch_exceptions", "meta"})


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class _Validation(_Model):
    results: list[Any]
    suite_name: str | None = None
    meta: dict[str, Any] = Field(default_factory=dict)


class _Config(_Model):
    type: str | None = None
    expectation_type: str | None = None  # GX 0.x
    meta: dict[str, Any] | None = None
    id: str | None = None
    severity: str | None = None

    @property
    def arguments(self) -> dict[str, Any]:
        """The expectation's `kwargs` (column, bounds, mostly, ...)."""
        value = (self.model_extra or {}).get("kwargs")
        return value if isinstance(value, dict) else {}


class _Result(_Model):
    success: bool
    expectation_config: _Config
    result: dict[str, Any] = Field(default_factory=dict)
    exception_info: dict[str, Any] = Field(default_factory=dict)


class GxSource:
    """Great Expectations validation results."""

    name = NAME

    def map(self, document: Mapping[str, Any], *, space: str, products: Products) -> Mapped:
        """One alert per expectation result (pure)."""
        validation = _read(document)
        meta = validation.meta
        suite = validation.suite_name or str(meta.get("expectation_suite_name") or "")
        run = _run_id(meta)
        targets = _targets(meta)
        collector = Collector(NAME, space, products)
        for index, raw in enumerate(validation.results):
            result = collector.parse(_Result, raw, f"results[{index}]")
            if result is not None:
                collector.add(f"results[{index}]", _finding(result, suite, run, targets, meta))
        return collector.mapped


def _read(document: object) -> _Validation:
    if isinstance(document, Mapping) and "run_results" in document and "results" not in document:
        raise IntakeError(
            "this looks like a dbt run_results or a checkpoint result; the gx intake takes one "
            "validation result (ExpectationSuiteValidationResult JSON)"
        )
    validation = parse_document(_Validation, document, "Great Expectations validation result")
    if not validation.suite_name and not validation.meta.get("expectation_suite_name"):
        raise IntakeError(
            "not a Great Expectations validation result: it names no suite (suite_name)"
        )
    return validation


def _run_id(meta: Mapping[str, Any]) -> str:
    run = meta.get("run_id")
    parts = [meta.get("validation_id"), meta.get("validation_time")]
    if isinstance(run, Mapping):
        parts += [run.get("run_name"), run.get("run_time")]
    return stable_id(*(str(p) for p in parts))


def _targets(meta: Mapping[str, Any]) -> list[str]:
    """The asset as `datasource/asset`, then the asset, then a SQL batch's `schema.table`."""
    batch = meta.get("active_batch_definition")
    spec = meta.get("batch_spec")
    batch = batch if isinstance(batch, Mapping) else {}
    spec = spec if isinstance(spec, Mapping) else {}
    source, asset = batch.get("datasource_name"), batch.get("data_asset_name")
    table, schema = spec.get("table_name"), spec.get("schema_name")
    names = [
        f"{source}/{asset}" if source and asset else None,
        asset,
        f"{schema}.{table}" if schema and table else None,
        table,
    ]
    return [str(n) for n in names if n]


def _finding(
    result: _Result, suite: str, run: str, targets: list[str], meta: Mapping[str, Any]
) -> Finding:
    config = result.expectation_config
    kind = config.type or config.expectation_type or "expectation"
    column = config.arguments.get("column")
    column = column if isinstance(column, str) else None
    where = f"{targets[0] if targets else suite}{f'.{column}' if column else ''}"
    failed = "raised an exception" if result.exception_info.get("raised_exception") else "failed"
    return Finding(
        run_id=run,
        check_id=f"{suite}:{kind}:{column or ''}",
        targets=targets or [suite],
        firing=not result.success,
        severity=_severity(config),
        occurred_at=meta.get("validation_time") or _run_time(meta),
        title=f"{kind} {'passes' if result.success else failed} on {where}",
        check_name=kind,
        check_extra={"suite": suite or None, "expectation_id": config.id},
        description=result.exception_info.get("exception_message") or None,
        attribute=column,
        metric=_metric(result.result, config.arguments),
        tags=[suite] if suite else [],
        extra={"gx": {"kwargs": _check_kwargs(config.arguments)}},
    )


def _run_time(meta: Mapping[str, Any]) -> Any:
    run = meta.get("run_id")
    return run.get("run_time") if isinstance(run, Mapping) else None


def _severity(config: _Config) -> str:
    chosen = (config.meta or {}).get("severity")
    if isinstance(chosen, str) and chosen.lower() in SEVERITIES:
        return chosen.lower()
    return SEVERITY.get(str(config.severity or "critical").lower(), "high")


def _metric(result: Mapping[str, Any], kwargs: Mapping[str, Any]) -> dict[str, Any] | None:
    """The observed value against the bound it broke, else the unexpected percentage."""
    observed = number(result.get("observed_value"))
    low, high = number(kwargs.get("min_value")), number(kwargs.get("max_value"))
    if observed is not None:
        broken = high if high is not None and observed > high else low
        return {"name": "observed_value", "value": observed, "threshold": broken}
    percent = number(result.get("unexpected_percent"))
    if percent is None:
        return None
    mostly = number(kwargs.get("mostly"))
    allowed = 100 * (1 - mostly) if mostly is not None else 0.0
    return {"name": "unexpected_percent", "value": percent, "threshold": allowed}


def _check_kwargs(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in kwargs.items() if k not in _NOT_CHECK_KWARGS}


SOURCE = GxSource()
