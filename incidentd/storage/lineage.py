"""Lineage persistence: import, OpenLineage deltas, loading graphs, versions."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, text
from sqlalchemy.exc import IntegrityError

from incidentd.lineage.connections import connections_of
from incidentd.lineage.graph import LineageGraph, ProductInfo
from incidentd.schemas.lineage import EdgeSpec, LineageDocument, ProductSpec
from incidentd.storage.spaces import ensure_spaces

_PRODUCT_COLUMNS = (
    "name",
    "owners",
    "stewards",
    "tier",
    "tags",
    "datasets",
    "project_id",
    "connection_ids",
    "connection_types",
)
_INSERT_PRODUCT = (
    f"INSERT INTO products (space, id, {', '.join(_PRODUCT_COLUMNS)}) "
    f"VALUES (:space, :id, {', '.join(':' + c for c in _PRODUCT_COLUMNS)}) "
)


@dataclass(slots=True)
class ImportReport:
    """What an import changed."""

    spaces_created: list[str] = field(default_factory=list)
    products_added: list[str] = field(default_factory=list)
    products_updated: list[str] = field(default_factory=list)
    products_unchanged: int = 0
    edges_added: int = 0
    edges_unchanged: int = 0

    @property
    def changed(self) -> bool:
        """True when anything was written."""
        return bool(self.products_added or self.products_updated or self.edges_added)


def _product_values(spec: ProductSpec) -> dict[str, object]:
    connection_ids, connection_types = connections_of(spec.datasets)
    return {
        "space": spec.space,
        "id": spec.id,
        "name": spec.name,
        "owners": list(spec.owners),
        "stewards": list(spec.stewards),
        "tier": spec.tier.value if spec.tier else None,
        "tags": list(spec.tags),
        "datasets": list(spec.datasets),
        "project_id": spec.project_id,
        "connection_ids": list(connection_ids),
        "connection_types": list(connection_types),
    }


class DatasetClaimedError(ValueError):
    """A product claims a dataset that already belongs to another product (of any space).

    The message names the dataset, which the caller sent, and nothing of its owner.
    """


_CLAIMED = re.compile(r"\(dataset\)=\((?P<dataset>.*)\) already exists")


@contextmanager
def claims_checked(conn: Connection) -> Iterator[None]:
    """Turn a second claim of a dataset, refused by the database, into DatasetClaimedError."""
    try:
        with conn.begin_nested():
            yield
    except IntegrityError as exc:
        diag = getattr(exc.orig, "diag", None)
        if getattr(diag, "constraint_name", None) != "dataset_claims_pkey":
            raise
        found = _CLAIMED.search(str(getattr(diag, "message_detail", "")))
        dataset = found.group("dataset") if found else "?"
        raise DatasetClaimedError(
            f"dataset '{dataset}' already belongs to another product; "
            "a dataset belongs to one product of one space"
        ) from exc


def upsert_products(
    conn: Connection, products: Iterable[ProductSpec]
) -> tuple[list[str], list[str], int]:
    """Insert or replace products; returns (added, updated, unchanged count).

    DatasetClaimedError when a product claims a dataset another product holds.
    """
    added: list[str] = []
    updated: list[str] = []
    unchanged = 0
    changed_cols = " OR ".join(
        f"products.{c} IS DISTINCT FROM EXCLUDED.{c}" for c in _PRODUCT_COLUMNS
    )
    sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in _PRODUCT_COLUMNS)
    stmt = text(
        _INSERT_PRODUCT
        + f"ON CONFLICT (space, id) DO UPDATE SET {sets}, updated_at = now() WHERE {changed_cols} "
        "RETURNING (xmax = 0) AS inserted"
    )
    with claims_checked(conn):
        for spec in products:
            row = conn.execute(stmt, _product_values(spec)).first()
            label = f"{spec.space}/{spec.id}"
            if row is None:
                unchanged += 1
            elif row.inserted:
                added.append(label)
            else:
                updated.append(label)
    return added, updated, unchanged


def insert_missing_products(conn: Connection, products: Iterable[ProductSpec]) -> list[str]:
    """Insert products that do not exist yet, never touching existing ones; returns new ids."""
    added: list[str] = []
    stmt = text(_INSERT_PRODUCT + "ON CONFLICT (space, id) DO NOTHING RETURNING id")
    with claims_checked(conn):
        for spec in products:
            if conn.execute(stmt, _product_values(spec)).first() is not None:
                added.append(spec.id)
    return added


def insert_edges(conn: Connection, space_edges: Iterable[tuple[str, str, str]]) -> int:
    """Insert (space, upstream, downstream) edges that are new; returns how many."""
    rows = sorted(set(space_edges))
    if not rows:
        return 0
    result = conn.execute(
        text(
            "INSERT INTO edges (space, upstream, downstream) "
            "SELECT * FROM unnest(CAST(:s AS text[]), CAST(:u AS text[]), CAST(:d AS text[])) "
            "ON CONFLICT DO NOTHING RETURNING 1"
        ),
        {"s": [r[0] for r in rows], "u": [r[1] for r in rows], "d": [r[2] for r in rows]},
    )
    return len(result.fetchall())


def bump_versions(conn: Connection, spaces: Iterable[str]) -> None:
    """Tell every worker that these spaces' lineage changed."""
    names = sorted(set(spaces))
    if names:
        conn.execute(
            text(
                "UPDATE spaces SET lineage_version = lineage_version + 1 "
                "WHERE slug = ANY(CAST(:s AS text[]))"
            ),
            {"s": names},
        )


