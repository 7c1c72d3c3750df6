"""Turning raw Kafka records into alerts, lineage events or dead letters."""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson
from pydantic import ValidationError

from incidentd.correlation.model import Alert
from incidentd.schemas.alert import AlertEvent
from incidentd.storage.alerts import NewAlert

MAX_RECORD_BYTES = 1_000_000


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A record that cannot be processed, with why."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    error: str
    error_type: str


class RecordError(Exception):
    """A record is unusable; carries the dead-letter reason."""

    def __init__(self, error_type: str, error: str) -> None:
        super().__init__(error)
        self.error_type = error_type
        self.error = error


def decode_json(value: bytes | None) -> Any:
    """Parse JSON bytes strictly (UTF-8, size-limited, no NUL characters)."""
    if value is None:
        raise RecordError("empty_record", "record has no value")
    if len(value) > MAX_RECORD_BYTES:
        raise RecordError(
            "too_large", f"record is {len(value)} bytes; the limit is {MAX_RECORD_BYTES}"
        )
    if b"\\u0000" in value or b"\x00" in value:
        raise RecordError("invalid_characters", "record contains a NUL character")
    try:
        data = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise RecordError("invalid_json", f"not valid JSON: {exc}") from exc
    if _may_hold_a_huge_number(value):
        _check_numbers(value)
    return data


# PostgreSQL's numeric (behind jsonb) keeps at most 131072 digits before the point and 16383
# after; orjson reads such numbers as floats, so look closer only when the text hints at one:
# an exponent of 4 digits or more, or 1000 digits in a row. The hint is found on the text with
# every digit mapped to 0 and the exponent letters and signs to one each (bytes.translate and
# `in` are single C passes; a regular expression over the record cost ~5x more).
_NUMBER_SHAPE = bytes.maketrans(b"123456789E-", b"000000000e+")
_LONG_DIGITS = b"0" * 1000


def _may_hold_a_huge_number(value: bytes) -> bool:
    shape = value.translate(_NUMBER_SHAPE)
    return b"e0000" in shape or b"e+0000" in shape or (len(value) >= 1000 and _LONG_DIGITS in shape)


_MAX_INTEGER_DIGITS = 131_072
_MAX_FRACTION_DIGITS = 16_383


def _check_numbers(value: bytes) -> None:
    """Reject JSON numbers that PostgreSQL cannot store."""
    stack: list[Any] = [json.loads(value, parse_float=Decimal, parse_int=Decimal)]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, Decimal) and item.is_finite():
            _sign, digits, exponent = item.as_tuple()
            assert isinstance(exponent, int)
            before, after = len(digits) + exponent, -exponent
            if before > _MAX_INTEGER_DIGITS or after > _MAX_FRACTION_DIGITS:
                raise RecordError("invalid_json", "a number has more digits than can be stored")


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False)[:5]:
        where = ".".join(str(p) for p in err["loc"]) or "<root>"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


def parse_alert(value: bytes | None, origin: DeadLetter | None = None) -> NewAlert:
    """Validate an alert event; raises RecordError with a human reason."""
    data = decode_json(value)
    if not isinstance(data, dict):
        raise RecordError("invalid_alert", "an alert event must be a JSON object")
    version = data.get("schema_version")
    if version != 1:
        raise RecordError(
            "unsupported_schema_version", f"schema_version {version!r} is not supported"
        )
    try:
        event = AlertEvent.model_validate(data)
    except ValidationError as exc:
        raise RecordError("invalid_alert", _describe(exc)) from exc
    except (ValueError, TypeError, RecursionError, OverflowError) as exc:
        raise RecordError("invalid_alert", str(exc)) from exc
    alert = Alert(
        alert_id=event.alert_id,
        space=event.space,
        product_id=event.product_id,
        alert_type=event.alert_type,
        status=event.status,
        severity=event.severity,
        occurred_at=event.occurred_at,
        fingerprint=event.effective_fingerprint(),
        title=event.title,
        tags=tuple(event.tags),
    )
    assert value is not None
    return NewAlert(alert, value.decode("utf-8"), origin)
