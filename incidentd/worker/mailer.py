"""The mailer: sends the e-mails notify-downstream queued in the outbox (`channel = 'email'`).

Each e-mail is claimed in a transaction of its own with `FOR UPDATE SKIP LOCKED`, sent over
SMTP, and marked sent in that same transaction, so several workers share the queue without
sending one e-mail twice at the same time. A crash after the mail server took an e-mail but
before the commit sends it again (at least once; the Message-ID stays the same). A failed
attempt is counted, its error kept, and retried after an exponential backoff (capped); after
`MAX_ATTEMPTS` the row is left unsent with its last error.
"""

from __future__ import annotations

import smtplib
import threading
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate

import orjson
import structlog
from sqlalchemy import Connection, Engine

from incidentd.storage import outbox
from incidentd.storage.notifications import EMAIL_CHANNEL
from incidentd.worker.metrics import WorkerMetrics
from incidentd.worker.retry import RetryPolicy

log = structlog.get_logger(__name__)

DEFAULT_RETRY_BASE_SECONDS = 30.0
RETRY_MAX_SECONDS = 600.0
MAX_ATTEMPTS = 10
SMTP_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class QueuedEmail:
    """An e-mail outbox row claimed for sending."""

    id: int
    to: str
    subject: str
    body: str
    attempts: int
    incident_id: str | None

    @classmethod
    def of(cls, row: outbox.Queued) -> QueuedEmail:
        """The e-mail an outbox row carries (`{"to", "subject", "body"}`)."""
        try:
            payload = orjson.loads(row.payload)
        except orjson.JSONDecodeError:
            payload = {}
        if not isinstance(payload, dict):
            payload = {}
        return cls(
            id=row.id,
            to=str(payload.get("to") or row.topic),
            subject=str(payload.get("subject") or ""),
            body=str(payload.get("body") or ""),
            attempts=row.attempts,
            incident_id=row.incident_id,
        )


class Mailer:
    """Background thread sending due e-mail outbox rows over SMTP."""

    def __init__(
        self,
        engine: Engine,
        metrics: WorkerMetrics,
        *,
        host: str,
        port: int,
        sender: str,
        retry_base: float = DEFAULT_RETRY_BASE_SECONDS,
        retry_max: float = RETRY_MAX_SECONDS,
        max_attempts: int = MAX_ATTEMPTS,
        interval: float = 1.0,
        jitter: float = 0.2,
        timeout: float = SMTP_TIMEOUT_SECONDS,
    ) -> None:
        self._engine = engine
        self._metrics = metrics
        self._host = host
        self._port = port
        self._sender = sender
        self._retry = RetryPolicy(retry_base, retry_max, jitter=jitter, give_up_after=max_attempts)
        self._database_retry = RetryPolicy(interval, 30.0, jitter=jitter)
        self._interval = interval
        self._timeout = timeout
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mailer", daemon=True)

    def start(self) -> None:
        """Start sending."""
        log.info("mailer.started", host=self._host, port=self._port, sender=self._sender)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the e-mail in hand, then stop."""
        self._stop.set()
        if self._thread.ident is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        backoff = self._database_retry.backoff()
        while not self._stop.is_set():
            try:
                self.send_due()
                backoff.reset()
                delay = self._interval
            except Exception as exc:  # the database is away: wait and try again
                delay = backoff.next()
                log.warning("mailer.retry", error=str(exc)[:300], delay=delay)
            self._stop.wait(delay)

    def send_due(self) -> int:
        """Send every e-mail that is due now (one transaction each); returns how many went."""
        sent = 0
        client: smtplib.SMTP | None = None
        try:
            while not self._stop.is_set():
                with self._engine.begin() as conn:
                    rows = outbox.claim_due(
                        conn,
                        EMAIL_CHANNEL,
                        limit=1,
                        max_attempts=self._retry.give_up_after,
                        lock=True,
                    )
                    if not rows:
                        break
                    email = QueuedEmail.of(rows[0])
                    try:
                        message = self._compose(email)
                        if client is None:
                            client = smtplib.SMTP(self._host, self._port, timeout=self._timeout)
                        client.send_message(message)
                    except (smtplib.SMTPException, OSError, ValueError) as exc:
                        _close(client)
                        client = None
                        self._failed(conn, email, exc)
                        continue
                    outbox.mark_sent(conn, [email.id])
                self._metrics.emails_sent.inc()
                sent += 1
                log.info("email.sent", outbox_id=email.id, incident_id=email.incident_id)
        finally:
            _close(client)
        return sent

    def _failed(self, conn: Connection, email: QueuedEmail, exc: Exception) -> None:
        attempts = email.attempts + 1
        retry_in = self._retry.after_failure(attempts)
        error = f"{type(exc).__name__}: {exc}"
        outbox.mark_failed(conn, email.id, error, retry_in)
        self._metrics.email_failures.inc()
        event = "email.failed" if retry_in is not None else "email.given_up"
        log.warning(
            event,
            outbox_id=email.id,
            incident_id=email.incident_id,
            attempts=attempts,
            retry_in=retry_in,
            error=error[:300],
        )

    def _compose(self, email: QueuedEmail) -> EmailMessage:
        """The message; ValueError for an address or subject that cannot be a header."""
        message = EmailMessage()
        message["From"] = self._sender
        message["To"] = email.to
        message["Subject"] = email.subject
        message["Date"] = formatdate(usegmt=True)
        domain = self._sender.rpartition("@")[2] or "localhost"
        message["Message-ID"] = f"<incidentd.{email.incident_id or 'none'}.{email.id}@{domain}>"
        message.set_content(email.body)
        return message


def _close(client: smtplib.SMTP | None) -> None:
    if client is None:
        return
    try:
        client.quit()
    except (smtplib.SMTPException, OSError):
        client.close()
