"""What the correlation engine needs to know about lineage, as a protocol."""

from __future__ import annotations

from collections.abc import Mapping, Set
from typing import Protocol


class LineageView(Protocol):
    """Read-only lineage queries of one space; implementations cache by graph version."""

    def related_set(self, product_id: str) -> Set[str]:
        """Products related to `product_id` (CONTRACT §6): itself, every ancestor, every
        descendant and every product sharing a direct upstream with it."""
        ...

    def ancestors(self, product_id: str) -> Mapping[str, int]:
        """Every upstream product with its shortest hop distance (itself excluded)."""
        ...

    def descendants(self, product_id: str) -> Mapping[str, int]:
        """Every downstream product with its shortest hop distance (itself excluded)."""
        ...

    def tier(self, product_id: str) -> str | None:
        """The product's tier, if the catalog knows the product and its tier."""
        ...

    def name(self, product_id: str) -> str | None:
        """The product's display name, if known."""
        ...
