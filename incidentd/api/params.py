"""Query-parameter parsing shared by the routers: lists, enumerations, times, windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated

from fastapi import HTTPException, Query

from incidentd.schemas.common import EARLIEST, LATEST

DEFAULT_WINDOW = timedelta(days=30)
MAX_WINDOW = timedelta(days=366)
MAX_VALUES = 100
MAX_VALUE_LENGTH = 500


def invalid(message: str) -> HTTPException:
    """A 422 with `message` as detail."""
    return HTTPException(422, message)


# --- parameter parsing ---------------------------------------------------------------------


def values(
    name: str, raw: list[str] | None, *, split: bool = True, limit: int = MAX_VALUES
) -> tuple[str, ...]:
    """Distinct non-empty values; with `split`, `?x=a&x=b` and `?x=a,b` are the same."""
    parts = (p for r in raw or () for p in (r.split(",") if split else (r,)))
    values = tuple(dict.fromkeys(v.strip() for v in parts if v.strip()))
    if len(values) > limit:
        raise invalid(f"{name}: at most {limit} values")
    if any(len(v) > MAX_VALUE_LENGTH for v in values):
        raise invalid(f"{name}: values are at most {MAX_VALUE_LENGTH} characters")
    return values


def choices(
    name: str, raw: list[str] | None, choices: type[StrEnum], *, split: bool = True
) -> tuple[str, ...]:
    """Values of an enumeration, case-insensitive, in their canonical spelling."""
    allowed = {c.value.lower(): c.value for c in choices}
    out = []
    for value in values(name, raw, split=split):
        canonical = allowed.get(value.lower())
        if canonical is None:
            raise invalid(f"{name}: '{value}' is not one of {', '.join(c.value for c in choices)}")
        out.append(canonical)
    return tuple(dict.fromkeys(out))


def instant(name: str, value: datetime | None) -> datetime | None:
    """An aware time in UTC within 1970-2200, or 422."""
    if value is None:
        return None
    if value.tzinfo is None or value.utcoffset() is None:
        raise invalid(f"{name} must carry a time zone offset (RFC 3339, e.g. ...T14:00:00Z)")
    try:
        utc = value.astimezone(UTC)
    except OverflowError as exc:
        raise invalid(f"{name} is out of range") from exc
    if not EARLIEST <= utc < LATEST:
        raise invalid(f"{name} must be between 1970 and 2200")
    return utc


def time_range(
    from_time: datetime | None, to_time: datetime | None
) -> tuple[datetime | None, datetime | None]:
    """Optional bounds; 422 unless from_time < to_time when both are given."""
    start, end = instant("from_time", from_time), instant("to_time", to_time)
    if start is not None and end is not None and start >= end:
        raise invalid("from_time must be before to_time")
    return start, end


def window(from_time: datetime | None, to_time: datetime | None) -> tuple[datetime, datetime]:
    """`[from_time, to_time)`: to_time defaults to now, from_time to 30 days before to_time."""
    start, end = instant("from_time", from_time), instant("to_time", to_time)
    end = end or datetime.now(UTC)
    start = start or end - DEFAULT_WINDOW
    if start >= end:
        raise invalid("from_time must be before to_time")
    if end - start > MAX_WINDOW:
        raise invalid("the window (to_time - from_time) may span at most 366 days")
    return start, end


FromTime = Annotated[
    datetime | None,
    Query(description="Window start, inclusive (RFC 3339); default: 30 days before to_time."),
]
ToTime = Annotated[datetime | None, Query(description="Window end, exclusive; default: now.")]
Severities = Annotated[
    list[str] | None, Query(description="critical, high, medium, low, info (any case, a,b)")
]
Impacts = Annotated[list[str] | None, Query(description="HIGH, MEDIUM, LOW (any case, a,b)")]
Tags = Annotated[
    list[str] | None, Query(description="Incidents with any of these tags (any case, a,b).")
]
ProductIds = Annotated[
    list[str] | None,
    Query(
        description="Incidents with an alert on any of these products; with "
        "`product_match=blast_radius`, also incidents whose blast radius holds one."
    ),
]


class ProductMatch(StrEnum):
    """What `product_ids` is compared with."""

    ALERTED = "alerted"
    BLAST_RADIUS = "blast_radius"


ProductMatchParam = Annotated[
    ProductMatch,
    Query(
        description="`alerted` (default): `product_ids` match the incident's alerted products; "
        "`blast_radius`: they match anything in its blast radius (alerted or downstream)."
    ),
]
TextToSearch = Annotated[
    str | None,
    Query(
        max_length=500,
        description="In title, description, root cause, product ids and names, or the exact id.",
    ),
]
