"""PagerDuty Events API v2: trigger on created/reopened, resolve on resolved (and merged).

`dedup_key` is the incident id, so PagerDuty keeps one alert per incident; the target is the
integration's routing key; the endpoint is `INCIDENTD_PAGERDUTY_EVENTS_URL`. Other event
types are skipped: PagerDuty's alert already stands for the open incident.
"""

from __future__ import annotations

from typing import Any

import httpx

from incidentd.channels.base import (
    Channel,
    ChannelConfig,
    Delivery,
    DeliveryResult,
    occurred,
    post_json,
)
from incidentd.channels.text import summarize

SEVERITY = {
    "critical": "critical",
    "high": "error",
    "medium": "warning",
    "low": "info",
    "info": "info",
}
_ACTIONS = {
    "incident.created": "trigger",
    "incident.reopened": "trigger",
    "incident.resolved": "resolve",
    "incident.merged": "resolve",
}


class PagerDutyChannel(Channel):
    """Sends Events API v2 events for a routing key."""

    name = "pagerduty"

    def __init__(self, client: httpx.Client, url: str, public_url: str | None) -> None:
        self._client = client
        self._url = url
        self._public_url = public_url

    @classmethod
    def build(cls, config: ChannelConfig, http: httpx.Client) -> PagerDutyChannel:
        """Posts to the configured Events API endpoint."""
        return cls(http, config.pagerduty_url, config.public_url)

    def send(self, delivery: Delivery) -> DeliveryResult:
        """Trigger or resolve the incident's PagerDuty alert."""
        action = _ACTIONS.get(delivery.event_type)
        if action is None:
            return DeliveryResult.skipped(f"{delivery.event_type} is not sent to PagerDuty")
        return post_json(self._client, self._url, self.event(delivery, action))

    def event(self, delivery: Delivery, action: str) -> dict[str, Any]:
        """The Events API v2 body."""
        body: dict[str, Any] = {
            "routing_key": delivery.target,
            "event_action": action,
            "dedup_key": str(delivery.payload.get("incident_id")),
        }
        if action != "trigger":
            return body
        summary = summarize(delivery, self._public_url)
        incident = delivery.incident
        body["payload"] = {
            "summary": summary.headline[:1024],
            "source": f"incidentd/{delivery.payload.get('space')}",
            "severity": SEVERITY.get(summary.severity, "warning"),
            "timestamp": occurred(delivery).isoformat(),
            "component": summary.root,
            "group": str(delivery.payload.get("space")),
            "class": "data-quality",
            "custom_details": {
                "impact": summary.impact,
                "blast_radius_size": summary.blast_radius,
                "blast_radius": incident.get("blast_radius_snapshot") or [],
                "products": incident.get("products") or [],
                "alert_count": incident.get("alert_count"),
                "event_id": delivery.event_id,
            },
        }
        if summary.link.startswith(("http://", "https://")):
            body["links"] = [{"href": summary.link, "text": "Incident in incidentd"}]
        return body

    @classmethod
    def check_target(cls, target: str) -> str | None:
        """A routing (integration) key: 20-64 letters and digits."""
        ok = target.isalnum() and 20 <= len(target) <= 64
        return None if ok else "a PagerDuty routing key is 20-64 letters and digits"

    @classmethod
    def mask(cls, target: str) -> str:
        """Only the last four characters."""
        return "…" + target[-4:]
