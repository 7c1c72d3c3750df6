"""Notifications: notify-downstream results and the caller's in-platform notifications."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_serializer

from incidentd.schemas.common import format_utc


class NotifyResult(BaseModel):
    """What notify-downstream did: seed 000's two counts, plus what was new this time."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "notified_users": 8,
                    "affected_products": 5,
                    "newly_notified": ["ana@example.com"],
                    "already_notified": ["bo@example.com"],
                    "new_products": ["clean"],
                }
            ]
        }
    )

    notified_users: int = Field(
        description="Owners and stewards of the blast radius (told now or before)."
    )
    affected_products: int = Field(description="Products in the blast radius.")
    newly_notified: list[str] = Field(
        description="Recipients told by this call (new to the incident, or with new products)."
    )
    already_notified: list[str] = Field(
        description="Recipients already told about all their products: not told again."
    )
    new_products: list[str] = Field(description="Products this call told anyone about.")


class NotificationOut(BaseModel):
    """An in-platform notification of the caller."""

    id: int
    space: str
    incident_id: str | None = None
    products: list[str] = Field(description="The products this notification is about.")
    title: str
    body: str
    link: str | None = Field(default=None, description="Path of the incident in this API.")
    created_at: datetime
    read_at: datetime | None = None
    read: bool

    @field_serializer("created_at", "read_at")
    def _utc(self, value: datetime | None) -> str | None:
        return None if value is None else format_utc(value)


class NotificationList(BaseModel):
    """A page of the caller's notifications, newest first."""

    items: list[NotificationOut]
    total: int = Field(description="How many notifications match, over all pages.")
    unread: int = Field(description="How many of the caller's notifications are unread.")


class ReadAllResult(BaseModel):
    """How many notifications were marked read."""

    marked_read: int
