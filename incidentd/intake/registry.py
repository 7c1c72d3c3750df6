"""The tools incidentd reads, by the name used in `incidentd ingest TOOL` and the HTTP path."""

from __future__ import annotations

from incidentd.intake import alertmanager, dbt, gx, openlineage, soda
from incidentd.intake.base import Source

SOURCES: dict[str, Source] = {}


def register(source: Source) -> Source:
    """Add a tool's source to the registry (one line per tool module)."""
    SOURCES[source.name] = source
    return source


def source(name: str) -> Source | None:
    """The source called `name`, or None for a tool incidentd does not read."""
    return SOURCES.get(name)


register(dbt.SOURCE)
register(gx.SOURCE)
register(soda.SOURCE)
register(alertmanager.SOURCE)
register(openlineage.SOURCE)
