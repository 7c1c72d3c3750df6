"""Slack incoming webhooks: one Block Kit message per delivery.

The message shows the title, severity, impact, root, blast radius size and a button to the
incident page (only with `INCIDENTD_PUBLIC_URL` set: Slack wants an absolute URL); `text` is
the notification fallback.
"""

from __future__ import annotations

from typing import Any

import httpx

from incidentd.channels.base import (
    Channel,
    ChannelConfig,
    Delivery,
    DeliveryResult,
    check_http_url,
    post_json,
)
from incidentd.channels.text import Summary, summarize


def escape(value: str) -> str:
    """Text safe in Slack mrkdwn: `&`, `<` and `>` as Slack's entities (no forged links)."""
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def blocks(summary: Summary) -> list[dict[str, Any]]:
    """The Block Kit blocks of a message."""
    fields = [
        ("Severity", summary.severity),
        ("Impact", summary.impact),
        ("Root", summary.root),
        ("Blast radius", f"{summary.blast_radius} products"),
        ("Status", summary.status),
        ("Alerts", summary.alerts),
    ]
    fields = [(k, escape(v)) for k, v in fields]
    out: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": summary.headline[:150]}},
        {
            "type": "section",
            "fields": [{"type": "mrkdwn", "text": f"*{k}*\n{v}"[:2000]} for k, v in fields],
        },
    ]
    if summary.link.startswith(("http://", "https://")):  # Slack refuses a relative button URL
        button = {
            "type": "button",
            "text": {"type": "plain_text", "text": "Open incident"},
            "url": summary.link,
        }
        out.append({"type": "actions", "elements": [button]})
    return out


class SlackChannel(Channel):
    """Posts to a Slack incoming webhook URL."""

    name = "slack"

    def __init__(self, client: httpx.Client, public_url: str | None) -> None:
        self._client = client
        self._public_url = public_url

    @classmethod
    def build(cls, config: ChannelConfig, http: httpx.Client) -> SlackChannel:
        """Posts with the shared HTTP client."""
        return cls(http, config.public_url)

    def send(self, delivery: Delivery) -> DeliveryResult:
        """Post the message."""
        summary = summarize(delivery, self._public_url)
        body = {"text": f"{summary.headline} ({summary.severity})", "blocks": blocks(summary)}
        return post_json(self._client, delivery.target, body)

    @classmethod
    def check_target(cls, target: str) -> str | None:
        """An http(s) URL (Slack's are https://hooks.slack.com/services/…)."""
        return check_http_url(target)
