"""Lineage documents: the import file format (CONTRACT §5)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from incidentd.schemas.common import EmailAddress, ProductId, Slug, Tier


class ProductSpec(BaseModel):
    """A data product, a node of the lineage graph."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: ProductId
    space: Slug
    name: str | None = None
    owners: list[EmailAddress] = Field(default_factory=list)
    stewards: list[EmailAddress] = Field(default_factory=list)
    tier: Tier | None = None
    tags: list[str] = Field(default_factory=list)
    datasets: list[str] = Field(default_factory=list)
    project_id: int = Field(
        default=0, ge=0, le=2**31 - 1, description="The project the product belongs to."
    )


class EdgeSpec(BaseModel):
    """A lineage edge pointing downstream."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    upstream: ProductId
    downstream: ProductId
    space: Slug | None = Field(
        default=None, description="Defaults to the space of the upstream product."
    )

    @model_validator(mode="after")
    def _not_a_loop(self) -> EdgeSpec:
        if self.upstream == self.downstream:
            raise ValueError(f"an edge cannot lead from '{self.upstream}' to itself")
        return self


class LineageDocument(BaseModel):
    """What `incidentd lineage import FILE` reads (YAML or JSON)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    products: list[ProductSpec] = Field(default_factory=list)
    edges: list[EdgeSpec] = Field(default_factory=list)
