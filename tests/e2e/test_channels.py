"""Notification channels end to end: subscriptions over HTTP, alerts correlated into events,
the channel sender, and real local HTTP receivers (webhook, Slack, PagerDuty, Apprise)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from incidentd.worker.retry import RetryPolicy
from tests.support.api import SPACE, ApiWorld
from tests.support.channels import (
    PUBLIC_URL,
    ROUTING_KEY,
    Receiver,
    deliveries,
    make_receiver,
    make_sender,
    subscribe,
)
from tests.support.wait import wait_until


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A local HTTP receiver answering 200."""
    yield from make_receiver()


def _alert(alert_id: str, product: str = "clean", **extra: Any) -> dict[str, Any]:
    return {"alert_id": alert_id, "product_id": product, "occurred_at": "2026-02-27T14:00:00Z"} | (
        extra
    )


def test_webhook_is_signed_so_the_standard_webhooks_verifier_accepts_it(
    api: ApiWorld, receiver: Receiver
) -> None:
    created = subscribe(api, "webhook", receiver.url("/hook?token=s3cr3t"))
    secret = created["secret"]
    assert secret.startswith("whsec_")
    assert created["target"] == "http://127.0.0.1/…"  # the token in the URL is masked

    api.alerts(_alert("w1"))
    incident = api.incident_of("clean")
    sender, metrics = make_sender(api, receiver)
    assert sender.send_due() == 1

    [request] = receiver.received
    event = Webhook(secret).verify(request.body, request.headers)
    assert event["event_type"] == "incident.created"
    assert event["incident_id"] == incident and event["space"] == SPACE
    assert event["alert_ids"] == ["w1"] and event["schema_version"] == 1
    assert request.headers["webhook-id"] == event["event_id"]  # the idempotency key
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "A" * 32).verify(request.body, request.headers)

    [delivery] = deliveries(api)
    assert delivery["status"] == "sent" and delivery["event_id"] == event["event_id"]
    listed = api.client.get(f"/spaces/{SPACE}/subscriptions", headers=api.headers("admin"))
    assert secret not in listed.text and "s3cr3t" not in listed.text
    assert "secret" not in listed.json()["items"][0]
    sample = metrics.registry.get_sample_value
    assert sample("incidentd_deliveries_sent_total", {"channel": "webhook"}) == 1


def test_slack_gets_a_block_kit_message_linking_the_incident_page(
    api: ApiWorld, receiver: Receiver
) -> None:
    subscribe(api, "slack", receiver.url("/services/T000/B000/XXXX"))
    api.alerts(_alert("s1", "mart", severity="critical"))
    incident = api.incident_of("mart")
    sender, _ = make_sender(api, receiver)
    assert sender.send_due() == 1

    [message] = receiver.bodies("/services/T000/B000/XXXX")
    header, section, actions = message["blocks"]
    assert header["type"] == "header" and "New incident" in header["text"]["text"]
    fields = "\n".join(f["text"] for f in section["fields"])
    for expected in ("*Severity*\ncritical", "*Impact*", "*Root*\nmart", "*Blast radius*\n2"):
        assert expected in fields
    button = actions["elements"][0]
    assert button["url"] == f"{PUBLIC_URL}/ui/spaces/{SPACE}/incidents/{incident}"
    assert "critical" in message["text"]


def test_pagerduty_triggers_on_created_and_resolves_on_resolved_by_incident_id(
    api: ApiWorld, receiver: Receiver
) -> None:
    subscribe(api, "pagerduty", ROUTING_KEY)
    api.alerts(_alert("p1"))
    incident = api.incident_of("clean")
    api.alerts(_alert("p2", "mart"))  # alert_added: PagerDuty's alert stands already
    resolved = api.client.post(
        f"/spaces/{SPACE}/incidents/{incident}/resolve", headers=api.headers("editor"), json={}
    )
    assert resolved.status_code == 200, resolved.text
    sender, _ = make_sender(api, receiver)
    assert sender.send_due() == 2

    trigger, resolve = receiver.bodies("/v2/enqueue")
    assert trigger["event_action"] == "trigger" and trigger["routing_key"] == ROUTING_KEY
    assert trigger["dedup_key"] == incident
    assert trigger["payload"]["severity"] == "error"  # high
    assert trigger["payload"]["custom_details"]["blast_radius_size"] == 3
    assert trigger["links"][0]["href"].endswith(f"/incidents/{incident}")
    assert resolve == {"routing_key": ROUTING_KEY, "event_action": "resolve", "dedup_key": incident}
    assert [d["status"] for d in deliveries(api)] == ["sent", "sent", "sent"]  # one skipped
    listed = api.client.get(f"/spaces/{SPACE}/subscriptions", headers=api.headers("admin"))
    assert ROUTING_KEY not in listed.text


