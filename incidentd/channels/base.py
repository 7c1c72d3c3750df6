"""The channel interface: a class with one method, `send(delivery) -> DeliveryResult`.

A channel turns one delivery (an incident event, or several coalesced ones, for one target)
into one message on the outside system and says how that went: sent, worth retrying (with
the wait the target asked for, if any), failed for good, or skipped (nothing to say there).
It never touches the database; the sender records the result.
"""

from __future__ import annotations

import email.utils
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import httpx

Outcome = Literal["sent", "retry", "failed", "skipped"]
# 408 Request Timeout and 429 Too Many Requests are the client errors worth trying again.
_RETRYABLE_4XX = (408, 429)
# A target may ask for a long pause, not for a delivery never to be tried again.
RETRY_AFTER_MAX_SECONDS = 86_400.0


@dataclass(frozen=True, slots=True)
class ChannelConfig:
    """What channels need from the settings."""

    public_url: str | None = None
    timeout: float = 10.0
    pagerduty_url: str = "https://events.pagerduty.com/v2/enqueue"
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_from: str = "incidentd@localhost"


@dataclass(frozen=True, slots=True)
class Delivery:
    """One message to send: the event(s), the target and, for webhooks, the signing secret.

    `payload` is the incident event (CONTRACT §3), or, for an e-mail queued by
    notify-downstream, `{"to", "subject", "body"}`. `events` counts the events it stands for
    (several `incident.alert_added` coalesced for a chat channel); its `alert_ids` are theirs.
    """

    id: int
    channel: str
    target: str
    event_id: str
    payload: dict[str, Any]
    attempts: int = 0
    secret: str | None = field(default=None, repr=False)
    events: int = 1
    incident_id: str | None = None

    @property
    def event_type(self) -> str:
        """The event's type ('' for a plain e-mail)."""
        return str(self.payload.get("event_type") or "")

    @property
    def incident(self) -> dict[str, Any]:
        """The incident resource the event carries ({} for a plain e-mail)."""
        value = self.payload.get("incident")
        return value if isinstance(value, dict) else {}

    def incident_url(self, public_url: str | None) -> str:
        """The incident's page in the web UI (a path when no public URL is set)."""
        path = f"/ui/spaces/{self.payload.get('space')}/incidents/{self.payload.get('incident_id')}"
        return (public_url or "").rstrip("/") + path


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """How one send went."""

    outcome: Outcome
    detail: str = ""
    retry_after: float | None = None

    @classmethod
    def sent(cls, detail: str = "") -> DeliveryResult:
        """The target took it."""
        return cls("sent", detail)

    @classmethod
    def retry(cls, detail: str, after: float | None = None) -> DeliveryResult:
        """Try again later (after `after` seconds when the target said so)."""
        return cls("retry", detail, after)

    @classmethod
    def failed(cls, detail: str) -> DeliveryResult:
        """Trying again would not help (the target refused the request itself)."""
        return cls("failed", detail)

    @classmethod
    def skipped(cls, detail: str) -> DeliveryResult:
        """Nothing to send for this event on this channel."""
        return cls("skipped", detail)

    @classmethod
    def of_response(cls, response: httpx.Response) -> DeliveryResult:
        """Sent on 2xx; retried on 5xx, 408 and 429 (honouring Retry-After); else failed."""
        code = response.status_code
        if 200 <= code < 300:
            return cls.sent(f"HTTP {code}")
        detail = f"HTTP {code}: {response.text[:200]}"
        if code >= 500 or code in _RETRYABLE_4XX:
            return cls.retry(detail, retry_after(response.headers.get("retry-after")))
        return cls.failed(detail)


def retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds a Retry-After header asks for (delta-seconds or an HTTP date, at most a day);
    None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), RETRY_AFTER_MAX_SECONDS)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    wait = when.timestamp() - (time.time() if now is None else now)
    return min(max(0.0, wait), RETRY_AFTER_MAX_SECONDS)


def post_json(client: httpx.Client, url: str, body: Any, **headers: str) -> DeliveryResult:
    """POST a JSON body; a transport error (refused, timed out) is worth retrying."""
    try:
        response = client.post(url, json=body, headers=headers)
    except httpx.HTTPError as exc:
        return DeliveryResult.retry(type(exc).__name__)
    return DeliveryResult.of_response(response)


class Channel(ABC):
    """Sends deliveries to one kind of outside system."""

    name: str

    @classmethod
    @abstractmethod
    def build(cls, config: ChannelConfig, http: httpx.Client) -> Channel | None:
        """The channel as configured; None when it cannot send here (not configured)."""

    @abstractmethod
    def send(self, delivery: Delivery) -> DeliveryResult:
        """Send one delivery; never raises for the target's failures."""

    @classmethod
    def check_target(cls, target: str) -> str | None:
        """Why `target` cannot be one of this channel's targets; None when it can."""
        return None if target.strip() else "the target is empty"

    @classmethod
    def mask(cls, target: str) -> str:
        """The target as API reads show it (without any token it carries)."""
        return mask_url(target)


def mask_url(target: str) -> str:
    """`scheme://host/…`: hooks carry their token in the path or query."""
    try:
        url = httpx.URL(target)
    except httpx.InvalidURL:
        return "…"
    return f"{url.scheme}://{url.host}/…" if url.host else "…"


def check_http_url(target: str) -> str | None:
    """Why `target` is not an http(s) URL with a host; None when it is."""
    try:
        url = httpx.URL(target)
    except httpx.InvalidURL as exc:
        return f"not a URL: {exc}"
    if url.scheme not in ("http", "https") or not url.host:
        return "the target must be an http(s) URL"
    return None


def occurred(delivery: Delivery) -> datetime:
    """When the event happened (now when it does not say)."""
    raw = delivery.payload.get("occurred_at")
    try:
        return datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        return datetime.now(UTC)
