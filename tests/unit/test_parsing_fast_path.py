"""The fast path of alert parsing against the strict path, record by record.

The strict path (orjson + `AlertEvent`) defines what is accepted and every dead-letter reason.
The property: whenever the fast path (msgspec) returns an alert, the strict path accepts the
same record and returns an equal alert (same types, same UTC time, same raw text); and
`parse_alert` gives exactly the strict path's outcome (the alert, or the same error_type and
reason). Records are valid, near-valid (each field at and past its limits, other cases and
types) and hostile (NaN, huge numbers, lone surrogates, duplicate keys, invalid UTF-8, deep
nesting, non-objects).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.lineage_gen import generate_lineage
from bench.streams import generate_stream
from incidentd.schemas.alert import AlertEvent
from incidentd.storage.alerts import NewAlert
from incidentd.worker import parsing
from incidentd.worker.parsing import RecordError, parse_alert
from tests.support.alert_records import (
    VALID,
    aware_text,
    json_scalars,
    json_values,
    mutated_alerts,
    naive_text,
    number_tokens,
)

DIFFERENTIAL = settings(
    max_examples=600,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def strict(value: bytes | None) -> NewAlert | tuple[str, str]:
    """The strict path's outcome: the alert, or (error_type, error)."""
    try:
        return parsing.parse_alert_strict(value, None)
    except RecordError as exc:
        return exc.error_type, exc.error


def refusal(value: bytes) -> str:
    """The strict path's error_type for a record it refuses."""
    outcome = strict(value)
    assert isinstance(outcome, tuple), "the strict path accepted it"
    return outcome[0]


def agree(value: bytes) -> bool:
    """Check the property on one record; True when the fast path took it."""
    expected = strict(value)
    fast = parsing.parse_alert_fast(value, None)
    if fast is not None:
        assert isinstance(expected, NewAlert), f"fast path took what strict refuses: {expected}"
        assert fast == expected
        assert repr(fast) == repr(expected)  # same types, same tzinfo
        assert fast.alert.occurred_at.tzinfo is expected.alert.occurred_at.tzinfo
    try:
        got: NewAlert | tuple[str, str] = parse_alert(value)
    except RecordError as exc:
        got = exc.error_type, exc.error
    assert got == expected
    return fast is not None


# -- records: every field valid, at its limits, or a little wrong --------------------------


@dataclass(frozen=True)
class Raw:
    """A JSON token written as is (a number JSON libraries would not produce)."""

    token: bytes


def sized(low: int, high: int) -> st.SearchStrategy[str]:
    """Text from `low` to `high` characters, in one-, two- and four-byte UTF-8."""
    return st.builds(
        lambda char, n: char * n,
        st.sampled_from(["x", "é", "\U0001f600", "\n"]),
        st.integers(min_value=low, max_value=high),
    )


slugs = st.from_regex(r"[a-z0-9][a-z0-9_-]{0,62}", fullmatch=True)
near_slugs = st.builds(lambda s, tail: s + tail, slugs, st.sampled_from(["\n", "A", " ", "é"]))
times = st.builds(
    lambda moment, sep, digits, zone: moment.strftime(f"%Y-%m-%d{sep}%H:%M:%S") + digits + zone,
    st.datetimes(min_value=datetime(1969, 12, 31), max_value=datetime(2200, 1, 2))
    | st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)),
    st.sampled_from(["T", "t", " ", "_"]),
    st.just("") | st.from_regex(r"\.[0-9]{0,11}", fullmatch=True),
    st.sampled_from(["Z", "z", "", "+00:00", "-00:00", "+01:00", "-23:59", "+0100", "+24:00"]),
)
optional_text = st.none() | st.text(max_size=10) | json_scalars
FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "schema_version": st.sampled_from([1, 1.0, True, 2, 0, "1", None, [1]]),
    "alert_id": st.text(max_size=10) | sized(198, 202) | json_scalars,
    "space": slugs | near_slugs | sized(62, 65) | json_scalars,
    "product_id": st.text(max_size=10) | sized(498, 502) | json_scalars,
    "alert_type": st.text(min_size=1, max_size=10) | sized(0, 1) | sized(199, 201),
    "status": st.sampled_from(["firing", "resolved", "FIRING", "Resolved", "ok", None, 1]),
    "severity": st.sampled_from(["critical", "high", "HIGH", "Medium", "low", "info", "urgent"]),
    "occurred_at": times | aware_text | naive_text | json_scalars,
    "fingerprint": st.none() | st.text(max_size=10) | sized(999, 1001) | json_scalars,
    "title": optional_text,
    "description": optional_text,
    "check": st.none()
    | st.dictionaries(
        st.sampled_from(["id", "name", "policy_id", "policy_name", "other"]),
        st.none() | st.text(max_size=8) | json_scalars,
        max_size=5,
    )
    | json_scalars,
    "attribute": optional_text,
    "segment": optional_text,
    "metric": st.none()
    | st.dictionaries(
        st.sampled_from(["name", "value", "threshold", "unit"]),
        st.none()
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.integers(min_value=-(2**63), max_value=2**64 - 1)
        | st.sampled_from(["1.5", True]),
        max_size=4,
    ),
    "tags": st.lists(st.text(max_size=6), max_size=3) | st.lists(json_scalars, max_size=2),
    "source": optional_text,
}
REQUIRED = {
    "schema_version",
    "alert_id",
    "space",
    "product_id",
    "alert_type",
    "severity",
    "occurred_at",
}


def token(value: Any, ascii_only: bool) -> bytes:
    if isinstance(value, Raw):
        return value.token
    if ascii_only:  # \u escapes, surrogate pairs for astral characters
        return json.dumps(value, ensure_ascii=True, allow_nan=False).encode()
    return orjson.dumps(value)


