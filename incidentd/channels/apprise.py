"""Anything else (Teams, Discord, Mattermost, Telegram, ntfy, Opsgenie, …) through Apprise URLs.

Apprise reports only success or failure, not why: every failure is retried under the retry
policy until it gives up.
"""

from __future__ import annotations

import apprise
import httpx

from incidentd.channels.base import Channel, ChannelConfig, Delivery, DeliveryResult
from incidentd.channels.text import summarize


class AppriseChannel(Channel):
    """Notifies one Apprise URL."""

    name = "apprise"

    def __init__(self, public_url: str | None) -> None:
        self._public_url = public_url

    @classmethod
    def build(cls, config: ChannelConfig, http: httpx.Client) -> AppriseChannel:
        """Apprise brings its own clients."""
        return cls(config.public_url)

    def send(self, delivery: Delivery) -> DeliveryResult:
        """Send the summary as the notification's title and body."""
        notifier = apprise.Apprise()
        if not notifier.add(delivery.target):
            return DeliveryResult.failed("Apprise does not understand the target URL")
        summary = summarize(delivery, self._public_url)
        ok = notifier.notify(title=summary.headline, body="\n".join(summary.lines()))
        return DeliveryResult.sent() if ok else DeliveryResult.retry("Apprise could not notify")

    @classmethod
    def check_target(cls, target: str) -> str | None:
        """A URL of a service Apprise supports."""
        if apprise.Apprise.instantiate(target) is None:
            return "not an Apprise URL of a supported service"
        return None

    @classmethod
    def mask(cls, target: str) -> str:
        """Only the scheme: Apprise URLs carry tokens anywhere after it."""
        scheme, sep, _ = target.partition("://")
        return f"{scheme}://…" if sep else "…"
