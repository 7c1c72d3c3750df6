"""Turning raw Kafka records into alerts, lineage events or dead letters.

An alert record takes one of two paths. The strict path (orjson, then `AlertEvent`'s pydantic
validation and the checks around it) defines what is accepted and every dead-letter reason. The
fast path (msgspec, into `_FastEvent`, ~4x cheaper) accepts a record only when the strict path
would accept it and give an equal alert: it declines, and leaves the record to the strict path,
whenever it is unsure (a number too long or with a long exponent, deep nesting, NUL escapes,
more than six digits of seconds' fractions, upper-case severities, 1.0 or true as the version,
times given as numbers, any error of its own). tests/unit/test_parsing_fast_path.py checks the
two paths against each other on valid, near-valid and hostile records.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

import msgspec
import orjson
from pydantic import ValidationError

from incidentd.correlation.model import Alert
from incidentd.schemas.alert import AlertEvent, effective_fingerprint
from incidentd.schemas.common import AlertStatus, Severity, to_utc
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


def parse_alert(value: bytes | None, origin: object = None) -> NewAlert:
    """Validate an alert event; raises RecordError with a human reason.

    `origin` rides along on the NewAlert: where the record came from, for a dead letter."""
    fast = None if value is None else parse_alert_fast(value, origin)
    return fast if fast is not None else parse_alert_strict(value, origin)


def parse_alert_strict(value: bytes | None, origin: object = None) -> NewAlert:
    """The strict path alone: what it accepts is what incidentd accepts, and its RecordError
    is the dead letter's reason."""
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
    assert value is not None
    return NewAlert(_alert(event, event.occurred_at), value.decode("utf-8"), origin)


def _alert(event: AlertEvent | _FastEvent, occurred_at: datetime) -> Alert:
    return Alert(
        alert_id=event.alert_id,
        space=event.space,
        product_id=event.product_id,
        alert_type=event.alert_type,
        status=event.status,
        severity=event.severity,
        occurred_at=occurred_at,
        fingerprint=effective_fingerprint(event),
        title=event.title,
        tags=tuple(event.tags),
    )


# -- the fast path ---------------------------------------------------------------------------
# `AlertEvent` (schemas/alert.py) as msgspec declares it, never looser: unknown fields are
# skipped (the raw payload keeps them), anything pydantic would coerce (1.0, "HIGH", a time as
# a number, "1.5" as a float) fails here and goes to the strict path.

_Text200 = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
# Pydantic's `$` (Rust regex) ends the text; Python's also matches before a final newline.
_FastSlug = Annotated[str, msgspec.Meta(pattern=r"\A[a-z0-9][a-z0-9_-]{0,62}\Z")]


class _FastCheck(msgspec.Struct, gc=False):
    id: str | None = None
    name: str | None = None
    policy_id: str | None = None
    policy_name: str | None = None


class _FastMetric(msgspec.Struct, gc=False):
    name: str | None = None
    value: float | None = None
    threshold: float | None = None


class _FastEvent(msgspec.Struct, gc=False):
    schema_version: Literal[1]
    alert_id: _Text200
    space: _FastSlug
    product_id: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]
    alert_type: _Text200
    severity: Severity
    occurred_at: str  # parsed by _fast_time, which declines what pydantic reads differently
    status: AlertStatus = AlertStatus.FIRING
    fingerprint: Annotated[str, msgspec.Meta(min_length=1, max_length=1000)] | None = None
    title: str | None = None
    description: str | None = None
    check: _FastCheck | None = None
    attribute: str | None = None
    segment: str | None = None
    metric: _FastMetric | None = None
    tags: tuple[str, ...] = ()
    source: str | None = None


_FAST_DECODER = msgspec.json.Decoder(_FastEvent)
# msgspec skips an unknown field's number without reading its value, and its nesting limit is
# the interpreter's recursion limit; orjson refuses infinite floats and nesting past 1024.
# Decline any exponent of 3 digits or more, any run of 200 digits (so every number the fast
# path lets through is finite and storable) and more than 512 opening brackets. In the shape,
# digits are 0, exponent letters \x01 and signs \x02 (bytes valid JSON never holds raw), so
# `rfind` can skip along the text on a rare first byte (twice as fast as `in` here).
_FAST_SHAPE = bytes.maketrans(b"0123456789eE+-", b"0000000000\x01\x01\x02\x02")
_FAST_EXPONENT = b"\x01000"
_FAST_SIGNED_EXPONENT = b"\x01\x02000"
_FAST_DIGITS = b"0" * 200
_FAST_BRACKETS = 512


def parse_alert_fast(value: bytes, origin: object = None) -> NewAlert | None:
    """The fast path alone: the alert, or None when the strict path must decide.

    NUL bytes and other raw control characters are invalid JSON to msgspec as to orjson; the
    escaped NUL is not, and the strict path refuses it."""
    if (
        len(value) > MAX_RECORD_BYTES
        or (b"\\" in value and b"\\u0000" in value)
        or (len(value) > 2 * _FAST_BRACKETS and _deep(value))
    ):
        return None
    shape = value.translate(_FAST_SHAPE)
    if (
        shape.rfind(_FAST_EXPONENT) >= 0
        or shape.rfind(_FAST_SIGNED_EXPONENT) >= 0
        or _FAST_DIGITS in shape
    ):
        return None
    try:
        raw = value.decode("utf-8")  # msgspec does not check the text it skips
        event = _FAST_DECODER.decode(value)
        occurred_at = _fast_time(event.occurred_at)
    except (msgspec.MsgspecError, ValueError, RecursionError, OverflowError):
        return None
    return None if occurred_at is None else NewAlert(_alert(event, occurred_at), raw, origin)


def _deep(value: bytes) -> bool:
    return value.count(b"[") + value.count(b"{") > _FAST_BRACKETS


def _fast_time(text: str) -> datetime | None:
    """`occurred_at` in UTC as pydantic reads it, or None when it has no offset or msgspec
    might read it otherwise (past microseconds pydantic truncates and msgspec rounds)."""
    dot = text.find(".")
    if dot != -1 and text[dot + 7 : dot + 8].isdigit():
        return None
    moment = msgspec.convert(text, datetime)  # 4x cheaper than with Meta(tz=True)
    return None if moment.tzinfo is None else to_utc(moment)
