"""Bodies of the asset-incident API under `/api/backend/{tenant}` (Telmai's incidents API).

Names, shapes and enumerations are that document's, not incidentd's: integer ids (the
incident's per-space number), `OPEN | CLOSED`, three priorities, times with milliseconds.
How incidentd's incidents map onto them is in the README's mapping table.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, StringConstraints

from incidentd.schemas.common import HistoryState, IncidentStatus, Severity, UtcDatetime


class Priority(StrEnum):
    """The document's severities: three levels."""

    HIGH = "HIGH"
    MEDIUM = "MEDIUM"
    LOW = "LOW"


PRIORITY_OF: dict[Severity, Priority] = {
    Severity.CRITICAL: Priority.HIGH,
    Severity.HIGH: Priority.HIGH,
    Severity.MEDIUM: Priority.MEDIUM,
    Severity.LOW: Priority.LOW,
    Severity.INFO: Priority.LOW,
}


def severities_of(priority: Priority) -> tuple[Severity, ...]:
    """Every incidentd severity shown as `priority` (a filter on it means exactly these)."""
    return tuple(s for s, p in PRIORITY_OF.items() if p is priority)


class AssetStatus(StrEnum):
    """The document's two statuses."""

    OPEN = "OPEN"
    CLOSED = "CLOSED"


def asset_status(status: IncidentStatus) -> AssetStatus:
    """`open` and `investigating` are OPEN, `resolved` is CLOSED."""
    return AssetStatus.CLOSED if status is IncidentStatus.RESOLVED else AssetStatus.OPEN


class AssetHistoryState(StrEnum):
    """The document's history states (a merge closes the incident: RESOLVED)."""

    NEW = "NEW"
    ONGOING = "ONGOING"
    RESOLVED = "RESOLVED"
    REOPENED = "REOPENED"


HISTORY_STATE_OF: dict[str, AssetHistoryState] = {
    HistoryState.NEW: AssetHistoryState.NEW,
    HistoryState.ONGOING: AssetHistoryState.ONGOING,
    HistoryState.RESOLVED: AssetHistoryState.RESOLVED,
    HistoryState.REOPENED: AssetHistoryState.REOPENED,
    HistoryState.MERGED: AssetHistoryState.RESOLVED,
}


def format_millis(value: datetime) -> str:
    """`2025-06-30T14:12:51.871Z`: UTC with milliseconds, as the document writes times."""
    utc = value.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def truncate_millis(value: datetime) -> datetime:
    """`value` without its sub-millisecond part (times are shown and matched to the ms)."""
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


MillisTime = Annotated[datetime, PlainSerializer(format_millis, return_type=str, when_used="json")]
"""A time shown as the document shows times: UTC with milliseconds."""


_INCIDENT_EXAMPLE: dict[str, Any] = {
    "id": 42,
    "project_id": 0,
    "asset_id": "orders_clean",
    "last_upload_timestamp": "2026-02-27T14:10:00.000Z",
    "created_time": "2026-02-27T14:00:02.310Z",
    "severity": "HIGH",
    "impact": "HIGH",
    "status": "OPEN",
    "ticket_id": 2411,
    "alert_policy_id": "4",
    "alert_policy_name": "prod checks",
    "description": "Orders (clean): quality failures across 3 products",
    "tags": ["T1", "prod"],
}


class AssetIncident(BaseModel):
    """An incident as the list shows it."""

    model_config = ConfigDict(json_schema_extra={"examples": [_INCIDENT_EXAMPLE]})

    id: int = Field(description="The incident's per-space number.")
    project_id: int = Field(description="The root product's project (0 when it has none).")
    asset_id: str | None = Field(description="The root product.")
    last_upload_timestamp: MillisTime | None = Field(description="The latest alert's time.")
    created_time: MillisTime = Field(description="When the problem started: the first alert.")
    severity: Priority
    impact: Priority
    status: AssetStatus
    ticket_id: int | str | None = Field(
        description="The linked ticket: an integer when it is one, else the text as linked."
    )
    alert_policy_id: str | None = Field(description="`check.policy_id` of the root's first alert.")
    alert_policy_name: str | None = Field(description="Its `check.policy_name`.")
    description: str
    tags: list[str]


class AssetMetric(BaseModel):
    """A metric the incident's alerts measured."""

    metric_name: str = Field(description="`metric.name` of the alert, else its `alert_type`.")
    metric_aggregation: str | None = Field(description="`metric.aggregation`, when given.")
    display_metric_name: str = Field(description="`check.name`, else the metric's name.")
    segment: str | None
    rule: str | None = Field(description="Always null: incidentd has no virtual attributes.")
    attribute: str | None


