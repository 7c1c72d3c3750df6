"""The seam every source mapping implements: a tool's document in, alert events v1 out.

A mapping is a pure function of the document and a product resolver. It never reads files,
the database or the network, so it can be fuzzed like the alert parser. What it returns is
published whole or not at all by the caller (CLI, HTTP intake, the lineage topic).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


class IntakeError(ValueError):
    """The document as a whole cannot be used (its message names the problem)."""


@dataclass(frozen=True, slots=True)
class ProductRef:
    """A catalog product a tool's target resolved to."""

    space: str
    product_id: str


class Products(Protocol):
    """Resolves what a tool names (a dataset `namespace/name`, a dbt `unique_id`, a table)."""

    def resolve(self, name: str) -> ProductRef | None:
        """The product claiming `name` in its datasets, else a product whose id is `name`."""
        ...


@dataclass(frozen=True, slots=True)
class Rejected:
    """One item of a document that could not become an alert, and why."""

    item: str
    reason: str


@dataclass(slots=True)
class Mapped:
    """What a document became: alert event dicts (schema v1), rejections, unknown targets."""

    alerts: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)


class Source(Protocol):
    """A tool whose documents incidentd reads; `name` is its path segment (`dbt`, `gx`, …)."""

    name: str

    def map(self, document: Mapping[str, Any], *, space: str, products: Products) -> Mapped:
        """Map one native document to alert events of `space` (pure; raises IntakeError)."""
        ...


def stable_id(*parts: str) -> str:
    """A short, stable identifier from the parts (re-sending a document yields the same ids)."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()
    return digest[:32]
