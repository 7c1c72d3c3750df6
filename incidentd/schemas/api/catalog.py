"""The catalog: products, edges, lineage queries, OpenLineage over HTTP."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_serializer

from incidentd.schemas.common import EmailAddress, Slug, Tier, format_utc

_NO_NUL = r"^[^\x00]*$"
CatalogId = Annotated[
    str, StringConstraints(min_length=1, max_length=500, pattern=r"^[^\x00-\x1f\x7f]+$")
]
"""A product id in the API: 1-500 characters, may contain `/`, no control characters."""
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
    owners: list[EmailAddress] = Field(default_factory=list, max_length=100)
    stewards: list[EmailAddress] = Field(default_factory=list, max_length=100)
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
    alerts_queued: int = Field(
        default=0, description="Alerts from the event's `dataQualityAssertions` facets."
    )
    alerts_rejected: list[str] = Field(
        default_factory=list, description="Assertions that could not become an alert, and why."
    )
    unresolved_targets: list[str] = Field(
        default_factory=list, description="Asserted datasets no product claimed before."
    )
