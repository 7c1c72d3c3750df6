"""Fuzzing the inbound parsers: any bytes give a contract-valid alert or a RecordError.

A RecordError becomes a dead letter; any other exception stops the worker, so the property is
"parse_alert returns a NewAlert that honours CONTRACT §2 and that PostgreSQL can store, or
raises RecordError with a reason, and nothing else".
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from incidentd.schemas.common import AlertStatus, Severity
from incidentd.storage.alerts import NewAlert
from incidentd.worker.parsing import MAX_RECORD_BYTES, RecordError, decode_json, parse_alert
from tests.support.alert_records import (
    FIELDS,
    HOLE,
    VALID,
    aware_text,
    json_scalars,
    json_values,
    mutated_alerts,
    naive_text,
    number_tokens,
)

ERROR_TYPES = {
    "empty_record",
    "too_large",
    "invalid_characters",
    "invalid_json",
    "invalid_alert",
    "unsupported_schema_version",
}
SLUG = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
# A JSON string or number token; strings are matched first so digits inside them are skipped.
TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?')
PG_MAX_SCALE = 16383  # decimal digits after the point that PostgreSQL's numeric (jsonb) keeps

FUZZ = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# -- the property --------------------------------------------------------------------------


def check(value: bytes | None) -> NewAlert | None:
    """parse_alert(value) is a contract-valid, storable alert or a RecordError with a reason."""
    try:
        new = parse_alert(value)
    except RecordError as exc:
        assert exc.error, "a dead letter needs a human-readable reason"
        assert exc.error_type in ERROR_TYPES, exc.error_type
        return None
    assert value is not None
    assert_contract(new, value)
    assert_storable(new.raw_json)
    return new


def assert_contract(new: NewAlert, value: bytes) -> None:
    """What CONTRACT §2 promises about an accepted alert."""
    a = new.alert
    assert 1 <= len(a.alert_id) <= 200
    assert SLUG.fullmatch(a.space), a.space
    assert 1 <= len(a.product_id) <= 500
    assert 1 <= len(a.alert_type) <= 200
    assert isinstance(a.severity, Severity)
    assert isinstance(a.status, AlertStatus)
    assert a.occurred_at.tzinfo is not None
    assert a.occurred_at.utcoffset() == timedelta(0), a.occurred_at
    assert a.fingerprint
    assert all(isinstance(t, str) for t in a.tags)
    doc = orjson.loads(value)
    assert doc["schema_version"] == 1
    assert doc["alert_id"] == a.alert_id
    assert new.raw_json == value.decode("utf-8")  # the original payload, unchanged


def assert_storable(raw_json: str) -> None:
    """PostgreSQL's jsonb takes it: UTF-8, no NUL (escaped or not), numbers numeric can hold."""
    raw = raw_json.encode("utf-8")  # raises on lone surrogates
    assert b"\x00" not in raw
    assert b"\\u0000" not in raw
    for token in TOKENS.findall(raw):
        if not token.startswith(b'"'):
            exponent = Decimal(token.decode()).as_tuple().exponent
            assert isinstance(exponent, int)
            assert -exponent <= PG_MAX_SCALE, f"numeric cannot store {token[:40]!r}"


# -- properties ----------------------------------------------------------------------------


@FUZZ
@given(st.binary(max_size=2_000))
def test_arbitrary_bytes(value: bytes) -> None:
    check(value)


@FUZZ
@given(json_values)
def test_arbitrary_json_values(data: Any) -> None:
    check(orjson.dumps(data))


@FUZZ
@given(st.dictionaries(st.sampled_from([*FIELDS, "x"]), json_values, max_size=len(FIELDS)))
def test_arbitrary_objects_with_alert_fields(data: dict[str, Any]) -> None:
    check(orjson.dumps({"schema_version": 1, **data}))


@FUZZ
@given(mutated_alerts())
def test_mutated_alerts(value: bytes) -> None:
    check(value)


@FUZZ
@given(aware_text | naive_text | json_scalars)
def test_any_occurred_at(moment: Any) -> None:
    check(orjson.dumps({**VALID, "occurred_at": moment}))


@FUZZ
@given(
    st.sampled_from(
        [{"extra": HOLE}, {"extra": {"deep": [HOLE]}}, {"metric": {"value": HOLE}}]
        + [{field: HOLE} for field in FIELDS]
    ),
    number_tokens,
)
def test_any_number_anywhere(where: dict[str, Any], token: bytes) -> None:
    check(orjson.dumps({**VALID, **where}).replace(f'"{HOLE}"'.encode(), token))


@FUZZ
@given(st.binary(max_size=2_000) | mutated_alerts())
def test_decode_json_returns_or_raises_record_error(value: bytes) -> None:
    try:
        decode_json(value)
    except RecordError as exc:
        assert exc.error
        assert exc.error_type in {"too_large", "invalid_characters", "invalid_json"}


# -- examples ------------------------------------------------------------------------------


def test_the_contract_example_is_accepted() -> None:
    new = check(orjson.dumps(VALID))
    assert new is not None
    assert new.alert.occurred_at == datetime(2026, 2, 27, 14, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "error_type"),
    [
        (None, "empty_record"),
        (b"", "invalid_json"),
        (b"x" * (MAX_RECORD_BYTES + 1), "too_large"),
        (b"[" * 10_000 + b"]" * 10_000, "invalid_json"),
        (b'{"a": "\\ud800"}', "invalid_json"),
        (b'{"a": "\xed\xa0\x80"}', "invalid_json"),
        (b'{"a": "\\u0000"}', "invalid_characters"),
        (b'{"a": "\x00"}', "invalid_characters"),
        (orjson.dumps({**VALID, "schema_version": 2}), "unsupported_schema_version"),
        (orjson.dumps({**VALID, "occurred_at": "2026-02-27T14:00:00"}), "invalid_alert"),
    ],
)
def test_hostile_examples(value: bytes | None, error_type: str) -> None:
    with pytest.raises(RecordError) as caught:
        parse_alert(value)
    assert caught.value.error_type == error_type
    assert caught.value.error


def test_an_alert_at_the_size_limit_is_accepted() -> None:
    padding = MAX_RECORD_BYTES - len(orjson.dumps({**VALID, "description": ""}))
    value = orjson.dumps({**VALID, "description": "d" * padding})
    assert len(value) == MAX_RECORD_BYTES
    assert check(value) is not None


# Found by the fuzzing above; each should be a RecordError (a dead letter), not a crash.


def test_an_offset_that_moves_the_time_out_of_range_is_a_record_error() -> None:
    """OverflowError escapes parse_alert: "0001-01-01T00:00:00+01:00" is year 0 in UTC."""
    for moment in ("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"):
        with pytest.raises(RecordError) as caught:
            parse_alert(orjson.dumps({**VALID, "occurred_at": moment}))
        assert caught.value.error_type == "invalid_alert"


def test_a_number_postgres_cannot_store_is_a_record_error() -> None:
    """orjson reads 1e-20000 as 0.0 but the raw payload keeps it; jsonb refuses it."""
    with pytest.raises(RecordError):
        parse_alert(orjson.dumps(VALID)[:-1] + b',"ratio":1e-20000}')