def test_an_apprise_url_reaches_its_service(api: ApiWorld, receiver: Receiver) -> None:
    port = receiver.server.port
    subscribe(api, "apprise", f"json://127.0.0.1:{port}/apprise")
    api.alerts(_alert("a1"))
    sender, _ = make_sender(api, receiver)
    assert sender.send_due() == 1

    [notice] = receiver.bodies("/apprise")
    assert notice["title"].startswith("New incident")
    assert "Severity: high" in notice["message"] and "Blast radius: 3 products" in notice["message"]


def test_filters_choose_the_events_a_subscription_gets(api: ApiWorld, receiver: Receiver) -> None:
    subscribe(api, "webhook", receiver.url("/critical"), min_severity="critical")
    subscribe(api, "webhook", receiver.url("/mart"), products=["mart"], event_types=["created"])
    subscribe(api, "webhook", receiver.url("/tagged"), tags=["finance"])
    api.alerts(_alert("f1", "island"))  # high, only island: no filter lets it through
    api.alerts(_alert("f2", "mart", severity="critical"))
    sender, _ = make_sender(api, receiver)
    sender.send_due()

    def types(path: str) -> list[str]:
        return [b["event_type"] for b in receiver.bodies(path)]

    assert types("/critical") == ["incident.created"]
    assert types("/mart") == ["incident.created"]
    assert types("/tagged") == []  # no incident carries the tag


def test_chat_gets_a_burst_of_alerts_as_one_message(api: ApiWorld, receiver: Receiver) -> None:
    subscribe(api, "slack", receiver.url("/chat"))
    webhook = subscribe(api, "webhook", receiver.url("/hook"))
    api.alerts(_alert("c1"))
    for n in range(2, 5):
        api.alerts(_alert(f"c{n}", "mart"))
    sender, _ = make_sender(api, receiver, gather_seconds=1.0)

    wait_until(lambda: (sender.send_due() or True) and len(receiver.bodies("/chat")) >= 2)
    created, burst = receiver.bodies("/chat")
    assert "New incident" in created["blocks"][0]["text"]["text"]
    assert "3 new alerts" in burst["blocks"][0]["text"]["text"]
    assert "c2, c3, c4" in str(burst["blocks"][1])
    # The webhook is no chat: it gets every event, one by one.
    assert len(receiver.bodies("/hook")) == 4
    assert all(Webhook(webhook["secret"]).verify(r.body, r.headers) for r in _hooks(receiver))
    assert {d["status"] for d in deliveries(api)} == {"sent"}


def _hooks(receiver: Receiver) -> list[Any]:
    return [r for r in receiver.received if r.path == "/hook"]


def test_a_refusing_target_fails_at_once_shows_as_failed_and_can_be_redelivered(
    api: ApiWorld, receiver: Receiver
) -> None:
    subscribe(api, "webhook", receiver.url("/gone"))
    api.alerts(_alert("r1"))
    receiver.status = 410
    sender, metrics = make_sender(api, receiver)
    assert sender.send_due() == 0
    assert sender.send_due() == 0  # not tried again
    assert receiver.attempts == 1

    [failed] = deliveries(api, "failed")
    assert failed["attempts"] == 1 and "HTTP 410" in failed["last_error"]
    sample = metrics.registry.get_sample_value
    assert sample("incidentd_deliveries_failed_total", {"channel": "webhook"}) == 1

    receiver.status = 200
    again = api.client.post(
        f"/spaces/{SPACE}/deliveries/{failed['id']}/redeliver", headers=api.headers("admin")
    )
    assert again.status_code == 202, again.text
    assert sender.send_due() == 1
    assert deliveries(api, "failed") == [] and len(receiver.received) == 1


def test_429_waits_as_long_as_retry_after_says(api: ApiWorld, receiver: Receiver) -> None:
    subscribe(api, "webhook", receiver.url("/busy"))
    api.alerts(_alert("t1"))
    receiver.status, receiver.headers = 429, {"Retry-After": "2"}
    sender, metrics = make_sender(api, receiver)  # its own backoff would wait 0.01 s
    assert sender.send_due() == 0
    [waiting] = deliveries(api, "pending")
    assert waiting["attempts"] == 1 and "HTTP 429" in waiting["last_error"]
    assert sender.send_due() == 0 and receiver.attempts == 1  # not due before 2 s

    receiver.status, receiver.headers = 200, {}
    wait_until(lambda: sender.send_due() == 1, timeout=10)
    assert receiver.attempts == 2
    sample = metrics.registry.get_sample_value
    assert sample("incidentd_deliveries_retried_total", {"channel": "webhook"}) == 1


