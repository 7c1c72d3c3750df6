"""An incident's history: the steps of its life with the alerts they concern."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_serializer

from incidentd.schemas.common import HistoryState, format_utc


class HistoryEntryOut(BaseModel):
    """One step of an incident's life (seed 001 `history`), with the alerts it concerns."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "state": "MERGED",
                    "at": "2026-02-27T14:00:02Z",
                    "alert_ids": ["chk-7781-run-20260227T1400"],
                    "actor": None,
                    "detail": {"merged_into": "0b9e6f1c-0d5e-4c6e-9a43-4f4b1e0c8a11"},
                }
            ]
        }
    )

    state: HistoryState
    at: datetime
    alert_ids: list[str] = Field(
        description="Alerts this step concerns (seed 001 `alert_refs`): added, moved or clearing."
    )
    actor: str | None = Field(
        default=None, description="Who made a change through the API; null for correlation."
    )
    detail: dict[str, Any] = Field(
        default_factory=dict,
        description="`merged_into` / `merged_from` for merges, `changed` fields for edits, ...",
    )

    @field_serializer("at")
    def _utc(self, value: datetime) -> str:
        return format_utc(value)
