"""Intake over HTTP: alert events v1, or a monitoring tool's own document, into `dq.alerts`.

`POST /spaces/{slug}/alerts` takes a JSON array of alert events; `POST
/spaces/{slug}/alerts/{tool}` the document the tool writes (dbt's `{"run_results",
"manifest"}`, a Great Expectations validation result, a Soda scan, an Alertmanager webhook).
Both queue the alerts in the request's transaction (the worker's relay publishes them): 202
when every item became an alert, 422 naming each rejected item while the others are queued,
422 with nothing queued when the document as a whole is unusable.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, status
from fastapi.responses import JSONResponse

from incidentd.api.deps import AppState, Conn, IntakeSpace, app_state
from incidentd.api.limits import body_limit
from incidentd.api.routes.catalog import error
from incidentd.api.routes.lineage import run_event
from incidentd.intake import registry
from incidentd.intake.base import IntakeError
from incidentd.schemas.api.intake import IntakeReport, RejectedItem
from incidentd.storage.intake import IntakeResult, ingest, ingest_events

router = APIRouter(prefix="/spaces/{slug}/alerts", tags=["intake"])
State = Annotated[AppState, Depends(app_state)]

MAX_DOCUMENT_BYTES = 4 * 1024 * 1024
"""Largest intake body accepted (4 MiB). A big dbt project's manifest is larger: pipelines
send those with `incidentd ingest dbt`, which reads the files and has no such limit."""
HTTP_TOOLS_EXCLUDED = frozenset({"openlineage"})  # arrives with lineage, at /api/v1/lineage

_RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {"description": "Every item became an alert and was queued.", "model": IntakeReport},
    401: error("Missing, invalid or revoked bearer token."),
    403: error("The caller is a viewer of this space."),
    404: error("No such space (for you), or no such tool (the answer lists the tools)."),
    400: error("The body is not valid gzip."),
    413: error("The body is larger than the intake's limit (4 MiB; 20 MiB unpacked)."),
    415: error("Unsupported `Content-Encoding` (gzip or none)."),
    422: {
        "description": "Some items were rejected (`rejections`; the others were queued), or "
        "the document as a whole is unusable (`detail`; nothing was queued).",
        "model": IntakeReport,
    },
}


_EVENTS_BODY = {
    "requestBody": {
        "required": True,
        "description": "A JSON array of alert events v1 (CONTRACT §2) of this space.",
        "content": {
            "application/json": {
                "schema": {"type": "array", "items": {"type": "object"}},
                "example": [
                    {
                        "schema_version": 1,
                        "alert_id": "chk-7781-run-20260227T1400",
                        "product_id": "orders_clean",
                        "alert_type": "quality_check_failed",
                        "severity": "critical",
                        "occurred_at": "2026-02-27T14:00:00Z",
                    }
                ],
            }
        },
    }
}
_TOOL_BODY = {
    "requestBody": {
        "required": True,
        "description": 'The tool\'s own document: dbt `{"run_results", "manifest"}`, a Great '
        "Expectations validation result, a Soda scan result, an Alertmanager webhook payload.",
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
}


# The body as JSON, gunzipped under `Content-Encoding: gzip` (at most 20 MiB unpacked), as
# `POST /api/v1/lineage` reads it: a large dbt manifest compresses well.
Document = Annotated[object, Depends(run_event)]


def http_tools() -> list[str]:
    """The tools whose documents `POST /spaces/{slug}/alerts/{tool}` takes."""
    return sorted(set(registry.SOURCES) - HTTP_TOOLS_EXCLUDED)


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    responses=_RESPONSES,
    openapi_extra=_EVENTS_BODY,
)
@body_limit(MAX_DOCUMENT_BYTES)
def post_alerts(space: IntakeSpace, document: Document, conn: Conn, state: State) -> JSONResponse:
    """Queue alert events v1 (a JSON array); each must be of this space."""
    if not isinstance(document, list):
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "the body must be a JSON array of alert events"
        )
    result = ingest_events(conn, document, space=space.slug, topic=state.settings.alerts_topic)
    return answer(result)


@router.post(
    "/{tool}",
    status_code=status.HTTP_202_ACCEPTED,
    responses=_RESPONSES,
    openapi_extra=_TOOL_BODY,
)
@body_limit(MAX_DOCUMENT_BYTES)
def post_tool_document(
    space: IntakeSpace,
    tool: Annotated[str, Path(description="dbt, gx, soda or alertmanager.")],
    document: Document,
    conn: Conn,
    state: State,
) -> JSONResponse:
    """Map a tool's own document to alerts of this space and queue them."""
    source = registry.source(tool) if tool not in HTTP_TOOLS_EXCLUDED else None
    if source is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"no tool '{tool}'; the tools are: {', '.join(http_tools())}",
        )
    if not isinstance(document, Mapping):
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, f"a {tool} document must be a JSON object"
        )
    try:
        result = ingest(conn, source, document, space=space.slug, topic=state.settings.alerts_topic)
    except IntakeError as exc:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, f"unusable {tool} document: {exc}"
        ) from exc
    return answer(result)


def answer(result: IntakeResult) -> JSONResponse:
    """202 with the counts, or 422 naming each rejected item (the others are queued)."""
    report = IntakeReport(
        space=result.space,
        source=result.source,
        accepted=len(result.alerts),
        rejected=len(result.rejected),
        unresolved=len(result.unresolved),
        unresolved_targets=result.unresolved,
        rejections=[RejectedItem(item=r.item, reason=r.reason) for r in result.rejected],
    )
    code = status.HTTP_202_ACCEPTED
    if result.rejected:
        code = status.HTTP_422_UNPROCESSABLE_CONTENT
        report.detail = (
            f"{len(result.rejected)} item(s) rejected (see rejections); "
            f"{len(result.alerts)} alert(s) accepted"
        )
    return JSONResponse(report.model_dump(mode="json"), status_code=code)
