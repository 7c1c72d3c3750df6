"""`POST /api/v1/lineage`: OpenLineage `RunEvent`s as OpenLineage's HTTP transport sends them.

The event is applied as the worker applies one from the lineage topic (CONTRACT §5): datasets
claimed by products decide the space, else `?space=` or `INCIDENTD_LINEAGE_DEFAULT_SPACE`; every
input dataset's product feeds every output dataset's product; unclaimed datasets become nodes.
"""

from __future__ import annotations

import zlib
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, HTTPException, Query, Request, status

from incidentd.api.deps import AppState, Caller, Conn, app_state
from incidentd.api.limits import MIB, body_limit
from incidentd.api.routes.catalog import error
from incidentd.intake.base import IntakeError
from incidentd.lineage.openlineage import Claims, OpenLineageError, map_run_event
from incidentd.schemas.api.catalog import OpenLineageResult
from incidentd.schemas.common import Slug
from incidentd.storage.intake import apply_run_event
from incidentd.storage.lineage import DatasetClaimedError, claim_of
from incidentd.storage.users import WRITER_ROLES, Principal

router = APIRouter(prefix="/api/v1", tags=["lineage"])
State = Annotated[AppState, Depends(app_state)]

MAX_BODY_BYTES = 5 * MIB
"""Largest request body accepted, compressed or not."""
MAX_EVENT_BYTES = 20 * MIB
"""Largest event accepted after gzip decompression."""

_NAME = {"type": "string", "minLength": 1}
_PART = {**_NAME, "pattern": "^[^\\x00]+$"}
_DATASET = {
    "type": "object",
    "required": ["namespace", "name"],
    "properties": {"namespace": _PART, "name": _PART},
}
_RUN_EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "An OpenLineage RunEvent (spec 2-0-2). Only `job`, `inputs` and `outputs` "
    "are read; every other field (`eventType`, `run`, facets, …) is accepted and ignored.",
    "required": ["job"],
    "properties": {
        "job": {
            "type": "object",
            "required": ["namespace", "name"],
            "properties": {"namespace": _NAME, "name": _NAME},
        },
        "inputs": {"type": ["array", "null"], "items": _DATASET},
        "outputs": {"type": ["array", "null"], "items": _DATASET},
    },
}
_EXAMPLE = {
    "eventType": "COMPLETE",
    "eventTime": "2026-02-27T14:00:00.000Z",
    "run": {"runId": "0176a8c2-fe01-7439-87e6-56a1a1b4029f", "facets": {}},
    "job": {"namespace": "airflow", "name": "orders_dag.transform", "facets": {}},
    "inputs": [{"namespace": "warehouse", "name": "orders_raw", "facets": {}}],
    "outputs": [{"namespace": "warehouse", "name": "orders_clean", "facets": {}}],
    "producer": "https://github.com/OpenLineage/OpenLineage/tree/1.54.0/client/python",
    "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
}


async def run_event(request: Request) -> object:
    """The request body as JSON (the route's body limit holds), gunzipped if `gzip`."""
    body = await request.body()
    encoding = request.headers.get("content-encoding", "").strip().lower()
    if encoding in ("gzip", "x-gzip"):
        data = _gunzip(bytes(body))
    elif encoding in ("", "identity"):
        data = bytes(body)
    else:
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            f"Content-Encoding '{encoding}' is not supported (use gzip or none)",
        )
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, f"body is not valid JSON: {exc}"
        ) from exc


def _gunzip(data: bytes) -> bytes:
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, MAX_EVENT_BYTES + 1)
    except zlib.error as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"body is not valid gzip: {exc}") from exc
    if len(out) > MAX_EVENT_BYTES:
        raise HTTPException(
            status.HTTP_413_CONTENT_TOO_LARGE, f"decompressed body exceeds {MAX_EVENT_BYTES} bytes"
        )
    if not inflater.eof:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "body is not valid gzip: truncated")
    return out


