"""Query parameters a route does not apply are refused, for every route of the app.

A filter that is silently ignored looks applied: `?severity=low` on a route that takes
`severities` would answer with every incident. So each request's query keys are compared with
the query parameters the matched route declares (its own and its dependencies', walked once
per route and cached), and anything else is a 422 naming the accepted ones. Installed as an
app-level dependency, it covers every route, including routes added later.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel


def reject_unknown_query(request: Request) -> None:
    """422 when the query string holds a key the matched route does not declare."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or not request.query_params:
        return
    accepted = accepted_query(route)
    unknown = sorted(k for k in request.query_params if k not in accepted)
    if not unknown:
        return
    names = ", ".join(sorted(accepted)) if accepted else "none"
    raise RequestValidationError(
        [
            {
                "loc": ("query", key),
                "msg": f"unknown query parameter; this route accepts: {names}",
                "type": "unknown_query_parameter",
            }
            for key in unknown
        ]
    )


_CACHE = "_incidentd_accepted_query"


def accepted_query(route: APIRoute) -> frozenset[str]:
    """The query parameter names `route` reads, through all its dependencies (kept on it)."""
    known: frozenset[str] | None = getattr(route, _CACHE, None)
    if known is None:
        known = _declared(route.dependant)
        setattr(route, _CACHE, known)
    return known


def _declared(root: Dependant) -> frozenset[str]:
    names: set[str] = set()
    todo: list[Dependant] = [root]
    while todo:
        dependant = todo.pop()
        todo.extend(dependant.dependencies)
        for field in dependant.query_params:
            model = field.field_info.annotation
            if isinstance(model, type) and issubclass(model, BaseModel):
                names.update(f.alias or n for n, f in model.model_fields.items())
            else:
                names.add(field.alias)
    return frozenset(names)
