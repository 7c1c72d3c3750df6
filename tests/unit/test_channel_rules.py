"""Pure rules of notification channels: filters, HTTP answers, Retry-After, masking."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from incidentd.channels.base import Delivery, DeliveryResult, retry_after
from incidentd.channels.email import EmailChannel
from incidentd.channels.registry import check_target, mask
from incidentd.channels.slack import blocks, escape
from incidentd.channels.text import summarize
from incidentd.schemas.subscription import SubscriptionFilter

INCIDENT: dict[str, Any] = {
    "severity": "high",
    "impact": "MEDIUM",
    "tags": ["finance"],
    "products": ["mart"],
    "blast_radius_snapshot": ["mart", "report"],
    "root_product_id": "clean",
}


@pytest.mark.parametrize(
    ("filter_", "passes"),
    [
        ({}, True),
        ({"event_types": ["created"]}, True),
        ({"event_types": ["incident.resolved"]}, False),
        ({"min_severity": "high"}, True),
        ({"min_severity": "critical"}, False),
        ({"min_severity": "info"}, True),
        ({"min_impact": "MEDIUM"}, True),
        ({"min_impact": "HIGH"}, False),
        ({"tags": ["ops", "finance"]}, True),
        ({"tags": ["ops"]}, False),
        ({"products": ["report"]}, True),  # in the blast radius
        ({"products": ["clean"]}, True),  # the root
        ({"products": ["island"]}, False),
        ({"min_severity": "high", "tags": ["ops"]}, False),  # every part must pass
    ],
)
def test_filter(filter_: dict[str, Any], passes: bool) -> None:
    rule = SubscriptionFilter.model_validate(filter_)
    assert rule.matches("incident.created", INCIDENT) is passes


def test_filter_refuses_unknown_parts_and_values() -> None:
    for bad in ({"severity": "high"}, {"min_severity": "huge"}, {"event_types": ["exploded"]}):
        with pytest.raises(ValidationError):
            SubscriptionFilter.model_validate(bad)


def test_an_incident_without_a_known_severity_does_not_pass_a_minimum() -> None:
    rule = SubscriptionFilter.model_validate({"min_severity": "low"})
    assert not rule.matches("incident.created", {"severity": None})


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, "sent"),
        (202, "sent"),
        (400, "failed"),
        (401, "failed"),
        (404, "failed"),
        (410, "failed"),
        (408, "retry"),
        (429, "retry"),
        (500, "retry"),
        (503, "retry"),
    ],
)
def test_http_answers(status: int, outcome: str) -> None:
    assert DeliveryResult.of_response(httpx.Response(status)).outcome == outcome


def test_retry_after_in_seconds_or_as_a_date() -> None:
    answer = httpx.Response(429, headers={"Retry-After": "120"})
    assert DeliveryResult.of_response(answer).retry_after == 120.0
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    later = format_datetime(datetime(2026, 12, 1, 12, 1, 30, tzinfo=UTC), usegmt=True)
    assert retry_after(later, now=now.timestamp()) == 90.0
    assert retry_after("yesterday-ish") is None and retry_after(None) is None


def test_targets_are_checked_and_masked_per_channel() -> None:
    assert check_target("webhook", "https://ops.example.com/h") is None
    assert check_target("webhook", "file:///etc/passwd") is not None
    assert check_target("pagerduty", "R0123456789abcdef0123456789abcde") is None
    assert check_target("email", "ops@example.com") is None
    assert check_target("email", "ops@example.com, evil@example.com") is not None
    assert check_target("apprise", "ntfy://ntfy.sh/topic") is None
    assert mask("slack", "https://hooks.slack.com/services/T0/B0/secret") == (
        "https://hooks.slack.com/…"
    )
    assert mask("pagerduty", "R0123456789abcdef0123456789abcde") == "…bcde"
    assert mask("apprise", "tgram://123:token/chat") == "tgram://…"
    assert mask("email", "ops@example.com") == "ops@example.com"


def test_links_to_the_incident_page_need_the_public_url() -> None:
    event = {
        "event_type": "incident.created",
        "event_id": "e1",
        "space": "finance",
        "incident_id": "i1",
        "alert_ids": ["a1"],
        "incident": INCIDENT | {"title": "Revenue is null", "alert_count": 1},
    }
    delivery = Delivery(id=1, channel="slack", target="https://x", event_id="e1", payload=event)
    with_url = blocks(summarize(delivery, "https://incidentd.example/"))
    assert with_url[-1]["elements"][0]["url"] == (
        "https://incidentd.example/ui/spaces/finance/incidents/i1"
    )
    assert [b["type"] for b in blocks(summarize(delivery, None))] == ["header", "section"]


def test_a_target_cannot_push_a_retry_beyond_a_day() -> None:
    assert retry_after("99999999999999999999") == 86_400.0
    assert retry_after("Fri, 31 Dec 9999 23:59:59 GMT", now=0.0) == 86_400.0


def test_slack_fields_cannot_forge_links() -> None:
    assert escape("<https://evil.example|click> & more") == (
        "&lt;https://evil.example|click&gt; &amp; more"
    )


def test_an_email_subscription_renders_the_incident_event() -> None:
    event = {
        "event_type": "incident.resolved",
        "event_id": "e9",
        "space": "finance",
        "incident_id": "i9",
        "incident": INCIDENT
        | {"title": "Revenue\nis null", "alert_count": 2, "status": "resolved"},
    }
    delivery = Delivery(
        id=7, channel="email", target="ops@example.com", event_id="e9", payload=event
    )
    message = EmailChannel("localhost", 25, "incidentd@example.com", public_url="https://i.example")
    mail = message.compose(delivery)
    assert mail["To"] == "ops@example.com"
    assert mail["Subject"] == "[high] Incident resolved: Revenue is null"  # one header line
    body = mail.get_content()
    assert "Status: resolved" in body and "Blast radius: 2 products" in body
    assert "https://i.example/ui/spaces/finance/incidents/i9" in body
