"""A polled batch: its records parsed into alerts, lineage events and dead letters, and
processed whole or, when the database refuses something in it, record by record."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

from sqlalchemy.exc import DBAPIError

from incidentd.storage.alerts import NewAlert
from incidentd.worker.parsing import DeadLetter, RecordError, decode_json, parse_alert
from incidentd.worker.pipeline import BatchResult, LineageRecord
from incidentd.worker.source import Partition, Polled, Record


@dataclass(slots=True)
class Parsed:
    """A batch's records, parsed."""

    alerts: list[NewAlert] = field(default_factory=list)
    lineage: list[LineageRecord] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ReadAhead:
    """The next batch, polled early, and its parse running on the parse thread."""

    polled: Polled
    parsed: Future[Parsed]


def parse_batch(polled: Polled, lineage_topic: str) -> Parsed:
    """Parse every record; an unusable one becomes a dead letter with its reason."""
    out = Parsed()
    for tp, records in polled.items():
        is_lineage = tp.topic == lineage_topic
        for rec in records:
            try:
                if is_lineage:
                    out.lineage.append(parse_lineage(rec))
                else:
                    out.alerts.append(parse_alert(rec.value, origin=rec))
            except RecordError as exc:
                out.dead.append(dead_letter(rec, exc.error, exc.error_type))
    return out


def parse_lineage(rec: Record) -> LineageRecord:
    """An OpenLineage event record; raises RecordError."""
    event = decode_json(rec.value)
    if not isinstance(event, dict):
        raise RecordError("invalid_lineage", "an OpenLineage event must be a JSON object")
    return LineageRecord(event, dead_letter(rec, "", "invalid_lineage"))


def dead_letter(rec: Record, error: str, error_type: str) -> DeadLetter:
    """The dead letter of `rec` with this reason."""
    return DeadLetter(rec.topic, rec.partition, rec.offset, rec.key, rec.value, error, error_type)


Process = Callable[[list[NewAlert], list[LineageRecord]], BatchResult]


def isolate(process: Process, alerts: list[NewAlert], lineage: list[LineageRecord]) -> BatchResult:
    """Process record by record so one record the database rejects cannot block a batch."""
    total = BatchResult()
    # An alert's origin is its consumed record; its dead letter is made only if it is refused.
    items: list[tuple[list[NewAlert], list[LineageRecord], Record]] = [
        ([], [rec], rec.origin) for rec in lineage
    ] + [([a], [], a.origin) for a in alerts if a.origin is not None]
    for one_alert, one_lineage, origin in items:
        try:
            part = process(one_alert, one_lineage)
        except DBAPIError as exc:
            if transient(exc):
                raise
            reason = f"rejected by the database: {str(exc.orig or exc)[:300]}"
            total.dead_letters.append(
                DeadLetter(
                    origin.topic,
                    origin.partition,
                    origin.offset,
                    origin.key,
                    origin.value,
                    reason,
                    "storage_rejected",
                )
            )
            continue
        total.stored += part.stored
        total.duplicates += part.duplicates
        total.events += part.events
        total.dead_letters += part.dead_letters
    return total


def transient(exc: DBAPIError) -> bool:
    """Whether waiting can fix it: everything but a record's own data being refused.

    Only data exceptions (SQLSTATE class 22), integrity violations (23) and exceeded limits
    (54, e.g. a key too long to index) come from what a record carries; they are isolated
    and dead-lettered. Anything else (a lost connection,
    a deadlock, a schema older than the code) is retried with backoff, never blamed on data.
    """
    sqlstate = str(getattr(exc.orig, "sqlstate", None) or "")
    return not sqlstate.startswith(("22", "23", "54"))


def next_offsets(polled: Polled) -> dict[Partition, int]:
    """The offsets to commit once `polled` is done: one past each partition's last record."""
    return {tp: records[-1].offset + 1 for tp, records in polled.items() if records}
