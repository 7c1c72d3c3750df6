"""A polled batch: parsed into alerts and dead letters, and isolated record by record when the
database refuses one (its dead letter is made from the consumed record it came from)."""

from __future__ import annotations

from typing import NamedTuple

import orjson
import pytest
from sqlalchemy.exc import DBAPIError

from incidentd.storage.alerts import NewAlert
from incidentd.worker.batch import isolate, parse_batch
from incidentd.worker.pipeline import BatchResult, LineageRecord
from incidentd.worker.source import Partition, Polled
from tests.support.alert_records import VALID


class Consumed(NamedTuple):
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


class RefusedError(Exception):
    sqlstate = "22P02"


def polled(*values: bytes) -> Polled:
    records = [Consumed("dq.alerts", 3, 40 + i, b"finance", v) for i, v in enumerate(values)]
    return {Partition("dq.alerts", 3): list(records)}


def test_each_alert_carries_its_record_and_a_bad_one_is_a_dead_letter() -> None:
    good = orjson.dumps({**VALID, "alert_id": "one"})
    parsed = parse_batch(polled(good, b"{not json"), "dq.lineage")
    assert [a.alert.alert_id for a in parsed.alerts] == ["one"]
    assert parsed.alerts[0].origin == Consumed("dq.alerts", 3, 40, b"finance", good)
    [dead] = parsed.dead
    assert (dead.offset, dead.error_type, dead.value) == (41, "invalid_json", b"{not json")


def test_an_alert_the_database_refuses_is_dead_lettered_with_its_record() -> None:
    values = [orjson.dumps({**VALID, "alert_id": name}) for name in ("a", "bad", "c")]
    parsed = parse_batch(polled(*values), "dq.lineage")

    def process(alerts: list[NewAlert], lineage: list[LineageRecord]) -> BatchResult:
        if alerts[0].alert.alert_id == "bad":
            raise DBAPIError("INSERT", {}, RefusedError("invalid input syntax"))
        return BatchResult(stored=len(alerts))

    result = isolate(process, parsed.alerts, parsed.lineage)
    assert result.stored == 2
    [dead] = result.dead_letters
    assert (dead.topic, dead.partition, dead.offset, dead.key, dead.value) == (
        "dq.alerts",
        3,
        41,
        b"finance",
        values[1],
    )
    assert dead.error_type == "storage_rejected"
    assert "invalid input syntax" in dead.error


def test_a_refusal_that_waiting_can_fix_is_raised_not_dead_lettered() -> None:
    parsed = parse_batch(polled(orjson.dumps(VALID)), "dq.lineage")

    class LostError(Exception):
        sqlstate = "08006"

    def process(alerts: list[NewAlert], lineage: list[LineageRecord]) -> BatchResult:
        raise DBAPIError("INSERT", {}, LostError("connection lost"))

    with pytest.raises(DBAPIError):
        isolate(process, parsed.alerts, parsed.lineage)
