"""Intake answers: what a posted document became (alerts queued, items rejected, targets)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class RejectedItem(BaseModel):
    """One item of the document that did not become an alert, and why."""

    item: str = Field(description="Where in the document: `[index]`, an `alert_id` or a path.")
    reason: str


class IntakeReport(BaseModel):
    """What a document became. 202: everything was queued; 422: `rejections` say why some
    items were not, while the others were queued."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "space": "finance",
                    "source": "dbt",
                    "accepted": 4,
                    "rejected": 0,
                    "unresolved": 1,
                    "unresolved_targets": ["model.shop.new_orders"],
                    "rejections": [],
                }
            ]
        }
    )

    detail: str | None = Field(default=None, description="Set when items were rejected.")
    space: str
    source: str = Field(description="`alerts` for alert events v1, else the tool's name.")
    accepted: int = Field(description="Alerts queued for the alerts topic.")
    rejected: int = Field(description="Items that did not become an alert.")
    unresolved: int = Field(description="Targets no product claims (accepted as own node).")
    unresolved_targets: list[str] = Field(default_factory=list)
    rejections: list[RejectedItem] = Field(default_factory=list)