class AlertRef(BaseModel):
    """One alert of a history step: the time it measured and the problem it reports."""

    metric_time: MillisTime = Field(description="The alert's `occurred_at`.")
    violation_name: str = Field(description="The alert's fingerprint.")


class AssetHistoryStep(BaseModel):
    """A change of the incident's state with the alerts it concerns."""

    timestamp: MillisTime
    state: AssetHistoryState
    alert_refs: list[AlertRef]


class AssetIncidentDetail(AssetIncident):
    """An incident with its metrics and history."""

    metrics: list[AssetMetric]
    history: list[AssetHistoryStep]


COUNT_KEYS = (Priority.LOW.value, Priority.MEDIUM.value, Priority.HIGH.value, "")
"""The keys of a day's `counts`, every one always present ('': no severity)."""


class AssetDay(BaseModel):
    """Incidents of one UTC day by priority and by impact."""

    date: str = Field(description="YYYY-MM-DD (UTC).")
    counts: dict[str, int] = Field(
        description="By severity: LOW, MEDIUM, HIGH and '' (none: always 0 here)."
    )
    counts_by_impact: dict[str, int] = Field(description="LOW, MEDIUM, HIGH.")


class AssetDistribution(BaseModel):
    """Incidents per day over the window, every day listed."""

    incidents: list[AssetDay]


class AssetSummary(BaseModel):
    """Totals over the window and the mean time to resolve in whole hours."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "total": 25,
                    "open": 6,
                    "closed": 19,
                    "mean_time_to_resolve": 122,
                    "previous_mean_time_to_resolve": 117,
                    "open_by_tag": {"T1": 3, "prod": 12},
                    "closed_by_tag": {"T1": 12, "prod": 67},
                }
            ]
        }
    )

    total: int
    open: int
    closed: int
    mean_time_to_resolve: int | None = Field(
        description="Hours, rounded; null when no incident was resolved in the window."
    )
    previous_mean_time_to_resolve: int | None = Field(
        description="The same over the window of equal length just before."
    )
    open_by_tag: dict[str, int]
    closed_by_tag: dict[str, int]


_Text = Annotated[str, StringConstraints(min_length=1, max_length=500)]


class AlertsByFilters(BaseModel):
    """Which alerts to return: each list narrows the result; an empty or absent one does not."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "sources": ["orders_clean"],
                    "upload_dates": ["2026-02-27T14:00:00.000Z", "2026-02-27T14:05:00.000Z"],
                    "violation_names": [
                        "finance/orders_clean/quality_check_failed/chk-1//",
                        "orders_clean/not_null_customer_id",
                    ],
                }
            ]
        },
    )

    sources: list[_Text] = Field(
        default_factory=list,
        max_length=1000,
        description="Products: an alert on one, or in an incident whose asset_id is one.",
    )
    upload_dates: list[UtcDatetime] = Field(
        default_factory=list,
        max_length=1000,
        description="The alerts' `metric_time` (matched to the millisecond).",
    )
    violation_names: list[_Text] = Field(
        default_factory=list, max_length=1000, description="The alerts' fingerprints."
    )


class AssetAlert(BaseModel):
    """One alert: one upload (a check's run) and the violation it reports."""

    type: str = Field(description="The alert's `alert_type`, upper-cased.")
    source: str = Field(description="The alert's product.")
    attribute: str | None
    job_id: str = Field(description="The alert's `alert_id`.")
    create_time: MillisTime = Field(description="When the check ran (`occurred_at`).")
    save_time: MillisTime = Field(description="When incidentd stored it.")
    violation_data: dict[str, Any] = Field(description="The alert's `metric` object.")
    violation_name: str = Field(description="The alert's fingerprint.")
    notification_channels: list[str]
    is_notification_enabled: bool
    metric_time: MillisTime
    is_notified: bool = Field(description="Whether its incident's downstream was notified.")
    metric_value: float | None
    policy_name: str | None
    segment: str | None
    priority: Priority
    description: dict[str, list[str]] = Field(description="`{priority: [description]}`.")
    source_name: str = Field(description="The product's name, else its id.")
    source_type: str = Field(description="The product's first connection type, else ''.")
    project_name: str = Field(description="The product's project id, as text.")
    tags: list[str]
