"""Fuzzing the inbound parsers: any bytes give a contract-valid alert or a RecordError.

A RecordError becomes a dead letter; any other exception stops the worker, so the property is
"parse_alert returns a NewAlert that honours CONTRACT §2 and that PostgreSQL can store, or
raises RecordError with a reason, and nothing else".
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from incidentd.schemas.common import AlertStatus, Severity
from incidentd.storage.alerts import NewAlert
from incidentd.worker.parsing import MAX_RECORD_BYTES, RecordError, decode_json, parse_alert

ERROR_TYPES = {
    "empty_record",
    "too_large",
    "invalid_characters",
    "invalid_json",
    "invalid_alert",
    "unsupported_schema_version",
}
VALID: dict[str, Any] = {
    "schema_version": 1,
    "alert_id": "chk-7781-run-20260227T1400",
    "space": "finance",
    "product_id": "orders_clean",
    "alert_type": "quality_check_failed",
    "status": "firing",
    "severity": "critical",
    "occurred_at": "2026-02-27T14:00:00Z",
    "fingerprint": "orders_clean/not_null_customer_id",
    "title": "not_null(customer_id) failed",
    "description": "3.2% nulls, threshold 1%",
    "check": {"id": "chk-7781", "name": "not_null_customer_id", "policy_id": "4"},
    "attribute": "customer_id",
    "segment": None,
    "metric": {"name": "null_ratio", "value": 0.032, "threshold": 0.01},
    "tags": ["prod", "T1"],
    "source": "soda",
}
FIELDS = sorted(VALID)
SLUG = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
HOLE = "@@HOLE{}@@"  # string placeholders, replaced by raw bytes after serialisation
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


# -- strategies ----------------------------------------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
offsets = st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1).map(
    lambda m: timezone(timedelta(minutes=m))
)
any_datetime = st.datetimes(
    min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)
) | st.sampled_from([datetime(1, 1, 1), datetime(9999, 12, 31, 23, 59, 59)])
aware_text = st.builds(lambda d, tz: d.replace(tzinfo=tz).isoformat(), any_datetime, offsets)
naive_text = any_datetime.map(datetime.isoformat) | any_datetime.map(lambda d: d.date().isoformat())
invalid_utf8 = st.sampled_from(
    [b"\xff", b"\xfe", b"\xc0\xaf", b"\xed\xa0\x80", b"\xed\xbf\xbf", b"\xf4\x90\x80\x80", b"\x80"]
)
surrogate_escapes = st.lists(
    st.sampled_from([b"\\ud800", b"\\udbff", b"\\udc00", b"\\udfff", b"\\ud83d\\ude00", b"x"]),
    min_size=1,
    max_size=3,
).map(b"".join)
number_tokens = st.builds(
    lambda mantissa, exponent: mantissa + exponent,
    st.from_regex(rb"\A-?(0|[1-9][0-9]{0,25})(\.[0-9]{1,25})?\Z", fullmatch=True),
    st.just(b"")
    | st.builds(
        lambda e, n: e + str(n).encode(),
        st.sampled_from([b"e", b"E", b"e+", b"e-"]),
        st.integers(min_value=0, max_value=400) | st.integers(min_value=16_000, max_value=99_999),
    ),
)


def huge_string(draw: st.DrawFn) -> str:
    """A long string without generating every character (fast)."""
    return draw(st.sampled_from(["x", "é", "\U0001f600", "ab"])) * draw(
        st.integers(min_value=1, max_value=400_000)
    )


def nesting(draw: st.DrawFn) -> bytes:
    """Arrays or objects nested up to 12,000 levels (orjson stops at 1024)."""
    depth = draw(st.integers(min_value=1, max_value=12_000))
    if draw(st.booleans()):
        return b"[" * depth + b"]" * depth
    return b'{"a":' * depth + b"1" + b"}" * depth


@st.composite
def mutated_alerts(draw: st.DrawFn) -> bytes:
    """The contract's example alert with 1-4 hostile mutations."""
    body = dict(VALID)
    holes: list[bytes] = []

    def raw(data: bytes) -> str:
        holes.append(data)
        return HOLE.format(len(holes) - 1)

    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        field = draw(st.sampled_from([*FIELDS, "extra"]))
        _mutate(draw, body, field, draw(st.integers(min_value=0, max_value=11)), raw)
    data = orjson.dumps(body)
    for i, hole in enumerate(holes):
        data = data.replace(f'"{HOLE.format(i)}"'.encode(), hole)
    if draw(st.integers(min_value=0, max_value=9)) == 0:  # invalid UTF-8 anywhere
        at = draw(st.integers(min_value=0, max_value=len(data)))
        data = data[:at] + draw(invalid_utf8) + data[at:]
    return data


def _mutate(
    draw: st.DrawFn, body: dict[str, Any], field: str, kind: int, raw: Callable[[bytes], str]
) -> None:
    """Apply mutation `kind` to `field` (kinds 2, 3 and 10 choose their own field)."""
    if kind == 0:
        body.pop(field, None)
    elif kind == 1:
        body[field] = draw(json_values)  # often the wrong type
    elif kind == 2:
        body["occurred_at"] = draw(aware_text | naive_text | json_scalars)
    elif kind == 3:
        body["schema_version"] = draw(
            st.sampled_from([0, 2, 99, -1, "1", 1.0, 1.5, None, [1], {"v": 1}]) | json_scalars
        )
    elif kind == 4:
        body[field] = huge_string(draw)
    elif kind == 5:
        body[field] = raw(nesting(draw))
    elif kind == 6:
        body[field] = raw(b'"a' + draw(surrogate_escapes) + b'b"')
    elif kind == 7:
        body[field] = raw(b'"a' + draw(st.sampled_from([b"\\u0000", b"\x00", b"\\\\u0000"])) + b'"')
    elif kind == 8:
        body[field] = raw(draw(number_tokens))
    elif kind == 9:
        body[field] = raw(b'"a' + draw(invalid_utf8) + b'b"')
    elif kind == 10:
        word = draw(st.sampled_from([s.value for s in Severity]))
        body["severity"] = "".join(c.upper() if draw(st.booleans()) else c for c in word)
    else:
        body[field] = draw(st.text(max_size=30))


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
