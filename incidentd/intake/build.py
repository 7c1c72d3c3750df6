"""What every tool mapping shares: resolving targets, building and validating alert events.

A mapping reads its tool's document into `Finding`s (one per check result) and hands them to a
`Collector`, which resolves the product, derives the stable `alert_id` and `fingerprint`,
validates the event against schema v1 and files it under `Mapped.alerts` or `Mapped.rejected`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from incidentd.intake.base import IntakeError, Mapped, ProductRef, Products, Rejected, stable_id
from incidentd.schemas.alert import AlertEvent

MAX_FINGERPRINT = 1000
QUALITY_CHECK_FAILED = "quality_check_failed"
_M = TypeVar("_M", bound=BaseModel)


@dataclass(slots=True)
class Finding:
    """One check result of a tool, before it is an alert event.

    `targets` are the names the tool gives the checked thing, most specific first (a dbt
    `unique_id`, then its relation, ...); the first one the catalog resolves is the product,
    else the first one itself. `run_id` identifies the tool's run (dbt's invocation id, GX's
    run id, ...), so the same document always yields the same `alert_id`.
    """

    run_id: str
    check_id: str
    targets: list[str]
    firing: bool
    severity: str
    occurred_at: Any
    title: str
    alert_type: str = QUALITY_CHECK_FAILED
    check_name: str | None = None
    description: str | None = None
    attribute: str | None = None
    metric: dict[str, Any] | None = None
    tags: list[str] = field(default_factory=list)
    check_extra: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    fingerprint_key: str | None = None
    """Identity of the problem when the tool has its own (Alertmanager's fingerprint)."""


class Collector:
    """Turns findings of one document into a `Mapped` for `space`."""

    def __init__(self, source: str, space: str, products: Products) -> None:
        self.source = source
        self.space = space
        self.products = products
        self.mapped = Mapped()
        self._seen: dict[tuple[str, ...], int] = {}

    def resolve(self, targets: Iterable[str]) -> tuple[str, ProductRef | None]:
        """The product id of the first target the catalog knows, else the first target."""
        names = [t for t in targets if t]
        for name in names:
            ref = self.products.resolve(name)
            if ref is not None:
                return ref.product_id, ref
        if not names:
            raise ValueError("the check names no table, dataset or node")
        return names[0], None

    def add(self, item: str, finding: Finding, *, space: str | None = None) -> None:
        """File `finding` as a validated alert event, or as rejected with the reason.

        A check repeated on one target in a document (two `between` checks on a column) is
        told apart by its position: `check#2`, `check#3`, ...
        """
        key = (finding.check_id, *finding.targets)
        self._seen[key] = self._seen.get(key, 0) + 1
        if self._seen[key] > 1:
            finding.check_id = f"{finding.check_id}#{self._seen[key]}"
        try:
            product_id, ref = self.resolve(finding.targets)
            event = AlertEvent.model_validate(self._event(finding, product_id, space or self.space))
            alert = event.model_dump(mode="json", exclude_none=True)
        except (ValueError, TypeError, OverflowError, RecursionError) as exc:
            self.reject(item, describe(exc))
            return
        if ref is None and product_id not in self.mapped.unresolved:
            self.mapped.unresolved.append(product_id)
        self.mapped.alerts.append(alert)

    def parse(self, model: type[_M], raw: object, item: str) -> _M | None:
        """One item of the document read as `model`, or None once it is rejected with why."""
        try:
            return model.model_validate(raw)
        except ValueError as exc:
            self.reject(item, describe(exc))
            return None

    def reject(self, item: str, reason: str) -> None:
        """Record an item that cannot become an alert."""
        self.mapped.rejected.append(Rejected(item=item[:500], reason=reason))

    def _event(self, finding: Finding, product_id: str, space: str) -> dict[str, Any]:
        check = {"id": finding.check_id, "name": finding.check_name, **finding.check_extra}
        status = "firing" if finding.firing else "resolved"
        return {
            **finding.extra,
            "schema_version": 1,
            "alert_id": f"{self.source}-"
            + stable_id(self.source, finding.run_id, finding.check_id, product_id, status),
            "space": space,
            "product_id": product_id,
            "alert_type": finding.alert_type,
            "status": status,
            "severity": finding.severity,
            "occurred_at": finding.occurred_at,
            "fingerprint": fingerprint(
                self.source, product_id, finding.fingerprint_key or finding.check_id
            ),
            "title": finding.title,
            "description": finding.description,
            "check": {k: v for k, v in check.items() if v is not None},
            "attribute": finding.attribute,
            "metric": finding.metric,
            "tags": list(dict.fromkeys([self.source, *finding.tags])),
            "source": self.source,
        }


def fingerprint(source: str, product_id: str, check: str) -> str:
    """`source:product:check`, hashed when it would exceed the schema's 1000 characters."""
    plain = f"{source}:{product_id}:{check}"
    if len(plain) <= MAX_FINGERPRINT:
        return plain
    return f"{source}:{stable_id(product_id, check)}"


def parse_document(model: type[_M], document: object, what: str) -> _M:
    """Validate a whole document (or a part that must be usable) or raise IntakeError."""
    if not isinstance(document, Mapping):
        raise IntakeError(f"{what} must be a JSON object, got {type(document).__name__}")
    try:
        return model.model_validate(dict(document))
    except ValidationError as exc:
        raise IntakeError(f"unusable {what}: {describe(exc)}") from exc


def describe(exc: Exception) -> str:
    """A short human-readable reason from a validation error (its first few problems)."""
    if not isinstance(exc, ValidationError):
        return str(exc)
    parts = []
    for err in exc.errors(include_url=False)[:5]:
        loc = ".".join(str(step) for step in err["loc"]) or "(document)"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def number(value: object) -> float | None:
    """A finite float from a tool's metric value, else None (booleans and text are not)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        result = float(value)
    except OverflowError:
        return None
    return result if math.isfinite(result) else None


def number_text(text: str | None) -> float | None:
    """A number from an annotation (`"0.032"`), else None."""
    try:
        return number(float(text)) if text is not None else None
    except ValueError:
        return None
