"""Notify downstream end to end: API -> e-mail outbox -> a real worker -> a real SMTP server.

The SMTP server is aiosmtpd, in this process; the worker is a real `incidentd worker`
process with its mailer on; the API is the app on the same database.
"""

from __future__ import annotations

import email
import email.policy
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from incidentd.api.app import create_app
from incidentd.app.embedded import free_port
from incidentd.channels.email import EmailChannel
from incidentd.schemas.settings import Settings
from incidentd.storage.db import make_engine
from incidentd.storage.lineage import import_document
from incidentd.storage.spaces import INCIDENTS_FEATURE, upsert_space
from incidentd.storage.users import create_user
from incidentd.worker.metrics import WorkerMetrics
from incidentd.worker.retry import RetryPolicy
from incidentd.worker.sender import ChannelSender
from tests.support.api import LINEAGE, SPACE, ApiWorld
from tests.support.services import TopicSet
from tests.support.wait import wait_until
from tests.support.workers import TopicReader, WorkerProcess, alert, metric, produce, worker_env

SENDER = "incidentd@alerts.example"
# An alert on `clean`: blast radius clean -> mart -> report; island and raw stay out.
RECIPIENTS = ["ana@example.com", "bo@example.com", "cfo@example.com", "st@example.com"]


@dataclass
class Inbox:
    """An aiosmtpd handler keeping every message it accepts."""

    messages: list[tuple[list[str], EmailMessage]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        """Accept and keep the message."""
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self.lock:
            self.messages.append((list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"

    def received(self) -> list[tuple[list[str], EmailMessage]]:
        """What arrived so far."""
        with self.lock:
            return list(self.messages)


class SmtpServer:
    """A real SMTP server on 127.0.0.1:`port` that can be started and stopped."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.inbox = Inbox()
        self._controller: Controller | None = None

    def start(self) -> None:
        """Listen (again)."""
        self._controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        """Stop listening."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


@dataclass
class MailWorld:
    """Database, API, SMTP server and worker of one test."""

    engine: Engine
    client: TestClient
    smtp: SmtpServer
    worker: WorkerProcess
    editor: dict[str, str]
    bootstrap: str
    topics: TopicSet

    def incident(self) -> str:
        """Publish an alert on `clean` and wait for the worker to open its incident."""
        produce(self.bootstrap, self.topics.alerts, [alert("c1", "clean", 0, space=SPACE)])

        def opened() -> str | None:
            with self.engine.connect() as conn:
                found = conn.execute(
                    text("SELECT incident_id FROM alerts WHERE alert_id = 'c1'")
                ).scalar()
            return str(found) if found else None

        found = wait_until(opened, timeout=60, message=lambda: self.worker.log_text()[-3000:])
        assert found is not None
        return found

    def notify(self, incident: str) -> dict[str, Any]:
        """Call notify-downstream as an editor."""
        response = self.client.post(
            f"/spaces/{SPACE}/incidents/{incident}/notify-downstream", headers=self.editor
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def email_rows(self) -> list[Any]:
        """The e-mail outbox rows."""
        with self.engine.connect() as conn:
            return conn.execute(
                text(
                    "SELECT topic, attempts, last_error, sent_at, next_attempt_at FROM outbox "
                    "WHERE channel = 'email' ORDER BY id"
                )
            ).fetchall()

    def state(self) -> str:
        """What to print when a wait times out."""
        return (
            f"rows: {self.email_rows()}\nreceived: {len(self.smtp.inbox.received())}\n"
            f"{self.worker.log_text()[-3000:]}"
        )


@pytest.fixture
def mail_world(
    migrated_db: str, kafka_bootstrap: str, topics: TopicSet, tmp_path: Path
) -> Iterator[MailWorld]:
    """The finance lineage, an editor, an SMTP server (not started) and a running worker."""
    engine = make_engine(migrated_db, pool_size=2)
    with engine.begin() as conn:
        upsert_space(conn, SPACE, features=[INCIDENTS_FEATURE])
        import_document(conn, LINEAGE)
        token = create_user(conn, "editor@example.com", SPACE, "editor")
    smtp = SmtpServer(free_port())
    env = worker_env(
        migrated_db,
        kafka_bootstrap,
        topics,
        INCIDENTD_SMTP_HOST="127.0.0.1",
        INCIDENTD_SMTP_PORT=str(smtp.port),
        INCIDENTD_SMTP_FROM=SENDER,
        INCIDENTD_DELIVERY_RETRY_INITIAL_SECONDS="0.2",
    )
    worker = WorkerProcess(env, tmp_path / "worker.log").start()
    settings = Settings(database_url=migrated_db, incidents_topic=topics.incidents)
    try:
        with TestClient(create_app(settings)) as client:
            yield MailWorld(
                engine,
                client,
                smtp,
                worker,
                {"Authorization": f"Bearer {token}"},
                kafka_bootstrap,
                topics,
            )
    finally:
        worker.kill()
        smtp.stop()
        engine.dispose()


def _check_delivered(world: MailWorld, incident: str) -> None:
    received = world.smtp.inbox.received()
    assert sorted(to for to, _ in received) == [[r] for r in RECIPIENTS]  # one each
    for to, message in received:
        assert message["To"] == to[0]
        assert message["From"] == SENDER
        subject = str(message["Subject"]).strip()  # a folded header may keep its blank
        assert subject.startswith("[high] Incident affecting your data products: ")
        assert message["Message-ID"]
        body = message.get_content()
        assert f"/spaces/{SPACE}/incidents/{incident}" in body
        assert "Blast radius (3): clean, mart, report" in body
    rows = world.email_rows()
    assert sorted(r.topic for r in rows) == RECIPIENTS
    assert all(r.sent_at is not None for r in rows)


def test_notified_owners_and_stewards_get_one_email_each(mail_world: MailWorld) -> None:
    world = mail_world
    world.smtp.start()
    incident = world.incident()
    result = world.notify(incident)
    assert result["notified_users"] == 4 and result["affected_products"] == 3
    assert result["newly_notified"] == RECIPIENTS

    wait_until(
        lambda: all(r.sent_at is not None for r in world.email_rows()),
        timeout=30,
        message=world.state,
    )
    _check_delivered(world, incident)
    assert all(r.attempts == 1 and r.last_error is None for r in world.email_rows())
    wait_until(
        lambda: metric(world.worker.metrics_port, "incidentd_deliveries_sent_total") == 4,
        timeout=10,
        message=world.state,
    )

    # Notifying again sends nothing: no new rows, nothing more arrives.
    assert world.notify(incident)["newly_notified"] == []
    assert len(world.email_rows()) == 4

    # The event went out through the relay to the incidents topic.
    reader = TopicReader(world.bootstrap, world.topics.incidents)
    try:
        wait_until(
            lambda: any(
                e["event_type"] == "incident.downstream_notified"
                for e in (reader.poll() and reader.json())
            ),
            timeout=30,
            message=world.state,
        )
    finally:
        reader.close()
    assert len(world.smtp.inbox.received()) == 4
    assert world.worker.terminate() == 0


def test_mail_server_down_then_up_delivers_later(mail_world: MailWorld) -> None:
    world = mail_world  # the SMTP server is not listening yet
    incident = world.incident()
    world.notify(incident)

    def failed_and_waiting() -> bool:
        rows = world.email_rows()
        return len(rows) == 4 and all(
            r.attempts >= 2 and r.last_error and r.sent_at is None for r in rows
        )

    wait_until(failed_and_waiting, timeout=30, message=world.state)
    assert all("Connection" in r.last_error or "Errno" in r.last_error for r in world.email_rows())
    assert metric(world.worker.metrics_port, "incidentd_deliveries_retried_total") >= 8

    world.smtp.start()
    wait_until(
        lambda: all(r.sent_at is not None for r in world.email_rows()),
        timeout=60,
        message=world.state,
    )
    _check_delivered(world, incident)
    assert world.worker.terminate() == 0


def test_a_bad_address_is_given_up_without_blocking_the_others(api: ApiWorld) -> None:
    """In process: the mailer against the real SMTP server, a header-breaking address."""
    with api.engine.begin() as conn:
        conn.execute(
            text("UPDATE products SET owners = CAST(:o AS text[]) WHERE space = :s AND id = :p"),
            {"o": ["cfo@example.com", "evil\nBcc: x@example.com"], "s": SPACE, "p": "report"},
        )
    api.alerts({"alert_id": "m1", "product_id": "mart", "occurred_at": "2026-02-27T14:00:00Z"})
    incident = api.incident_of("mart")
    response = api.client.post(
        f"/spaces/{SPACE}/incidents/{incident}/notify-downstream", headers=api.headers()
    )
    assert response.json()["notified_users"] == 3, response.text
    smtp = SmtpServer(free_port())
    smtp.start()
    metrics = WorkerMetrics()
    mailer = ChannelSender(
        api.engine,
        metrics,
        {"email": EmailChannel("127.0.0.1", smtp.port, SENDER)},
        retry=RetryPolicy(0.01, 600.0, give_up_after=3),
    )
    try:
        assert mailer.send_due() == 2
        received = sorted(to[0] for to, _ in smtp.inbox.received())
        assert received == ["bo@example.com", "cfo@example.com"]

        def bad_row() -> Any:
            with api.engine.connect() as conn:
                return conn.execute(
                    text(
                        "SELECT attempts, last_error, sent_at, next_attempt_at FROM outbox "
                        "WHERE channel = 'email' AND topic LIKE 'evil%'"
                    )
                ).one()

        wait_until(lambda: mailer.send_due() == 0 and bad_row().attempts == 3, timeout=10)
        row = bad_row()
        assert row.sent_at is None and row.next_attempt_at is None
        assert "ValueError" in row.last_error
        assert mailer.send_due() == 0 and bad_row().attempts == 3  # given up: not tried again
        sample = metrics.registry.get_sample_value
        email = {"channel": "email"}
        assert sample("incidentd_deliveries_retried_total", email) == 2
        assert sample("incidentd_deliveries_failed_total", email) == 1  # given up
        assert sample("incidentd_deliveries_sent_total", email) == 2
        assert len(smtp.inbox.received()) == 2
    finally:
        smtp.stop()