def _edge_space(edge: EdgeSpec, spaces_of: dict[str, set[str]]) -> str | None:
    if edge.space:
        return edge.space
    candidates = spaces_of.get(edge.upstream) or spaces_of.get(edge.downstream) or set()
    return min(candidates) if len(candidates) == 1 else None


def import_document(conn: Connection, doc: LineageDocument) -> ImportReport:
    """Idempotently import a lineage document; bumps the version of every changed space."""
    report = ImportReport()
    spaces_of: dict[str, set[str]] = {}
    for spec in doc.products:
        spaces_of.setdefault(spec.id, set()).add(spec.space)
    edge_rows: list[tuple[str, str, str]] = []
    for edge in doc.edges:
        space = _edge_space(edge, spaces_of) or _lookup_edge_space(conn, edge)
        edge_rows.append((space, edge.upstream, edge.downstream))
    all_spaces = {p.space for p in doc.products} | {r[0] for r in edge_rows}
    report.spaces_created = ensure_spaces(conn, all_spaces)
    added, updated, unchanged = upsert_products(conn, doc.products)
    report.products_added, report.products_updated = added, updated
    report.products_unchanged = unchanged
    report.edges_added = insert_edges(conn, edge_rows)
    report.edges_unchanged = len(set(edge_rows)) - report.edges_added
    touched = {label.split("/", 1)[0] for label in added + updated}
    if report.edges_added:
        touched |= {r[0] for r in edge_rows}
    bump_versions(conn, touched)
    return report


def _lookup_edge_space(conn: Connection, edge: EdgeSpec) -> str:
    rows = conn.execute(
        text("SELECT DISTINCT space FROM products WHERE id IN (:u, :d)"),
        {"u": edge.upstream, "d": edge.downstream},
    ).fetchall()
    if len(rows) != 1:
        raise ValueError(
            f"edge {edge.upstream} -> {edge.downstream}: cannot tell its space; set 'space'"
        )
    return str(rows[0][0])


def load_graph(conn: Connection, space: str, version: int) -> LineageGraph:
    """Build the lineage graph of one space from the catalog."""
    products = [
        ProductInfo(
            id=r.id,
            space=space,
            name=r.name,
            owners=tuple(r.owners),
            stewards=tuple(r.stewards),
            tier=r.tier,
            tags=tuple(r.tags),
            datasets=tuple(r.datasets),
        )
        for r in conn.execute(
            text(
                "SELECT id, name, owners, stewards, tier, tags, datasets "
                "FROM products WHERE space = :s"
            ),
            {"s": space},
        )
    ]
    edges = conn.execute(
        text("SELECT upstream, downstream FROM edges WHERE space = :s"), {"s": space}
    )
    return LineageGraph(space, products, [(r[0], r[1]) for r in edges], version=version)


def lineage_versions(conn: Connection) -> dict[str, int]:
    """The lineage version of every space."""
    rows = conn.execute(text("SELECT slug, lineage_version FROM spaces"))
    return {r.slug: int(r.lineage_version) for r in rows}


def claim_of(conn: Connection, dataset: str) -> tuple[str, str] | None:
    """(space, product id) of the one product that lists `dataset`, if any."""
    row = conn.execute(
        text("SELECT space, product_id FROM dataset_claims WHERE dataset = :d"), {"d": dataset}
    ).first()
    return None if row is None else (str(row[0]), str(row[1]))


# -- the catalog over HTTP: one product or edge at a time ---------------------------------


@dataclass(frozen=True, slots=True)
class StoredProduct:
    """A catalog row as stored, with the time it last changed."""

    space: str
    id: str
    name: str | None
    owners: tuple[str, ...]
    stewards: tuple[str, ...]
    tier: str | None
    tags: tuple[str, ...]
    datasets: tuple[str, ...]
    updated_at: datetime
    project_id: int = 0
    connection_ids: tuple[str, ...] = ()
    connection_types: tuple[str, ...] = ()


