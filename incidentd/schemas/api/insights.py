"""Figures over a space's incidents: the distribution per day and the summary (MTTR)."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field, field_serializer

from incidentd.schemas.common import format_utc


class DayDistribution(BaseModel):
    """Incidents whose problem started on one UTC day; every severity and impact, zeros too."""

    date: date
    total: int
    by_severity: dict[str, int]
    by_impact: dict[str, int]


class IncidentDistribution(BaseModel):
    """Seed 001 `distribution`: every UTC day the window `[from_time, to_time)` touches."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "from_time": "2026-02-27T00:00:00Z",
                    "to_time": "2026-02-28T00:00:00Z",
                    "days": [
                        {
                            "date": "2026-02-27",
                            "total": 3,
                            "by_severity": {
                                "critical": 1,
                                "high": 2,
                                "medium": 0,
                                "low": 0,
                                "info": 0,
                            },
                            "by_impact": {"HIGH": 1, "MEDIUM": 1, "LOW": 1},
                        }
                    ],
                }
            ]
        }
    )

    from_time: datetime
    to_time: datetime
    days: list[DayDistribution]

    @field_serializer("from_time", "to_time")
    def _utc(self, value: datetime) -> str:
        return format_utc(value)


class IncidentSummary(BaseModel):
    """Seed 001 `summary` over the window `[from_time, to_time)` (merged incidents left out)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "total": 25,
                    "open": 6,
                    "closed": 19,
                    "mttr_hours": 12.5,
                    "previous_mttr_hours": 17.0,
                    "open_by_tag": {"T1": 3, "prod": 5},
                    "closed_by_tag": {"T1": 12, "prod": 17},
                    "from_time": "2026-01-28T14:00:00Z",
                    "to_time": "2026-02-27T14:00:00Z",
                }
            ]
        }
    )

    total: int = Field(description="Incidents whose problem (first alert) started in the window.")
    open: int = Field(description="Of those, `open` or `investigating` now.")
    closed: int = Field(description="Of those, `resolved` now.")
    mttr_hours: float | None = Field(
        description="Mean `resolved_at - first_alert_at` in hours (times of the problem) of "
        "incidents resolved in the window, wherever they started; null when none was."
    )
    previous_mttr_hours: float | None = Field(
        description="The same over the window of equal length right before this one."
    )
    open_by_tag: dict[str, int] = Field(description="Open incidents of the window, by tag.")
    closed_by_tag: dict[str, int] = Field(description="Closed ones, by tag.")
    from_time: datetime
    to_time: datetime

    @field_serializer("from_time", "to_time")
    def _utc(self, value: datetime) -> str:
        return format_utc(value)
