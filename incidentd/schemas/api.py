"""Request and response bodies of the HTTP API (beyond the incident resource itself)."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_serializer

from incidentd.schemas.common import (
    HistoryState,
    IncidentStatus,
    Severity,
    Slug,
    Tier,
    UtcDatetime,
    format_utc,
)
from incidentd.schemas.incident import IncidentResource

ShortText = Annotated[str, StringConstraints(max_length=10_000)]


class IncidentList(BaseModel):
    """A page of incidents."""

    items: list[IncidentResource]
    total: int = Field(description="How many incidents match, over all pages.")


class AlertOut(BaseModel):
    """An alert as stored with an incident."""

    alert_id: str
    product_id: str
    alert_type: str
    status: str
    severity: Severity
    occurred_at: datetime
    fingerprint: str
    title: str | None = None
    added_at: datetime | None = None

    @field_serializer("occurred_at", "added_at")
    def _utc(self, value: datetime | None) -> str | None:
        return None if value is None else format_utc(value)


class BlastRadiusProduct(BaseModel):
    """A product in the blast radius with its distance from the nearest alerted product."""

    product_id: str
    name: str | None = None
    hops: int = Field(description="0 for an alerted product.")
    tier: str | None = None
    owners: list[str] = Field(default_factory=list)
    stewards: list[str] = Field(default_factory=list)
    alerted: bool


class IncidentDetail(IncidentResource):
    """An incident with its alerts and its blast radius."""

    alerts: list[AlertOut]
    blast_radius: list[BlastRadiusProduct]


class TimelineEntry(BaseModel):
    """An alert's arrival in the incident."""

    alert_id: str
    alert_type: str
    added_at: datetime
    severity: Severity

    @field_serializer("added_at")
    def _utc(self, value: datetime) -> str:
        return format_utc(value)


class IncidentPatch(BaseModel):
    """Fields people may change; a severity or root set here sticks against correlation."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "root_cause": "Upstream ETL pipeline failure in source system",
                    "status": "investigating",
                    "severity": "high",
                }
            ]
        },
    )

    root_cause: ShortText | None = None
    status: IncidentStatus | None = None
    severity: Severity | None = None
    root_product_id: Annotated[str, StringConstraints(min_length=1, max_length=500)] | None = None
    description: ShortText | None = None


class LinkTicket(BaseModel):
    """An issue-tracker ticket to link."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"ticket_id": "DQ-42"}]}
    )

    ticket_id: Annotated[
        str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)
    ]


class NotifyResult(BaseModel):
    """What notify-downstream did: seed 000's two counts, plus what was new this time."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "notified_users": 8,
                    "affected_products": 5,
                    "newly_notified": ["ana@example.com"],
                    "already_notified": ["bo@example.com"],
                    "new_products": ["clean"],
                }
            ]
        }
    )

    notified_users: int = Field(
        description="Owners and stewards of the blast radius (told now or before)."
    )
    affected_products: int = Field(description="Products in the blast radius.")
    newly_notified: list[str] = Field(
        description="Recipients told by this call (new to the incident, or with new products)."
    )
    already_notified: list[str] = Field(
        description="Recipients already told about all their products: not told again."
    )
    new_products: list[str] = Field(description="Products this call told anyone about.")


class NotificationOut(BaseModel):
    """An in-platform notification of the caller."""

    id: int
    space: str
    incident_id: str | None = None
    products: list[str] = Field(description="The products this notification is about.")
    title: str
    body: str
    link: str | None = Field(default=None, description="Path of the incident in this API.")
    created_at: datetime
    read_at: datetime | None = None
    read: bool

    @field_serializer("created_at", "read_at")
    def _utc(self, value: datetime | None) -> str | None:
        return None if value is None else format_utc(value)


class NotificationList(BaseModel):
    """A page of the caller's notifications, newest first."""

    items: list[NotificationOut]
    total: int = Field(description="How many notifications match, over all pages.")
    unread: int = Field(description="How many of the caller's notifications are unread.")


class ReadAllResult(BaseModel):
    """How many notifications were marked read."""

    marked_read: int


# -- the catalog: products, edges, lineage queries, OpenLineage over HTTP --------------------

_NO_NUL = r"^[^\x00]*$"
CatalogId = Annotated[
    str, StringConstraints(min_length=1, max_length=500, pattern=r"^[^\x00-\x1f\x7f]+$")
]
"""A product id in the API: 1-500 characters, may contain `/`, no control characters."""
_Email = Annotated[
    str, StringConstraints(min_length=3, max_length=320, pattern=r"^[^@\s\x00]+@[^@\s\x00]+$")
]
_Label = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=_NO_NUL)]
_Dataset = Annotated[
    str, StringConstraints(min_length=3, max_length=500, pattern=r"^[^\x00]+/[^\x00]+$")
]


class LineageDirection(StrEnum):
    """Which way to walk the lineage from a product."""

    UPSTREAM = "upstream"
    DOWNSTREAM = "downstream"


