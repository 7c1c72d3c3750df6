"""Webhooks signed per the Standard Webhooks specification; the body is the incident event.

Headers `webhook-id` (the event id: the receiver's idempotency key), `webhook-timestamp` and
`webhook-signature` (`v1,<base64 HMAC-SHA256>` with the subscription's `whsec_` secret),
computed by the `standardwebhooks` package, so any of its verifiers accepts them.
"""

from __future__ import annotations

import base64
import secrets
from datetime import UTC, datetime

import httpx
import orjson
from standardwebhooks.webhooks import Webhook

from incidentd.channels.base import Channel, ChannelConfig, Delivery, DeliveryResult, check_http_url


def new_secret() -> str:
    """A fresh signing secret in the specification's format (`whsec_` + base64 of 24 bytes)."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


class WebhookChannel(Channel):
    """POSTs the incident event to the subscriber's URL, signed."""

    name = "webhook"

    def __init__(self, client: httpx.Client) -> None:
        self._client = client

    @classmethod
    def build(cls, config: ChannelConfig, http: httpx.Client) -> WebhookChannel:
        """Posts with the shared HTTP client."""
        return cls(http)

    def send(self, delivery: Delivery) -> DeliveryResult:
        """Sign and POST the event."""
        if not delivery.secret:
            return DeliveryResult.failed("the subscription has no signing secret")
        body = orjson.dumps(delivery.payload).decode()
        now = datetime.now(UTC)
        signature = Webhook(delivery.secret).sign(delivery.event_id, now, body)
        headers = {
            "content-type": "application/json",
            "webhook-id": delivery.event_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": signature,
        }
        try:
            response = self._client.post(delivery.target, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return DeliveryResult.retry(type(exc).__name__)
        return DeliveryResult.of_response(response)

    @classmethod
    def check_target(cls, target: str) -> str | None:
        """An http(s) URL."""
        return check_http_url(target)
