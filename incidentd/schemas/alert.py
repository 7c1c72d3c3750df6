"""The inbound alert event, `schema_version` 1 (CONTRACT §2)."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Protocol

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from incidentd.schemas.common import AlertStatus, ProductId, Severity, Slug, UtcDatetime


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


class CheckRef(BaseModel):
    """The upstream check that produced the alert."""

    model_config = ConfigDict(extra="allow", frozen=True)

    id: str | None = None
    name: str | None = None
    policy_id: str | None = None
    policy_name: str | None = None


class Metric(BaseModel):
    """The measured value that broke the check."""

    model_config = ConfigDict(extra="allow", frozen=True)

    name: str | None = None
    value: float | None = None
    threshold: float | None = None


class AlertEvent(BaseModel):
    """A data-quality alert published by an upstream monitor."""

    model_config = ConfigDict(
        extra="allow",
        frozen=True,
        json_schema_extra={
            "examples": [
                {
                    "schema_version": 1,
                    "alert_id": "chk-7781-run-20260227T1400",
                    "space": "finance",
                    "product_id": "orders_clean",
                    "alert_type": "quality_check_failed",
                    "status": "firing",
                    "severity": "critical",
                    "occurred_at": "2026-02-27T14:00:00Z",
                    "fingerprint": "orders_clean/not_null_customer_id",
                    "title": "not_null(customer_id) failed",
                    "tags": ["prod", "T1"],
                    "source": "soda",
                }
            ]
        },
    )

    schema_version: Literal[1]
    alert_id: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    space: Slug
    product_id: ProductId
    alert_type: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    status: Annotated[AlertStatus, BeforeValidator(_lower)] = AlertStatus.FIRING
    severity: Annotated[Severity, BeforeValidator(_lower)]
    occurred_at: UtcDatetime
    fingerprint: Annotated[str, StringConstraints(min_length=1, max_length=1000)] | None = None
    title: str | None = None
    description: str | None = None
    check: CheckRef | None = None
    attribute: str | None = None
    segment: str | None = None
    metric: Metric | None = None
    tags: list[str] = Field(default_factory=list)
    source: str | None = None

    def effective_fingerprint(self) -> str:
        """The explicit fingerprint, else space/product/type/check/attribute/segment."""
        return effective_fingerprint(self)


class _CheckFields(Protocol):
    @property
    def id(self) -> str | None: ...


class FingerprintFields(Protocol):
    """What an alert's fingerprint is made of (the strict and the fast parse path both have it)."""

    @property
    def fingerprint(self) -> str | None: ...
    @property
    def space(self) -> str: ...
    @property
    def product_id(self) -> str: ...
    @property
    def alert_type(self) -> str: ...
    @property
    def check(self) -> _CheckFields | None: ...
    @property
    def attribute(self) -> str | None: ...
    @property
    def segment(self) -> str | None: ...


def effective_fingerprint(event: FingerprintFields) -> str:
    """An alert's fingerprint: the explicit one, else space/product/type/check/attribute/segment
    (CONTRACT §2)."""
    if event.fingerprint:
        return event.fingerprint
    check_id = event.check.id if event.check else None
    parts = [
        event.space,
        event.product_id,
        event.alert_type,
        check_id,
        event.attribute,
        event.segment,
    ]
    return "/".join(part or "" for part in parts)


def alert_key(space: str) -> bytes:
    """The Kafka key of an alert event: its space in UTF-8, so a space stays on one partition."""
    return space.encode()