class ProductBody(BaseModel):
    """A product to create or replace: every field of CONTRACT §5 but `id` and `space`.

    `id` and `space` come from the path; they may be repeated here only if they match it.
    Omitting `datasets` keeps the datasets an existing product claims; `[]` clears them.
    """

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "Orders (clean)",
                    "owners": ["ana@example.com"],
                    "stewards": ["steward@example.com"],
                    "tier": "high",
                    "tags": ["orders"],
                    "datasets": ["warehouse/orders_clean"],
                }
            ]
        },
    )

    id: CatalogId | None = Field(default=None, description="Must equal the id in the path.")
    space: Slug | None = Field(default=None, description="Must equal the space in the path.")
    name: Annotated[str, StringConstraints(max_length=500, pattern=_NO_NUL)] | None = None
    owners: list[_Email] = Field(default_factory=list, max_length=100)
    stewards: list[_Email] = Field(default_factory=list, max_length=100)
    tier: Tier | None = None
    tags: list[_Label] = Field(default_factory=list, max_length=100)
    datasets: list[_Dataset] = Field(
        default_factory=list,
        max_length=1000,
        description="OpenLineage datasets (`namespace/name`) that belong to this product.",
    )
    project_id: int = Field(default=0, ge=0, le=2**31 - 1, description="Its project.")


class ProductOut(BaseModel):
    """A product of the catalog."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "orders_clean",
                    "space": "finance",
                    "name": "Orders (clean)",
                    "owners": ["ana@example.com"],
                    "stewards": [],
                    "tier": "high",
                    "tags": [],
                    "datasets": ["warehouse/orders_clean"],
                    "project_id": 0,
                    "connection_ids": ["warehouse"],
                    "connection_types": ["WAREHOUSE"],
                    "updated_at": "2026-02-27T14:00:00Z",
                }
            ]
        }
    )

    id: str
    space: str
    name: str | None = None
    owners: list[str]
    stewards: list[str]
    tier: Tier | None = None
    tags: list[str]
    datasets: list[str]
    project_id: int = 0
    connection_ids: list[str] = Field(
        default_factory=list, description="Its datasets' OpenLineage namespaces."
    )
    connection_types: list[str] = Field(
        default_factory=list, description="Their schemes, upper-cased (`gs` is `GCS`)."
    )
    updated_at: datetime = Field(description="When the product last changed (RFC 3339, UTC).")

    @field_serializer("updated_at")
    def _utc(self, value: datetime) -> str:
        return format_utc(value)


class ProductList(BaseModel):
    """A page of products, ordered by id."""

    items: list[ProductOut]
    total: int = Field(description="How many products match, over all pages.")


class EdgeBody(BaseModel):
    """A lineage edge of the path's space, pointing downstream."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"upstream": "orders_raw", "downstream": "orders_clean"}]},
    )

    upstream: CatalogId
    downstream: CatalogId


class EdgeOut(BaseModel):
    """A lineage edge."""

    space: str
    upstream: str
    downstream: str


class LineageNode(BaseModel):
    """A product reached from the queried one, with its shortest distance in edges."""

    product_id: str
    hops: int = Field(ge=1, description="1 for a direct parent (upstream) or child (downstream).")
    name: str | None = None
    tier: str | None = None


class ProductLineage(BaseModel):
    """Everything up- or downstream of a product within `depth` hops, nearest first."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "product_id": "orders_raw",
                    "direction": "downstream",
                    "depth": None,
                    "nodes": [
                        {"product_id": "orders_clean", "hops": 1, "name": "Orders", "tier": "high"},
                        {"product_id": "revenue", "hops": 2, "name": None, "tier": "critical"},
                    ],
                }
            ]
        }
    )

    product_id: str
    direction: LineageDirection
    depth: int | None = Field(description="The hop limit asked for; null: unlimited.")
    nodes: list[LineageNode]


class OpenLineageResult(BaseModel):
    """What a RunEvent added to the lineage of its space."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"space": "finance", "products_added": 1, "edges_added": 2}]
        }
    )

    space: str
    products_added: int = Field(description="Nodes created for datasets no product claims.")
    edges_added: int = Field(description="Edges that did not exist before.")


class ApiError(BaseModel):
    """An error answer: `detail` says what is wrong; `errors` lists each invalid input (422)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "detail": "query.limit: Input should be less than or equal to 200",
                    "errors": [
                        {
                            "loc": ["query", "limit"],
                            "msg": "Input should be less than or equal to 200",
                            "type": "less_than_equal",
                        }
                    ],
                }
            ]
        }
    )

    detail: str
    errors: list[dict[str, Any]] | None = Field(
        default=None, description="One entry per invalid input: `loc`, `msg`, `type`."
    )


# -- insights (seed 001): history, distribution, summary, alert search -----------------------


class HistoryEntryOut(BaseModel):
    """One step of an incident's life (seed 001 `history`), with the alerts it concerns."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "state": "MERGED",
                    "at": "2026-02-27T14:00:02Z",
                    "alert_ids": ["chk-7781-run-20260227T1400"],
                    "actor": None,
                    "detail": {"merged_into": "0b9e6f1c-0d5e-4c6e-9a43-4f4b1e0c8a11"},
                }
            ]
        }
    )

    state: HistoryState
    at: datetime
    alert_ids: list[str] = Field(
        description="Alerts this step concerns (seed 001 `alert_refs`): added, moved or clearing."
    )
    actor: str | None = Field(
        default=None, description="Who made a change through the API; null for correlation."
    )
    detail: dict[str, Any] = Field(
        default_factory=dict,
        description="`merged_into` / `merged_from` for merges, `changed` fields for edits, ...",
    )

    @field_serializer("at")
    def _utc(self, value: datetime) -> str:
        return format_utc(value)


