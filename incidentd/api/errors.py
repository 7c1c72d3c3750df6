"""Errors of the HTTP API in one place: domain errors to answers, error bodies in OpenAPI.

Life-cycle rules raise domain errors (`correlation.lifecycle`); one handler answers them with
their status and `{"detail": ...}`. The OpenAPI document declares every error a route really
gives, with the `ApiError` body: 401 and 422 on every route (a token is checked first, and an
unknown query parameter is refused everywhere), 403 and 404 on routes of a space, 409 on writes
to an incident (a merged one is read-only). Routes added later are covered the same way.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse

from incidentd.correlation.lifecycle import (
    IncidentMergedError,
    IncidentNotFoundError,
    LifecycleError,
    NotAllowedError,
)
from incidentd.schemas.api.errors import ApiError

_STATUS: tuple[tuple[type[LifecycleError], int], ...] = (
    (IncidentNotFoundError, 404),
    (IncidentMergedError, 409),
    (NotAllowedError, 422),
)
_DESCRIPTIONS = {
    "401": "No valid bearer token.",
    "403": "A write by a viewer, or the space lacks the `quality.incidents` feature "
    "(`detail` says which).",
    "404": "No such space (for you), or nothing at that path in it.",
    "409": "The incident was merged into another one and no longer changes.",
    "422": "Invalid input: `detail` says what, `errors` lists each invalid input.",
}
_WRITES = {"post", "put", "patch", "delete"}


def status_of(exc: LifecycleError) -> int:
    """The HTTP status a refusal of the life-cycle rules answers with."""
    return next((code for kind, code in _STATUS if isinstance(exc, kind)), 409)


def install(app: FastAPI) -> None:
    """Map domain errors to answers and declare the error bodies in `/openapi.json`."""

    async def _refused(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, LifecycleError)
        return JSONResponse(status_code=status_of(exc), content={"detail": str(exc)})

    app.add_exception_handler(LifecycleError, _refused)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            declare_errors(document)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def declare_errors(document: dict[str, Any]) -> None:
    """Add the error answers each operation gives, every one with the `ApiError` body."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas["ApiError"] = ApiError.model_json_schema(ref_template="#/components/schemas/{model}")
    body = {"application/json": {"schema": {"$ref": "#/components/schemas/ApiError"}}}
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            for code in _codes(path, method):
                answer = responses.setdefault(code, {"description": _DESCRIPTIONS[code]})
                answer["content"] = body


def _codes(path: str, method: str) -> list[str]:
    codes = ["401", "422"]
    if "{slug}" in path or "{tenant}" in path:
        codes += ["403", "404"]
    if "{incident_id}" in path and method in _WRITES:
        codes.append("409")
    return codes