@st.composite
def records(draw: st.DrawFn) -> bytes:
    """An alert whose fields are valid or near-valid, maybe with extras and repeated keys."""
    pairs: list[tuple[str, Any]] = []
    varied = draw(st.sets(st.sampled_from(sorted(FIELD_VALUES)), max_size=3))
    for name, values in FIELD_VALUES.items():
        if name in varied:
            pairs.append((name, draw(values)))
        elif name in REQUIRED or draw(st.integers(min_value=0, max_value=4)):
            pairs.append((name, VALID[name]))  # else an optional field left out
    if draw(st.integers(min_value=0, max_value=30)) == 0:
        pairs.pop(draw(st.integers(min_value=0, max_value=len(pairs) - 1)))  # maybe required
    for _ in range(draw(st.integers(min_value=0, max_value=2))):
        key = draw(st.sampled_from([*FIELD_VALUES, "extra", "x"]))  # repeated keys: last wins
        extra = st.builds(Raw, number_tokens) | json_values
        pairs.append((key, draw(FIELD_VALUES.get(key, extra) | extra)))
    ascii_only = draw(st.booleans())
    sep = draw(st.sampled_from([b",", b", ", b"\n,\t"]))
    body = sep.join(token(k, ascii_only) + b":" + token(v, ascii_only) for k, v in pairs)
    return b"{" + body + b"}"


# -- properties ----------------------------------------------------------------------------


@DIFFERENTIAL
@given(records())
def test_near_valid_records(value: bytes) -> None:
    agree(value)


@DIFFERENTIAL
@given(st.sampled_from(sorted(FIELD_VALUES)), st.data())
def test_one_field_valid_or_near_valid(field: str, data: st.DataObject) -> None:
    agree(orjson.dumps({**VALID, field: data.draw(FIELD_VALUES[field])}))


@DIFFERENTIAL
@given(times | aware_text | naive_text)
def test_any_time_text(moment: str) -> None:
    agree(orjson.dumps({**VALID, "occurred_at": moment}))


@DIFFERENTIAL
@given(slugs | near_slugs | sized(62, 65))
def test_any_space(space: str) -> None:
    agree(orjson.dumps({**VALID, "space": space}))


@DIFFERENTIAL
@given(mutated_alerts())
def test_hostile_records(value: bytes) -> None:
    agree(value)


@DIFFERENTIAL
@given(st.binary(max_size=600) | json_values.map(orjson.dumps))
def test_arbitrary_bytes_and_json(value: bytes) -> None:
    agree(value)


@DIFFERENTIAL
@given(st.sampled_from(sorted(VALID)) | st.just("extra"), number_tokens)
def test_any_number_in_any_field(field: str, number: bytes) -> None:
    agree(orjson.dumps({**VALID, field: "@@"}).replace(b'"@@"', number))


# -- examples ------------------------------------------------------------------------------


def test_the_bench_stream_takes_the_fast_path() -> None:
    """Every valid record of the bench's stream is taken by the fast path, with an equal alert."""
    stream = generate_stream(generate_lineage(300, 1), 3000, 5)
    taken = [agree(r.value) for r in stream.records]
    valid = sum(1 for r in stream.records if isinstance(strict(r.value), NewAlert))
    assert sum(taken) == valid > 2800


def test_escaped_and_unicode_text_takes_the_fast_path() -> None:
    body = {**VALID, "title": 'a "quoted" \\ title é \U0001f600', "tags": ["\u00e9\t"]}
    for value in (orjson.dumps(body), json.dumps(body).encode()):
        assert agree(value)


@DIFFERENTIAL
@given(
    st.sampled_from(
        [
            b"NaN",
            b"Infinity",
            b"-Infinity",
            b"1e309",
            b"1" * 400,
            b"1e-20000",
            b'"\\ud800"',
            b'"\\udc00x"',
            b'"a\\u0000"',
            b'"a\x00"',
            b"\x001",
            b'"\\\\u0000"',
            b'"\xed\xa0\x80"',
            b'"\xff"',
            b"[" * 1100 + b"]" * 1100,
            b"[" * 600 + b"]" * 600,
        ]
    ),
    st.sampled_from([*sorted(VALID), "extra"]),
)
def test_what_the_strict_path_refuses_never_takes_the_fast_path(bad: bytes, field: str) -> None:
    value = orjson.dumps({**VALID, field: "@@"}).replace(b'"@@"', bad)
    assert not agree(value)


def test_a_space_with_a_final_newline_is_refused_by_both_paths() -> None:
    """Python's `$` matches before a final newline, pydantic's (Rust) does not."""
    value = orjson.dumps({**VALID, "space": "finance\n"})
    assert not agree(value)
    assert refusal(value) == "invalid_alert"


def test_duplicate_keys_the_last_wins_on_both_paths() -> None:
    value = orjson.dumps(VALID)[:-1] + b',"severity":"low","alert_id":"second"}'
    assert agree(value)
    alert = parse_alert(value).alert
    assert (alert.severity, alert.alert_id) == ("low", "second")


def test_the_fast_event_declares_every_field_of_the_alert_event() -> None:
    assert set(parsing._FastEvent.__struct_fields__) == set(AlertEvent.model_fields)


def test_a_deep_extra_field_is_left_to_the_strict_path_whatever_the_recursion_limit() -> None:
    value = orjson.dumps(VALID)[:-1] + b',"x":' + b"[" * 1100 + b"]" * 1100 + b"}"
    assert parsing.parse_alert_fast(value, None) is None
    assert refusal(value) == "invalid_json"
