"""The catalog: products and edges of a space, and lineage queries over them.

Every change bumps the space's `lineage_version`, so workers reload the graph within seconds.
Product ids may contain `/`: `/products/{id}` takes the rest of the path, except that a GET
ending in `/lineage` is the lineage query of the id before it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Response, status

from incidentd.api.deps import AppState, Conn, Space, SpaceAccess, app_state
from incidentd.schemas.api.catalog import (
    EdgeBody,
    EdgeOut,
    LineageDirection,
    LineageNode,
    ProductBody,
    ProductLineage,
    ProductList,
    ProductOut,
)
from incidentd.schemas.api.errors import ApiError
from incidentd.schemas.common import Tier
from incidentd.schemas.lineage import ProductSpec
from incidentd.storage.lineage import (
    DatasetClaimedError,
    StoredProduct,
    delete_edge,
    delete_product,
    get_product,
    lineage_version,
    list_products,
    put_edge,
    put_product,
)

router = APIRouter(prefix="/spaces/{slug}", tags=["catalog"])
State = Annotated[AppState, Depends(app_state)]
ProductIdPath = Annotated[
    str,
    Path(
        min_length=1,
        max_length=500,
        pattern=r"^[^\x00-\x1f\x7f]+$",
        description="Product id; may contain `/` (send it as is or percent-encoded).",
    ),
]


def error(description: str) -> dict[str, Any]:
    """An OpenAPI response entry for an error answer (`{"detail", "errors"?}`)."""
    return {"description": description, "model": ApiError}


NOT_FOUND: dict[int | str, dict[str, Any]] = {
    401: error("Missing, invalid or revoked bearer token."),
    404: error("No such space (for you) or product."),
    422: error("Invalid parameters; `errors` lists them."),
}
WRITE: dict[int | str, dict[str, Any]] = {
    **NOT_FOUND,
    400: error("The body could not be parsed."),
    403: error("The caller is a viewer of this space."),
}


def writable_space(space: Space) -> SpaceAccess:
    """A space the caller may change the catalog of (editor or admin); 403 for viewers."""
    space.require_write()
    return space


WritableSpace = Annotated[SpaceAccess, Depends(writable_space)]
_TIERS = frozenset(t.value for t in Tier)


def _out(product: StoredProduct) -> ProductOut:
    return ProductOut(
        id=product.id,
        space=product.space,
        name=product.name,
        owners=list(product.owners),
        stewards=list(product.stewards),
        tier=Tier(product.tier) if product.tier in _TIERS else None,
        tags=list(product.tags),
        datasets=list(product.datasets),
        project_id=product.project_id,
        connection_ids=list(product.connection_ids),
        connection_types=list(product.connection_types),
        updated_at=product.updated_at,
    )


def _not_found(product_id: str) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, f"product '{product_id}' not found")


@router.get("/products", response_model=ProductList, responses=NOT_FOUND)
def list_(
    space: Space,
    conn: Conn,
    skip: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    text_to_search: Annotated[
        str | None,
        Query(
            max_length=500,
            pattern=r"^[^\x00]*$",
            description="Substring of the id, name, a tag, owner, steward or dataset.",
        ),
    ] = None,
) -> ProductList:
    """The space's products ordered by id, filtered and paginated."""
    rows, total = list_products(conn, space.slug, text_to_search or None, skip, limit)
    return ProductList(items=[_out(r) for r in rows], total=total)