_SELECT_PRODUCT = (
    "SELECT space, id, name, owners, stewards, tier, tags, datasets, updated_at, project_id, "
    "connection_ids, connection_types FROM products "
)


def _stored(row: Row[Any]) -> StoredProduct:
    return StoredProduct(
        space=row.space,
        id=row.id,
        name=row.name,
        owners=tuple(row.owners),
        stewards=tuple(row.stewards),
        tier=row.tier,
        tags=tuple(row.tags),
        datasets=tuple(row.datasets),
        updated_at=row.updated_at,
        project_id=row.project_id,
        connection_ids=tuple(row.connection_ids),
        connection_types=tuple(row.connection_types),
    )


def get_product(conn: Connection, space: str, product_id: str) -> StoredProduct | None:
    """One product of `space`, or None."""
    row = conn.execute(
        text(_SELECT_PRODUCT + "WHERE space = :s AND id = :id"), {"s": space, "id": product_id}
    ).first()
    return None if row is None else _stored(row)


def list_products(
    conn: Connection, space: str, search: str | None, skip: int, limit: int
) -> tuple[list[StoredProduct], int]:
    """A page of `space`'s products by id, and how many match over all pages.

    `search` matches (case-insensitively, as a substring) the id, the name, a tag, an owner, a
    steward or a dataset.
    """
    where = "space = :s"
    params: dict[str, object] = {"s": space, "skip": skip, "limit": limit}
    if search:
        escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        params["q"] = f"%{escaped}%"
        where += (
            " AND (id ILIKE :q OR coalesce(name, '') ILIKE :q OR EXISTS ("
            "SELECT 1 FROM unnest(tags || owners || stewards || datasets) AS v WHERE v ILIKE :q))"
        )
    total = conn.execute(text(f"SELECT count(*) FROM products WHERE {where}"), params).scalar_one()
    rows = conn.execute(
        text(_SELECT_PRODUCT + f"WHERE {where} ORDER BY id OFFSET :skip LIMIT :limit"), params
    )
    return [_stored(r) for r in rows], int(total)


def put_product(conn: Connection, spec: ProductSpec, *, keep_datasets: bool = False) -> str:
    """Create or replace one product; returns `created`, `replaced` or `unchanged`.

    With `keep_datasets` an existing product keeps the datasets it claims (the caller did not
    say). Bumps the space's lineage version when anything changed.
    """
    if keep_datasets:
        current = conn.execute(
            text("SELECT datasets FROM products WHERE space = :s AND id = :id FOR UPDATE"),
            {"s": spec.space, "id": spec.id},
        ).first()
        if current is not None:
            spec = spec.model_copy(update={"datasets": list(current.datasets)})
    added, updated, _ = upsert_products(conn, [spec])
    if added or updated:
        bump_versions(conn, [spec.space])
    return "created" if added else "replaced" if updated else "unchanged"


def delete_product(conn: Connection, space: str, product_id: str) -> bool:
    """Remove a product and every edge touching it; False when there was neither.

    Bumps the space's lineage version when anything was removed.
    """
    product = conn.execute(
        text("DELETE FROM products WHERE space = :s AND id = :id RETURNING 1"),
        {"s": space, "id": product_id},
    ).first()
    edges = conn.execute(
        text(
            "DELETE FROM edges WHERE space = :s AND (upstream = :id OR downstream = :id) "
            "RETURNING 1"
        ),
        {"s": space, "id": product_id},
    ).fetchall()
    removed = product is not None or bool(edges)
    if removed:
        bump_versions(conn, [space])
    return removed


def put_edge(conn: Connection, space: str, upstream: str, downstream: str) -> bool:
    """Add the edge `upstream -> downstream`; False when it existed. Bumps the version if new."""
    added = insert_edges(conn, [(space, upstream, downstream)]) > 0
    if added:
        bump_versions(conn, [space])
    return added


def delete_edge(conn: Connection, space: str, upstream: str, downstream: str) -> bool:
    """Remove the edge `upstream -> downstream`; False when there was none. Bumps if removed."""
    row = conn.execute(
        text(
            "DELETE FROM edges WHERE space = :s AND upstream = :u AND downstream = :d RETURNING 1"
        ),
        {"s": space, "u": upstream, "d": downstream},
    ).first()
    if row is not None:
        bump_versions(conn, [space])
    return row is not None


def lineage_version(conn: Connection, space: str) -> int | None:
    """The current lineage version of `space`, or None when there is no such space."""
    value = conn.execute(
        text("SELECT lineage_version FROM spaces WHERE slug = :s"), {"s": space}
    ).scalar()
    return None if value is None else int(value)
