"""Subscriptions (CONTRACT §9): which incident events of a space go to which channel.

A filter is a conjunction: an event passes when its type is listed (or none are), the
incident is at least `min_severity` and `min_impact`, carries one of `tags` (or none are
asked for) and touches one of `products` (alerted, root or in the blast radius).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from incidentd.schemas.common import EventType, Impact, Severity

ChannelName = Literal["webhook", "slack", "pagerduty", "email", "apprise"]
CHANNEL_NAMES: tuple[str, ...] = ("webhook", "slack", "pagerduty", "email", "apprise")
_SEVERITY_RANK = {s: rank for rank, s in enumerate(reversed(list(Severity)))}
_IMPACT_RANK = {Impact.LOW: 0, Impact.MEDIUM: 1, Impact.HIGH: 2}


class SubscriptionFilter(BaseModel):
    """Which events a subscription gets; every part left out lets everything through."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_types: list[EventType] = Field(
        default_factory=list,
        max_length=20,
        description="Event types (`incident.created` or `created`); empty: all.",
    )
    min_severity: Severity | None = None
    min_impact: Impact | None = None
    tags: list[str] = Field(default_factory=list, max_length=100)
    products: list[str] = Field(default_factory=list, max_length=1000)

    @field_validator("event_types", mode="before")
    @classmethod
    def _long_names(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [v if not isinstance(v, str) or "." in v else f"incident.{v}" for v in value]
        return value

    def matches(self, event_type: str, incident: dict[str, Any]) -> bool:
        """Whether an event of `event_type` about `incident` (the §4 resource) passes."""
        if self.event_types and event_type not in self.event_types:
            return False
        if self.min_severity is not None and not _at_least(
            _SEVERITY_RANK, incident.get("severity"), self.min_severity
        ):
            return False
        if self.min_impact is not None and not _at_least(
            _IMPACT_RANK, incident.get("impact"), self.min_impact
        ):
            return False
        if self.tags and not set(self.tags) & set(incident.get("tags") or ()):
            return False
        return not self.products or bool(set(self.products) & _touched(incident))


def _at_least(ranks: dict[Any, int], value: Any, minimum: Any) -> bool:
    try:
        return ranks[type(minimum)(value)] >= ranks[minimum]
    except (KeyError, ValueError):
        return False


def _touched(incident: dict[str, Any]) -> set[str]:
    touched = set(incident.get("products") or ()) | set(incident.get("blast_radius_snapshot") or ())
    if incident.get("root_product_id"):
        touched.add(str(incident["root_product_id"]))
    return touched