def test_subscriptions_are_for_admins_and_targets_are_checked(api: ApiWorld) -> None:
    path = f"/spaces/{SPACE}/subscriptions"
    body = {"channel": "webhook", "target": "https://hooks.example.com/x"}
    editor = api.client.post(path, json=body, headers=api.headers("editor"))
    assert editor.status_code == 403 and "detail" in editor.json()
    assert api.client.get(path, headers=api.headers("viewer")).status_code == 403
    outsider = api.client.get(path, headers=api.headers("outsider"))
    assert outsider.status_code == 404
    for bad in (
        {"channel": "webhook", "target": "ftp://example.com/x"},
        {"channel": "pagerduty", "target": "short"},
        {"channel": "email", "target": "a@example.com\nBcc: b@example.com"},
        {"channel": "apprise", "target": "nosuchservice://x"},
        {"channel": "teams", "target": "https://example.com"},
        {"channel": "slack", "target": "https://x", "filter": {"min_severity": "huge"}},
    ):
        response = api.client.post(path, json=bad, headers=api.headers("admin"))
        assert response.status_code == 422, (bad, response.text)
        assert "detail" in response.json()
    missing = api.client.delete(f"{path}/not-an-id", headers=api.headers("admin"))
    assert missing.status_code == 404


def test_two_senders_keep_each_incidents_order_per_target(
    api: ApiWorld, receiver: Receiver
) -> None:
    subscribe(api, "webhook", receiver.url("/hook"))
    api.alerts(_alert("o0"), _alert("i0", "island"))
    for n in range(1, 6):
        api.alerts(_alert(f"o{n}", "mart"), _alert(f"i{n}", "island"))
    senders = [make_sender(api, receiver)[0] for _ in range(2)]

    def drain(sender: Any) -> None:
        wait_until(lambda: sender.send_due() == 0 and len(receiver.received) >= 12, timeout=30)

    threads = [threading.Thread(target=drain, args=(s,)) for s in senders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    events = receiver.bodies("/hook")
    assert len(events) == 12 and len({e["event_id"] for e in events}) == 12
    for incident in {e["incident_id"] for e in events}:
        mine = [e for e in events if e["incident_id"] == incident]
        assert [e["incident"]["version"] for e in mine] == sorted(
            e["incident"]["version"] for e in mine
        )
        assert mine[0]["event_type"] == "incident.created"


def test_a_dead_target_costs_one_attempt_per_backoff_step_not_one_per_incident(
    api: ApiWorld, receiver: Receiver
) -> None:
    subscribe(api, "webhook", receiver.url("/one"))
    subscribe(api, "webhook", receiver.url("/other"))
    api.alerts(_alert("d1"), _alert("d2", "island"))  # two incidents, both targets down
    receiver.status = 503
    sender, _ = make_sender(api, receiver, retry=RetryPolicy(30.0, 60.0))
    assert sender.send_due() == 0
    assert receiver.attempts == 2  # one per target: the second incident waits with the first
    pending = deliveries(api, "pending")
    assert len(pending) == 4 and sum(d["attempts"] for d in pending) == 2
    assert all(d["next_attempt_at"] for d in pending)  # all held back, tried or not


def test_redelivering_what_the_space_does_not_have_is_a_404(api: ApiWorld) -> None:
    for delivery in ("1", str(2**63 - 1)):
        response = api.client.post(
            f"/spaces/{SPACE}/deliveries/{delivery}/redeliver", headers=api.headers("admin")
        )
        assert response.status_code == 404, response.text
    huge = api.client.post(
        f"/spaces/{SPACE}/deliveries/{2**64}/redeliver", headers=api.headers("admin")
    )
    assert huge.status_code == 422 and "detail" in huge.json()


def test_a_space_hears_only_about_its_own_incidents(api: ApiWorld, receiver: Receiver) -> None:
    response = api.client.post(
        "/spaces/other/subscriptions",
        json={"channel": "webhook", "target": receiver.url("/other")},
        headers=api.headers("outsider"),
    )
    assert response.status_code == 201, response.text
    subscribe(api, "webhook", receiver.url("/finance"))
    api.alerts(_alert("x1"))
    sender, _ = make_sender(api, receiver)
    assert sender.send_due() == 1
    assert [r.path for r in receiver.received] == ["/finance"]
    # Neither space sees the other's subscriptions or deliveries.
    theirs = api.client.get("/spaces/other/deliveries", headers=api.headers("outsider"))
    assert theirs.json() == {"items": [], "total": 0}
    mine = api.client.get(f"/spaces/{SPACE}/subscriptions", headers=api.headers("admin"))
    assert [s["target"] for s in mine.json()["items"]] == ["http://127.0.0.1/…"]
