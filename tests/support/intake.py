"""A minimal source for tests of the intake path (the tools' own mappings have their tests)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from incidentd.intake import registry
from incidentd.intake.base import IntakeError, Mapped, Products, Rejected


class ChecksSource:
    """A source whose document is `{"checks": [{"target", "status", ...}]}` (tests the path)."""

    name = "checks"

    def map(self, document: Mapping[str, Any], *, space: str, products: Products) -> Mapped:
        """One alert per check; a check without a target is rejected."""
        if "checks" not in document:
            raise IntakeError("document has no 'checks'")
        out = Mapped()
        for index, check in enumerate(document["checks"]):
            if "target" not in check:
                out.rejected.append(Rejected(f"checks[{index}]", "no target"))
                continue
            ref = products.resolve(check["target"])
            if ref is None:
                out.unresolved.append(check["target"])
            out.alerts.append(
                {
                    "schema_version": 1,
                    "alert_id": f"chk-{index}",
                    "space": space,
                    "product_id": ref.product_id if ref else check["target"],
                    "alert_type": "quality_check_failed",
                    "status": check.get("status", "firing"),
                    "severity": check.get("severity", "high"),
                    "occurred_at": "2026-02-27T14:00:00Z",
                }
            )
        return out


@contextmanager
def registered(source: Any) -> Iterator[None]:
    """`source` in the intake registry for the duration of the block."""
    previous = registry.SOURCES.get(source.name)
    registry.SOURCES[source.name] = source
    try:
        yield
    finally:
        if previous is None:
            del registry.SOURCES[source.name]
        else:
            registry.SOURCES[source.name] = previous
