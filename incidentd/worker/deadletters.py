"""Publishing dead letters: the original bytes with the reason in headers, or without the
bytes when the DLQ cannot hold them, and never twice while a send is still in flight."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import structlog

from incidentd.worker.broker import RecordTooLargeError, broker_errors
from incidentd.worker.parsing import DeadLetter

log = structlog.get_logger(__name__)


@dataclass
class Letter:
    """A dead letter on its way to the DLQ."""

    dead: DeadLetter
    future: Any = None  # the producer's future of the last send
    dropped: bool = False  # sent without the original bytes (the DLQ refused their size)


def deliver(producer: Any, topic: str, letters: list[Letter], attempt_seconds: float) -> None:
    """Send the letters not in flight, then wait for every acknowledgement (or BrokerError).

    After a failed attempt a letter still in flight is waited for again (the producer keeps
    retrying it), not sent twice; one whose send failed for good is sent again.
    """
    with broker_errors():
        _deliver(producer, topic, letters, attempt_seconds)


def _deliver(producer: Any, topic: str, letters: list[Letter], attempt_seconds: float) -> None:
    for letter in letters:
        if letter.future is None or letter.future.failed():
            letter.future = _send_letter(producer, topic, letter)
    producer.flush(timeout=attempt_seconds)
    for letter in letters:
        try:
            with broker_errors():
                letter.future.get(timeout=attempt_seconds)
        except RecordTooLargeError as exc:
            if letter.dropped:
                raise
            _drop_bytes(letter, exc)
            letter.future = _send_letter(producer, topic, letter)
            letter.future.get(timeout=attempt_seconds)


def _send_letter(producer: Any, topic: str, letter: Letter) -> Any:
    d = letter.dead
    if not letter.dropped:
        try:
            with broker_errors():
                return _send(producer, topic, d, d.value)
        except RecordTooLargeError as exc:
            _drop_bytes(letter, exc)  # over the producer's own limit
    return _send(producer, topic, d, None, dropped=len(d.value or b""))


def _send(producer: Any, topic: str, d: DeadLetter, value: bytes | None, dropped: int = 0) -> Any:
    headers = [
        ("error", d.error.encode()),
        ("error_type", d.error_type.encode()),
        ("source_topic", d.topic.encode()),
        ("source_partition", str(d.partition).encode()),
        ("source_offset", str(d.offset).encode()),
    ]
    if dropped:
        headers.append(("value_dropped_bytes", str(dropped).encode()))
    return producer.send(topic, key=d.key, value=value, headers=headers)


def _drop_bytes(letter: Letter, exc: Exception) -> None:
    """Send `letter` without its bytes from now on: the DLQ cannot hold them."""
    # The letter keeps its reason and where the original sits, so nothing disappears silently.
    log.error("dead_letter.too_large", size=len(letter.dead.value or b""), error=str(exc))
    letter.dropped = True