class DayDistribution(BaseModel):
    """Incidents created on one UTC day; every severity and impact is present, zeros too."""

    date: date
    total: int
    by_severity: dict[str, int]
    by_impact: dict[str, int]


class IncidentDistribution(BaseModel):
    """Seed 001 `distribution`: every UTC day the window `[from_time, to_time)` touches."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "from_time": "2026-02-27T00:00:00Z",
                    "to_time": "2026-02-28T00:00:00Z",
                    "days": [
                        {
                            "date": "2026-02-27",
                            "total": 3,
                            "by_severity": {
                                "critical": 1,
                                "high": 2,
                                "medium": 0,
                                "low": 0,
                                "info": 0,
                            },
                            "by_impact": {"HIGH": 1, "MEDIUM": 1, "LOW": 1},
                        }
                    ],
                }
            ]
        }
    )

    from_time: datetime
    to_time: datetime
    days: list[DayDistribution]

    @field_serializer("from_time", "to_time")
    def _utc(self, value: datetime) -> str:
        return format_utc(value)


class IncidentSummary(BaseModel):
    """Seed 001 `summary` over the window `[from_time, to_time)` (merged incidents left out)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "total": 25,
                    "open": 6,
                    "closed": 19,
                    "mttr_hours": 12.5,
                    "previous_mttr_hours": 17.0,
                    "open_by_tag": {"T1": 3, "prod": 5},
                    "closed_by_tag": {"T1": 12, "prod": 17},
                    "from_time": "2026-01-28T14:00:00Z",
                    "to_time": "2026-02-27T14:00:00Z",
                }
            ]
        }
    )

    total: int = Field(description="Incidents created in the window.")
    open: int = Field(description="Of those, `open` or `investigating` now.")
    closed: int = Field(description="Of those, `resolved` now.")
    mttr_hours: float | None = Field(
        description="Mean `resolved_at - created_at` in hours of incidents resolved in the "
        "window (wherever they were created); null when none was."
    )
    previous_mttr_hours: float | None = Field(
        description="The same over the window of equal length right before this one."
    )
    open_by_tag: dict[str, int] = Field(description="Open incidents created in the window, by tag.")
    closed_by_tag: dict[str, int] = Field(description="Closed ones, by tag.")
    from_time: datetime
    to_time: datetime

    @field_serializer("from_time", "to_time")
    def _utc(self, value: datetime) -> str:
        return format_utc(value)


class AlertSearchItem(AlertOut):
    """A stored alert with the incident holding it (null: not correlated)."""

    space: str
    incident_id: str | None = None
    tags: list[str] = Field(default_factory=list)
    received_at: datetime
    description: str | None = None
    attribute: str | None = None
    segment: str | None = None
    source: str | None = None
    check: dict[str, Any] | None = None
    metric: dict[str, Any] | None = None

    @field_serializer("received_at")
    def _received_utc(self, value: datetime) -> str:
        return format_utc(value)


class AlertPage(BaseModel):
    """A page of alerts, newest `occurred_at` first."""

    items: list[AlertSearchItem]
    total: int = Field(description="How many alerts match, over all pages.")


_Value = Annotated[str, StringConstraints(min_length=1, max_length=500)]


class AlertSearch(BaseModel):
    """Seed 001 "alerts by filters": the filters of `GET /spaces/{slug}/alerts` as a body."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "severities": ["critical", "high"],
                    "statuses": ["firing"],
                    "product_ids": ["orders_clean"],
                    "from_time": "2026-02-27T00:00:00Z",
                    "to_time": "2026-02-28T00:00:00Z",
                    "text_to_search": "customer_id",
                    "limit": 50,
                }
            ]
        },
    )

    severities: list[_Value] = Field(default_factory=list, max_length=100)
    statuses: list[_Value] = Field(
        default_factory=list, max_length=100, description="`firing` and/or `resolved`."
    )
    product_ids: list[_Value] = Field(default_factory=list, max_length=100)
    alert_types: list[_Value] = Field(default_factory=list, max_length=100)
    alert_ids: list[_Value] = Field(
        default_factory=list, max_length=200, description="Exact ids, e.g. a history step's."
    )
    incident_id: _Value | None = Field(default=None, description="Alerts of this incident.")
    from_time: UtcDatetime | None = Field(default=None, description="occurred_at >= from_time.")
    to_time: UtcDatetime | None = Field(default=None, description="occurred_at < to_time.")
    text_to_search: Annotated[str, StringConstraints(max_length=500)] | None = Field(
        default=None, description="Substring of the title, alert id or fingerprint."
    )
    skip: int = Field(default=0, ge=0, le=1_000_000)
    limit: int = Field(default=50, ge=1, le=200)
