"""E-mail over SMTP: notify-downstream's messages and e-mail subscriptions.

A delivery queued by notify-downstream carries `{"to", "subject", "body"}`; one for an e-mail
subscription carries the incident event, rendered here. The Message-ID is stable per outbox
row, so a message sent again after a crash is recognisably the same. Every failure is
retried (a bad address too: the retry policy gives up on it).
"""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from email.utils import formatdate, parseaddr

import httpx

from incidentd.channels.base import Channel, ChannelConfig, Delivery, DeliveryResult
from incidentd.channels.text import summarize

SMTP_TIMEOUT_SECONDS = 10.0


class EmailChannel(Channel):
    """Sends each delivery as one e-mail."""

    name = "email"

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        *,
        public_url: str | None = None,
        timeout: float = SMTP_TIMEOUT_SECONDS,
    ) -> None:
        self._host = host
        self._port = port
        self._sender = sender
        self._public_url = public_url
        self._timeout = timeout

    @classmethod
    def build(cls, config: ChannelConfig, http: httpx.Client) -> EmailChannel | None:
        """None without a mail server: e-mails wait in the outbox."""
        if not config.smtp_host:
            return None
        return cls(
            config.smtp_host, config.smtp_port, config.smtp_from, public_url=config.public_url
        )

    def send(self, delivery: Delivery) -> DeliveryResult:
        """Hand the message to the mail server."""
        try:
            message = self.compose(delivery)
            with smtplib.SMTP(self._host, self._port, timeout=self._timeout) as client:
                client.send_message(message)
        except (smtplib.SMTPException, OSError, ValueError) as exc:
            return DeliveryResult.retry(f"{type(exc).__name__}: {exc}")
        return DeliveryResult.sent()

    def compose(self, delivery: Delivery) -> EmailMessage:
        """The message; ValueError for an address or subject that cannot be a header."""
        subject, body = self._words(delivery)
        message = EmailMessage()
        message["From"] = self._sender
        message["To"] = str(delivery.payload.get("to") or delivery.target)
        message["Subject"] = subject
        message["Date"] = formatdate(usegmt=True)
        domain = self._sender.rpartition("@")[2] or "localhost"
        message["Message-ID"] = (
            f"<incidentd.{delivery.incident_id or 'none'}.{delivery.id}@{domain}>"
        )
        message.set_content(body)
        return message

    def _words(self, delivery: Delivery) -> tuple[str, str]:
        if "subject" in delivery.payload:
            return str(delivery.payload["subject"]), str(delivery.payload.get("body") or "")
        summary = summarize(delivery, self._public_url)
        subject = " ".join(f"[{summary.severity}] {summary.headline}".split())[:200]
        return subject, "\n".join([summary.headline, "", *summary.lines()]) + "\n"

    @classmethod
    def check_target(cls, target: str) -> str | None:
        """One plain address."""
        _, address = parseaddr(target)
        ok = address == target.strip() and "@" in address and not any(c.isspace() for c in target)
        return None if ok else "the target must be one e-mail address"

    @classmethod
    def mask(cls, target: str) -> str:
        """Addresses are not secret."""
        return target
