"""Connections of data products: where their datasets live (CONTRACT §5); pure, no I/O.

A dataset is named `namespace/name` after OpenLineage's naming: the namespace is the
connection (`bigquery`, `gs://bucket`, `snowflake://org-account`, `postgres://host:5432`) and
its scheme, upper-cased, is the connection type (`BIGQUERY`, `GCS`, `SNOWFLAKE`, `POSTGRES`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

# Schemes whose connection type is not simply the scheme upper-cased.
_TYPE_ALIASES = {"gs": "GCS"}


@dataclass(frozen=True, slots=True)
class Connection:
    """A dataset's connection: its OpenLineage namespace and the namespace's type."""

    id: str
    type: str


def connection_of(dataset: str) -> Connection:
    """The connection of dataset `namespace/name`.

    The namespace ends at the first `/` after its authority: `gs://bucket/dir/file` is in
    `gs://bucket`, `bigquery/project.dataset.table` in `bigquery`. A name without `/` is a
    namespace of its own.
    """
    scheme, sep, rest = dataset.partition("://")
    if sep:
        authority = rest.split("/", 1)[0]
        namespace = f"{scheme}://{authority}"
    else:
        scheme = namespace = dataset.split("/", 1)[0]
    kind = scheme.strip().lower()
    return Connection(id=namespace, type=_TYPE_ALIASES.get(kind, kind.upper()))


def connections_of(datasets: Iterable[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The distinct connection ids and types of some datasets, each in first-seen order."""
    found = [connection_of(d) for d in datasets if d]
    ids = tuple(dict.fromkeys(c.id for c in found))
    types = tuple(dict.fromkeys(c.type for c in found))
    return ids, types
