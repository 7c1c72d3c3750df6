"""Alert search: stored alerts with the incident holding them, and the search body."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_serializer,
)

from incidentd.schemas.api.incidents import AlertOut
from incidentd.schemas.common import UtcDatetime, format_utc


class AlertSearchItem(AlertOut):
    """A stored alert with the incident holding it (null: not correlated)."""

    space: str
    incident_id: str | None = None
    tags: list[str] = Field(default_factory=list)
    received_at: datetime
    description: str | None = None
    attribute: str | None = None
    segment: str | None = None
    source: str | None = None
    check: dict[str, Any] | None = None
    metric: dict[str, Any] | None = None

    @field_serializer("received_at")
    def _received_utc(self, value: datetime) -> str:
        return format_utc(value)


class AlertPage(BaseModel):
    """A page of alerts, newest `occurred_at` first."""

    items: list[AlertSearchItem]
    total: int = Field(description="How many alerts match, over all pages.")


_Value = Annotated[str, StringConstraints(min_length=1, max_length=500)]


def _number_as_text(value: Any) -> Any:
    """An incident number may come as a JSON integer (`"incident_id": 42`)."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


_IncidentKey = Annotated[_Value, BeforeValidator(_number_as_text)]


class AlertSearch(BaseModel):
    """Seed 001 "alerts by filters": the filters of `GET /spaces/{slug}/alerts` as a body."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "severities": ["critical", "high"],
                    "statuses": ["firing"],
                    "product_ids": ["orders_clean"],
                    "from_time": "2026-02-27T00:00:00Z",
                    "to_time": "2026-02-28T00:00:00Z",
                    "text_to_search": "customer_id",
                    "limit": 50,
                }
            ]
        },
    )

    severities: list[_Value] = Field(default_factory=list, max_length=100)
    statuses: list[_Value] = Field(
        default_factory=list, max_length=100, description="`firing` and/or `resolved`."
    )
    product_ids: list[_Value] = Field(default_factory=list, max_length=100)
    alert_types: list[_Value] = Field(default_factory=list, max_length=100)
    alert_ids: list[_Value] = Field(
        default_factory=list, max_length=200, description="Exact ids, e.g. a history step's."
    )
    incident_id: _IncidentKey | None = Field(
        default=None, description='Alerts of this incident: its id or number (`42` or `"42"`).'
    )
    from_time: UtcDatetime | None = Field(default=None, description="occurred_at >= from_time.")
    to_time: UtcDatetime | None = Field(default=None, description="occurred_at < to_time.")
    text_to_search: Annotated[str, StringConstraints(max_length=500)] | None = Field(
        default=None, description="Substring of the title, alert id or fingerprint."
    )
    skip: int = Field(default=0, ge=0, le=1_000_000)
    limit: int = Field(default=50, ge=1, le=200)