def _claims(conn: Conn, caller: Principal, foreign: list[str]) -> Claims:
    """Claims as the caller may see them: one by a space they are not a member of is not
    shown (the dataset looks unclaimed) but noted in `foreign`, to be refused later."""

    def claims(dataset: str) -> tuple[str, str] | None:
        if "\x00" in dataset:
            raise OpenLineageError(f"dataset {dataset!r} contains a NUL character")
        hit = claim_of(conn, dataset)
        if hit is not None and hit[0] not in caller.roles:
            foreign.append(dataset)
            return None
        return hit

    return claims


def lineage_writer(caller: Caller) -> Principal:
    """The caller, if they may change lineage somewhere; else 403 before the body is parsed."""
    if not caller.writes_somewhere():  # a viewer learns nothing, and costs nothing
        raise HTTPException(status.HTTP_403_FORBIDDEN, "the caller may not change any lineage")
    return caller


def _target(caller: Principal, space: str, named: bool) -> None:
    """404 unless the caller is a member of `space`, 403 unless they may write there."""
    role = caller.roles.get(space)
    if role is None:  # the same answer whether the space exists or not
        what = f"space '{space}'" if named else "the event's space"
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"{what} not found")
    if role not in WRITER_ROLES:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, f"role '{role}' may not change anything here"
        )


@router.post(
    "/lineage",
    response_model=OpenLineageResult,
    status_code=status.HTTP_201_CREATED,
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "An OpenLineage RunEvent as JSON; may be sent `Content-Encoding: gzip`.",
            "content": {"application/json": {"schema": _RUN_EVENT_SCHEMA, "example": _EXAMPLE}},
        }
    },
    responses={
        400: error("The body is not valid gzip."),
        401: error("Missing, invalid or revoked bearer token."),
        403: error("The caller is a viewer of the event's space, or writes nowhere."),
        404: error("The caller is not a member of the event's space (or it does not exist)."),
        409: error("A dataset of the event belongs to another space."),
        413: error("The body is too large."),
        415: error("Unsupported `Content-Encoding`."),
        422: error("Not JSON, or an event this service cannot use (says why)."),
    },
)
@body_limit(MAX_BODY_BYTES)
def post_run_event(
    caller: Annotated[Principal, Depends(lineage_writer)],  # before `event`: checked first
    event: Annotated[object, Depends(run_event)],
    conn: Conn,
    state: State,
    space: Annotated[
        Slug | None,
        Query(
            description="Space for events whose datasets no product claims "
            "(default: INCIDENTD_LINEAGE_DEFAULT_SPACE)."
        ),
    ] = None,
) -> OpenLineageResult:
    """Add the lineage of an OpenLineage RunEvent to the catalog of its space."""
    default_space = space or state.settings.lineage_default_space
    foreign: list[str] = []
    try:
        delta = map_run_event(
            event,
            _claims(conn, caller, foreign),
            default_space,
            max_datasets=state.settings.lineage_max_datasets,
        )
    except OpenLineageError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    _target(caller, delta.space, named=delta.space == space)
    if foreign:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"dataset '{foreign[0]}' belongs to another space; a dataset belongs to one space",
        )
    try:
        done = apply_run_event(conn, delta, event, topic=state.settings.alerts_topic)
    except DatasetClaimedError as exc:  # claimed by another request since it was looked up
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    except IntakeError as exc:  # the request's transaction rolls back: no lineage either
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, f"unusable dataQualityAssertions: {exc}"
        ) from exc
    alerts = done.alerts
    return OpenLineageResult(
        space=delta.space,
        products_added=len(done.products_added),
        edges_added=done.edges_added,
        alerts_queued=len(alerts.alerts) if alerts else 0,
        alerts_rejected=[f"{r.item}: {r.reason}" for r in alerts.rejected] if alerts else [],
        unresolved_targets=alerts.unresolved if alerts else [],
    )
