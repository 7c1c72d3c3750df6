"""Enumerations and small value types shared by every contract."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, StringConstraints


class Severity(StrEnum):
    """Alert and incident severity, most severe first."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"

    @property
    def rank(self) -> int:
        """Higher is more severe."""
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {
    Severity.CRITICAL: 4,
    Severity.HIGH: 3,
    Severity.MEDIUM: 2,
    Severity.LOW: 1,
    Severity.INFO: 0,
}


class AlertStatus(StrEnum):
    """Whether the check is failing (`firing`) or passes again (`resolved`)."""

    FIRING = "firing"
    RESOLVED = "resolved"


class IncidentStatus(StrEnum):
    """Lifecycle of an incident."""

    OPEN = "open"
    INVESTIGATING = "investigating"
    RESOLVED = "resolved"


class Impact(StrEnum):
    """How much of the lineage an incident reaches."""

    HIGH = "HIGH"
    MEDIUM = "MEDIUM"
    LOW = "LOW"


class Tier(StrEnum):
    """Business criticality of a data product."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class EventType(StrEnum):
    """Kinds of outbound incident events (CONTRACT §3)."""

    CREATED = "incident.created"
    ALERT_ADDED = "incident.alert_added"
    UPDATED = "incident.updated"
    MERGED = "incident.merged"
    RESOLVED = "incident.resolved"
    REOPENED = "incident.reopened"
    DOWNSTREAM_NOTIFIED = "incident.downstream_notified"
    TICKET_LINKED = "incident.ticket_linked"


class HistoryState(StrEnum):
    """States recorded in an incident's history."""

    NEW = "NEW"
    ONGOING = "ONGOING"
    RESOLVED = "RESOLVED"
    REOPENED = "REOPENED"
    MERGED = "MERGED"


EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


def to_utc(value: datetime) -> datetime:
    """`value` in UTC; ValueError when it falls outside 1970-2200 (or outside datetime's range)."""
    try:
        utc = value.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError("time is out of range") from exc
    if not EARLIEST <= utc < LATEST:
        raise ValueError("time must be between 1970 and 2200")
    return utc


UtcDatetime = Annotated[AwareDatetime, AfterValidator(to_utc)]
"""An RFC 3339 time that must carry an offset; normalised to UTC."""

Slug = Annotated[
    str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$", min_length=1, max_length=63)
]
"""A space identifier: lower-case letters, digits, `-` and `_`."""

ProductId = Annotated[str, StringConstraints(min_length=1, max_length=500)]
"""A data product id; may contain `/` (OpenLineage `namespace/name`)."""


def format_utc(value: datetime) -> str:
    """RFC 3339 in UTC with a `Z` suffix."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


EMAIL_PATTERN = r"^[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(\.[\w-]+)*$"
"""One bare address (`local@domain`): no display name, no list, no spaces, commas or CR/LF."""
EmailAddress = Annotated[
    str, StringConstraints(min_length=3, max_length=254, pattern=EMAIL_PATTERN)
]
"""An owner's or steward's e-mail address, a single recipient of mail and notifications."""
