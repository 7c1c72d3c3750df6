"""Subscriptions and deliveries (CONTRACT §9): bodies of `/spaces/{slug}/subscriptions` and
`/spaces/{slug}/deliveries`."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_serializer

from incidentd.schemas.common import format_utc
from incidentd.schemas.subscription import ChannelName, SubscriptionFilter

DeliveryStatus = Literal["pending", "sent", "failed"]


class SubscriptionIn(BaseModel):
    """A new subscription."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "channel": "webhook",
                    "target": "https://hooks.example.com/incidentd",
                    "filter": {"event_types": ["created", "resolved"], "min_severity": "high"},
                }
            ]
        },
    )

    channel: ChannelName
    target: str = Field(
        min_length=1,
        max_length=2000,
        description="URL (webhook, slack, apprise), routing key (pagerduty) or address (email).",
    )
    filter: SubscriptionFilter = Field(default_factory=SubscriptionFilter)


class SubscriptionOut(BaseModel):
    """A subscription as reads show it: the target masked, the secret never."""

    id: str
    space: str
    channel: str
    target: str = Field(description="Masked: without the tokens a URL or key carries.")
    filter: SubscriptionFilter
    created_by: str | None
    created_at: datetime

    @field_serializer("created_at")
    def _utc(self, value: datetime) -> str:
        return format_utc(value)


class SubscriptionCreated(SubscriptionOut):
    """The new subscription; a webhook's signing secret is shown here once, never again."""

    secret: str | None = Field(
        default=None, description="Standard Webhooks secret (`whsec_…`), webhooks only."
    )


class SubscriptionList(BaseModel):
    """The space's subscriptions."""

    items: list[SubscriptionOut]


class DeliveryOut(BaseModel):
    """One event queued for one subscription, and how sending it went."""

    id: int
    subscription_id: str
    channel: str
    event_id: str | None
    event_type: str | None
    incident_id: str | None
    status: DeliveryStatus
    attempts: int
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None
    failed_at: datetime | None
    next_attempt_at: datetime | None

    @field_serializer("created_at", "sent_at", "failed_at", "next_attempt_at")
    def _utc(self, value: datetime | None) -> str | None:
        return None if value is None else format_utc(value)


class DeliveryList(BaseModel):
    """A page of deliveries, newest first."""

    items: list[DeliveryOut]
    total: int
