"""Incidents in the HTTP API: pages, details with alerts and blast radius, timeline, edits."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_serializer

from incidentd.schemas.common import AlertStatus, IncidentStatus, Severity, format_utc
from incidentd.schemas.incident import IncidentResource

ShortText = Annotated[str, StringConstraints(max_length=10_000)]


class IncidentList(BaseModel):
    """A page of incidents."""

    items: list[IncidentResource]
    total: int = Field(description="How many incidents match, over all pages.")


class AlertOut(BaseModel):
    """An alert as stored with an incident."""

    alert_id: str
    product_id: str
    alert_type: str
    status: str
    severity: Severity
    occurred_at: datetime
    fingerprint: str
    title: str | None = None
    added_at: datetime | None = None
    incident_id: str | None = Field(
        default=None,
        description="The incident storing the alert: this one, or where it is now (a recovery "
        "held by another incident it also cleared, an alert moved by a merge).",
    )

    @field_serializer("occurred_at", "added_at")
    def _utc(self, value: datetime | None) -> str | None:
        return None if value is None else format_utc(value)


class BlastRadiusProduct(BaseModel):
    """A product in the blast radius with its distance from the nearest alerted product."""

    product_id: str
    name: str | None = None
    hops: int = Field(description="0 for an alerted product.")
    tier: str | None = None
    owners: list[str] = Field(default_factory=list)
    stewards: list[str] = Field(default_factory=list)
    alerted: bool


class IncidentDetail(IncidentResource):
    """An incident with its alerts and its blast radius."""

    alerts: list[AlertOut]
    blast_radius: list[BlastRadiusProduct]


class TimelineEntry(BaseModel):
    """An alert's arrival in the incident: a failure (`firing`) or a recovery (`resolved`)."""

    alert_id: str
    alert_type: str
    added_at: datetime = Field(description="When incidentd added it (processing time).")
    occurred_at: datetime = Field(description="When it happened (the alert's own time).")
    status: AlertStatus = Field(description="`firing`: a check failed; `resolved`: it passes.")
    severity: Severity
    incident_id: str = Field(
        description="The incident storing it: this one, or where it is now (see AlertOut)."
    )

    @field_serializer("added_at", "occurred_at")
    def _utc(self, value: datetime) -> str:
        return format_utc(value)


class IncidentPatch(BaseModel):
    """Fields people may change; a severity or root set here sticks against correlation.

    A null or unchanged field changes nothing; a PATCH that changes nothing is no change.
    """

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "root_cause": "Upstream ETL pipeline failure in source system",
                    "status": "investigating",
                    "severity": "high",
                }
            ]
        },
    )

    root_cause: ShortText | None = None
    status: IncidentStatus | None = None
    severity: Severity | None = None
    root_product_id: Annotated[str, StringConstraints(min_length=1, max_length=500)] | None = None
    description: ShortText | None = None


class LinkTicket(BaseModel):
    """An issue-tracker ticket to link."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"ticket_id": "DQ-42"}]}
    )

    ticket_id: Annotated[
        str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)
    ]