# Declared before `/products/{product_id}` so that `…/lineage` is not read as part of an id.
@router.get(
    "/products/{product_id:path}/lineage", response_model=ProductLineage, responses=NOT_FOUND
)
def lineage(
    product_id: ProductIdPath,
    *,
    space: Space,
    conn: Conn,
    state: State,
    direction: LineageDirection = LineageDirection.DOWNSTREAM,
    depth: Annotated[
        int | None, Query(ge=1, le=50, description="At most this many hops; unlimited if unset.")
    ] = None,
) -> ProductLineage:
    """The products up- or downstream of a product, each with its shortest hop distance."""
    version = lineage_version(conn, space.slug) or 0
    graph = state.graphs.get(conn, space.slug, version)
    if product_id not in graph:
        raise _not_found(product_id)
    if direction is LineageDirection.UPSTREAM:
        hops = graph.upstream(product_id, depth)
    else:
        hops = graph.downstream(product_id, depth)
    nodes = [
        LineageNode(product_id=p, hops=hops[p], name=graph.name(p), tier=graph.tier(p))
        for p in sorted(hops, key=lambda p: (hops[p], p))
    ]
    return ProductLineage(product_id=product_id, direction=direction, depth=depth, nodes=nodes)


@router.get("/products/{product_id:path}", response_model=ProductOut, responses=NOT_FOUND)
def get(product_id: ProductIdPath, space: Space, conn: Conn) -> ProductOut:
    """One product of the catalog."""
    product = get_product(conn, space.slug, product_id)
    if product is None:
        raise _not_found(product_id)
    return _out(product)


@router.put(
    "/products/{product_id:path}",
    response_model=ProductOut,
    responses={
        **WRITE,
        200: {"description": "Replaced (or already exactly so)."},
        201: {"description": "Created.", "model": ProductOut},
        409: error("A dataset it claims belongs to another product (of any space)."),
        422: error("Invalid body, or its `id`/`space` differ from the path."),
    },
)
def put(
    product_id: ProductIdPath,
    body: ProductBody,
    space: WritableSpace,
    conn: Conn,
    response: Response,
) -> ProductOut:
    """Create or replace a product. Omitting `datasets` keeps the datasets it claims."""
    for name, given, expected in (("id", body.id, product_id), ("space", body.space, space.slug)):
        if given is not None and given != expected:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                f"body {name} '{given}' differs from the path's '{expected}'",
            )
    spec = ProductSpec(
        id=product_id,
        space=space.slug,
        **body.model_dump(exclude={"id", "space"}),
    )
    try:
        outcome = put_product(conn, spec, keep_datasets="datasets" not in body.model_fields_set)
    except DatasetClaimedError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    if outcome == "created":
        response.status_code = status.HTTP_201_CREATED
    stored = get_product(conn, space.slug, product_id)
    assert stored is not None  # written above, in this transaction
    return _out(stored)


@router.delete(
    "/products/{product_id:path}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=WRITE,
)
def delete(product_id: ProductIdPath, space: WritableSpace, conn: Conn) -> Response:
    """Remove a product and every edge touching it."""
    if not delete_product(conn, space.slug, product_id):
        raise _not_found(product_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _edge_ends(body: EdgeBody) -> tuple[str, str]:
    if body.upstream == body.downstream:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"an edge cannot lead from '{body.upstream}' to itself",
        )
    return body.upstream, body.downstream


@router.post(
    "/edges",
    response_model=EdgeOut,
    status_code=status.HTTP_201_CREATED,
    responses={
        **WRITE,
        200: {"description": "The edge existed already.", "model": EdgeOut},
        201: {"description": "Created."},
        422: error("Invalid body, or a self-loop."),
    },
)
def add_edge(body: EdgeBody, space: WritableSpace, conn: Conn, response: Response) -> EdgeOut:
    """Add the edge `upstream -> downstream`; its ends need not be catalog products."""
    upstream, downstream = _edge_ends(body)
    if not put_edge(conn, space.slug, upstream, downstream):
        response.status_code = status.HTTP_200_OK
    return EdgeOut(space=space.slug, upstream=upstream, downstream=downstream)


@router.delete(
    "/edges",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses={**WRITE, 404: error("No such space (for you) or edge.")},
)
def remove_edge(body: EdgeBody, space: WritableSpace, conn: Conn) -> Response:
    """Remove the edge `upstream -> downstream`."""
    upstream, downstream = body.upstream, body.downstream
    if not delete_edge(conn, space.slug, upstream, downstream):
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"edge '{upstream}' -> '{downstream}' not found"
        )
    return Response(status_code=status.HTTP_204_NO_CONTENT)
