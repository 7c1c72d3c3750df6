"""Soda Core 3.x: a scan result (`Scan.get_scan_results()`, or `soda scan … -srf FILE`) -> alert
events v1.

Every evaluated check is an alert on its dataset: `fail` and `warn` fire, `pass` is the
recovery of the same fingerprint (a check's `identity` is stable while its definition is). The
README has the field table.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from incidentd.intake.base import IntakeError, Mapped, Products, stable_id
from incidentd.intake.build import Collector, Finding, number, parse_document

NAME = "soda"
OUTCOMES = {"fail": ("high", "fails"), "warn": ("medium", "warns"), "pass": ("medium", "passes")}
"""Outcome -> (severity, verb); a passing check with a fail threshold recovers as high."""
SEVERITIES = frozenset({"critical", "high", "medium", "low", "info"})


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class _Scan(_Model):
    checks: list[Any]
    definition_name: str | None = Field(None, alias="definitionName")
    default_data_source: str | None = Field(None, alias="defaultDataSource")
    data_timestamp: str | None = Field(None, alias="dataTimestamp")
    scan_start_timestamp: str | None = Field(None, alias="scanStartTimestamp")
    scan_end_timestamp: str | None = Field(None, alias="scanEndTimestamp")
    metrics: list[Any] = Field(default_factory=list)


class _Check(_Model):
    identity: str = Field(min_length=1)
    name: str | None = None
    table: str | None = None
    column: str | None = None
    data_source: str | None = Field(None, alias="dataSource")
    outcome: str | None = None
    metrics: list[Any] = Field(default_factory=list)
    diagnostics: dict[str, Any] = Field(default_factory=dict)
    outcome_reasons: list[Any] = Field(default_factory=list, alias="outcomeReasons")
    resource_attributes: list[Any] = Field(default_factory=list, alias="resourceAttributes")


class SodaSource:
    """Soda scan results."""

    name = NAME

    def map(self, document: Mapping[str, Any], *, space: str, products: Products) -> Mapped:
        """One alert per evaluated check (pure)."""
        scan = _read(document)
        metric_names = _metric_names(scan.metrics)
        collector = Collector(NAME, space, products)
        for index, raw in enumerate(scan.checks):
            item = f"checks[{index}]"
            check = collector.parse(_Check, raw, item)
            if check is None:
                continue
            if check.outcome not in OUTCOMES:
                collector.reject(check.name or item, f"Soda did not evaluate it ({check.outcome})")
                continue
            collector.add(check.name or item, _finding(check, scan, metric_names))
        return collector.mapped


def _read(document: object) -> _Scan:
    if isinstance(document, Mapping) and "checks" not in document:
        raise IntakeError(
            'not a Soda scan result: it has no "checks" (write one with `soda scan … -srf FILE` '
            "or Scan.get_scan_results())"
        )
    return parse_document(_Scan, document, "Soda scan result")


def _metric_names(metrics: list[Any]) -> dict[str, str]:
    names = {}
    for metric in metrics:
        if isinstance(metric, Mapping):
            identity, name = metric.get("identity"), metric.get("metricName")
            if isinstance(identity, str) and isinstance(name, str):
                names[identity] = name
    return names


def _finding(check: _Check, scan: _Scan, metric_names: Mapping[str, str]) -> Finding:
    outcome = str(check.outcome)
    severity, verb = OUTCOMES[outcome]
    if outcome == "pass" and "fail" in check.diagnostics:
        severity = "high"  # what it fires with when it fails again
    source = check.data_source or scan.default_data_source
    table = check.table
    targets = [f"{source}/{table}" if source and table else "", table or ""]
    # Soda names no scan id and times to the second: the measured value tells apart two scans
    # of one definition in the same second.
    moments = (scan.definition_name, scan.scan_start_timestamp, scan.data_timestamp)
    run = stable_id(*(str(p) for p in moments), str(check.diagnostics.get("value")))
    label = check.name or check.identity
    return Finding(
        run_id=run,
        check_id=check.identity,
        targets=targets,
        firing=outcome != "pass",
        severity=_severity(check, severity),
        occurred_at=scan.scan_end_timestamp or scan.scan_start_timestamp or scan.data_timestamp,
        title=f"{label} {verb} on {table or source or 'its dataset'}",
        check_name=check.name,
        description=_reasons(check.outcome_reasons),
        attribute=check.column,
        metric=_metric(check, outcome, metric_names),
        tags=[scan.definition_name] if scan.definition_name else [],
        extra={"soda": {"outcome": outcome}},
    )


def _severity(check: _Check, default: str) -> str:
    """A check attribute `severity` (SodaCL `attributes:`) overrides fail=high, warn=medium."""
    for attribute in check.resource_attributes:
        if isinstance(attribute, Mapping) and attribute.get("name") == "severity":
            value = str(attribute.get("value", "")).lower()
            if value in SEVERITIES:
                return value
    return default


def _reasons(reasons: list[Any]) -> str | None:
    texts = [str(r.get("message")) for r in reasons if isinstance(r, Mapping) and r.get("message")]
    return "; ".join(texts) or None


def _metric(check: _Check, outcome: str, names: Mapping[str, str]) -> dict[str, Any] | None:
    """The measured value and the bound of the threshold it crossed (fail, else warn)."""
    value = number(check.diagnostics.get("value"))
    if value is None:
        return None
    first = next(iter(check.metrics), None)
    name = names.get(first, None) if isinstance(first, str) else None
    bounds = check.diagnostics.get("warn" if outcome == "warn" else "fail")
    if not isinstance(bounds, Mapping):
        bounds = check.diagnostics.get("fail")
    found = [number(v) for v in bounds.values()] if isinstance(bounds, Mapping) else []
    threshold = next((b for b in found if b is not None), None)
    return {"name": name, "value": value, "threshold": threshold}


SOURCE = SodaSource()
