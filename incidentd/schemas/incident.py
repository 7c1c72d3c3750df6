"""The incident resource (CONTRACT §4) and the outbound incident event (§3)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_serializer

from incidentd.schemas.common import (
    EventType,
    Impact,
    IncidentStatus,
    Severity,
    format_utc,
)


class IncidentResource(BaseModel):
    """An incident as the API returns it and events carry it."""

    model_config = ConfigDict(frozen=True)

    id: str
    number: int | None = Field(
        default=None,
        description="Per space: 1, 2, 3… in creation order; accepted wherever an id is.",
    )
    space: str
    title: str
    description: str | None = None
    status: IncidentStatus
    severity: Severity
    impact: Impact
    alert_count: int
    root_cause: str | None = None
    root_product_id: str | None = None
    blast_radius_snapshot: list[str] = Field(description="Product ids, sorted.")
    products: list[str] = Field(description="Ids of products with alerts in the incident.")
    suspected_upstream: list[str] = Field(description="Product ids, most likely first.")
    tags: list[str] = Field(default_factory=list)
    ticket_id: str | None = None
    merged_into: str | None = None
    version: int
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None = None
    first_alert_at: datetime | None = None
    last_alert_at: datetime | None = None

    @field_serializer("created_at", "updated_at", "resolved_at", "first_alert_at", "last_alert_at")
    def _utc(self, value: datetime | None) -> str | None:
        return None if value is None else format_utc(value)


class IncidentEvent(BaseModel):
    """An event on the incidents topic, keyed by incident id."""

    model_config = ConfigDict(frozen=True)

    schema_version: Literal[1] = 1
    event_id: str
    event_type: EventType
    occurred_at: datetime
    space: str
    incident_id: str
    alert_ids: list[str] = Field(default_factory=list)
    incident: IncidentResource

    @field_serializer("occurred_at")
    def _utc(self, value: datetime) -> str:
        return format_utc(value)
