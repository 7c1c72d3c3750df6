"""Every channel kind by name: adding one is a module plus a line in `KINDS` (and its name in
`incidentd.schemas.subscription.ChannelName`)."""

from __future__ import annotations

import httpx

from incidentd.channels.apprise import AppriseChannel
from incidentd.channels.base import Channel, ChannelConfig
from incidentd.channels.email import EmailChannel
from incidentd.channels.pagerduty import PagerDutyChannel
from incidentd.channels.slack import SlackChannel
from incidentd.channels.webhook import WebhookChannel

KINDS: dict[str, type[Channel]] = {
    "webhook": WebhookChannel,
    "slack": SlackChannel,
    "pagerduty": PagerDutyChannel,
    "email": EmailChannel,
    "apprise": AppriseChannel,
}
# Chat channels get a burst of `incident.alert_added` as one message.
CHAT = ("slack", "apprise")


def build(config: ChannelConfig, http: httpx.Client) -> dict[str, Channel]:
    """The channels this process can send on, by name."""
    built = {name: kind.build(config, http) for name, kind in KINDS.items()}
    return {name: channel for name, channel in built.items() if channel is not None}


def check_target(channel: str, target: str) -> str | None:
    """Why `target` cannot be a target of `channel`; None when it can."""
    return KINDS[channel].check_target(target)


def mask(channel: str, target: str) -> str:
    """The target as API reads show it."""
    kind = KINDS.get(channel)
    return kind.mask(target) if kind is not None else "…"
