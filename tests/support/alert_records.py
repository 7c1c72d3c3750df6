"""Alert records for property tests of the parsers: the contract's example and hypothesis
strategies that make valid, near-valid and hostile variants of it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson
from hypothesis import strategies as st

from incidentd.schemas.common import Severity

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
HOLE = "@@HOLE{}@@"  # string placeholders, replaced by raw bytes after serialisation

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
