"""The web UI: sign-in, incident list, and the incident page with its blast-radius drawing.

Pages are rendered on the server (Jinja2, autoescaped) and need no JavaScript. Reads and
writes go through the JSON API's own route functions and dependencies, so the UI applies
exactly the same rules (membership, roles, the incidents feature, the space lock, events).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import text
from starlette.responses import HTMLResponse, Response

from incidentd.api.deps import AppState, Conn, SpaceAccess, app_state
from incidentd.api.errors import status_of
from incidentd.api.routes import incidents, insights, notify
from incidentd.api.ui.drawing import ROLE_LABELS, ROLE_ORDER, Drawing, ProductFacts, layout
from incidentd.api.ui.filters import STATUSES, Filters
from incidentd.api.ui.render import page
from incidentd.api.ui.session import (
    COOKIE,
    CSRF_FIELD,
    LOGIN_COOKIE,
    LOGIN_FORM_SECONDS,
    MAX_TOKEN_CHARS,
    SESSION_SECONDS,
    CsrfCaller,
    Form,
    UiCaller,
    UiError,
    UiSpace,
    UiSpaceWrite,
    clear_cookie,
    csrf_token,
    new_login_nonce,
    safe_next,
    same,
    session_token,
    set_cookie,
    ui_root,
)
from incidentd.correlation.lifecycle import LifecycleError
from incidentd.lineage.graph import LineageGraph
from incidentd.schemas.api.incidents import IncidentDetail
from incidentd.schemas.common import Impact, IncidentStatus, Severity
from incidentd.storage.incident_queries import products_info
from incidentd.storage.spaces import INCIDENTS_FEATURE
from incidentd.storage.tokens import close_session, open_session
from incidentd.storage.users import Principal

router = APIRouter(prefix="/ui", include_in_schema=False)
State = Annotated[AppState, Depends(app_state)]
PAGE_SIZE = 25
DONE_MESSAGES = {
    "resolved": "Incident resolved.",
    "nothing-new": "Everyone downstream was already told; nobody was notified again.",
}


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})


def _incident_url(root: str, slug: str, incident_id: str) -> str:
    return f"{root}/spaces/{quote(slug, safe='')}/incidents/{quote(incident_id, safe='')}"


def common_context(
    request: Request, caller: Principal, space: SpaceAccess | None
) -> dict[str, Any]:
    """What every signed-in page shows: the user, the space, the CSRF token for its forms."""
    token = session_token(request) or ""
    return {"user": caller, "csrf": csrf_token(token), "space": space, "csrf_field": CSRF_FIELD}


# --- sign-in --------------------------------------------------------------------------------


@router.get("", response_class=HTMLResponse)
@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> Response:
    """The UI starts at the space picker (which sends strangers to sign in)."""
    return _redirect(f"{ui_root(request)}/spaces")


def _login_form(
    request: Request, next_path: str | None, error: str | None = None, status_code: int = 200
) -> Response:
    nonce = new_login_nonce()
    response = page(
        request,
        "login.html",
        status_code,
        title="Sign in",
        nonce=nonce,
        next_path=next_path or "",
        error=error,
    )
    set_cookie(
        request,
        response,
        LOGIN_COOKIE,
        nonce,
        path=f"{ui_root(request)}/login",
        max_age=LOGIN_FORM_SECONDS,
    )
    return response


@router.get("/login", response_class=HTMLResponse)
def login_form(
    request: Request, next_: Annotated[str | None, Query(alias="next")] = None
) -> Response:
    """Paste an API token to sign in."""
    return _login_form(request, safe_next(next_, ui_root(request)))


@router.post("/login", response_class=HTMLResponse)
def login(request: Request, form: Form, conn: Conn) -> Response:
    """Check the token; on success keep it in an HttpOnly, SameSite=Strict cookie."""
    root = ui_root(request)
    next_path = safe_next(form.get("next"), root)
    if not same(request.cookies.get(LOGIN_COOKIE), form.get("login_nonce", "")):
        return _login_form(request, next_path, "The sign-in form expired. Try again.", 403)
    token = form.get("token", "").strip()
    session = None
    if token and len(token) <= MAX_TOKEN_CHARS:
        session = open_session(conn, token, SESSION_SECONDS)
    if session is None:
        return _login_form(
            request, next_path, "That token is not valid (or expired, or was revoked).", 401
        )
    response = _redirect(next_path or f"{root}/spaces")
    set_cookie(request, response, COOKIE, session, path=root, max_age=SESSION_SECONDS)
    clear_cookie(request, response, LOGIN_COOKIE, path=f"{root}/login")
    return response


@router.post("/logout")
def logout(request: Request, caller: CsrfCaller, conn: Conn) -> Response:
    """End the session and forget its cookie."""
    close_session(conn, session_token(request) or "")
    root = ui_root(request)
    response = _redirect(f"{root}/login")
    clear_cookie(request, response, COOKIE, path=root)
    return response


@router.get("/spaces", response_class=HTMLResponse)
def spaces(request: Request, caller: UiCaller, conn: Conn) -> Response:
    """The spaces the signed-in user belongs to."""
    rows = conn.execute(
        text("SELECT slug, name, features FROM spaces WHERE slug = ANY(:s) ORDER BY slug"),
        {"s": sorted(caller.roles)},
    ).fetchall()
    listed = [
        {
            "slug": r.slug,
            "name": r.name,
            "role": caller.roles[r.slug],
            "incidents": INCIDENTS_FEATURE in r.features,
        }
        for r in rows
    ]
    return page(
        request,
        "spaces.html",
        title="Spaces",
        spaces=listed,
        **common_context(request, caller, None),
    )


@router.get("/spaces/{slug}", response_class=HTMLResponse)
def space_home(request: Request, slug: str, space: UiSpace) -> Response:
    """A space opens on its incident list."""
    return _redirect(f"{ui_root(request)}/spaces/{quote(space.slug, safe='')}/incidents")


# --- incident list --------------------------------------------------------------------------


@router.get("/spaces/{slug}/incidents", response_class=HTMLResponse)
def incident_list(  # noqa: PLR0917 - FastAPI passes query parameters by keyword
    request: Request,
    space: UiSpace,
    caller: UiCaller,
    conn: Conn,
    chosen: Filters,
    page_: Annotated[str | None, Query(alias="page")] = None,
) -> Response:
    """Incidents of the space, newest first, with filters and pages."""
    number = int(page_) if page_ and page_.isdigit() and 0 < int(page_) < 100_000 else 1
    with ui_errors():
        flt = chosen.incident_filter()
    found = incidents.list_(space, conn, flt, skip=(number - 1) * PAGE_SIZE, limit=PAGE_SIZE)
    pages = max(1, -(-found.total // PAGE_SIZE))
    active = chosen.query()

    def page_link(n: int) -> str:
        return "?" + urlencode({**active, "page": n} if n > 1 else active)

    return page(
        request,
        "incidents.html",
        title=f"Incidents \u00b7 {space.slug}",
        items=found.items,
        total=found.total,
        number=number,
        pages=pages,
        first_shown=(number - 1) * PAGE_SIZE + 1,
        last_shown=min(number * PAGE_SIZE, found.total),
        newer=page_link(number - 1) if number > 1 else None,
        older=page_link(number + 1) if number < pages else None,
        chosen=chosen,
        filtered=bool(active),
        statuses=STATUSES,
        severities=[s.value for s in Severity],
        impacts=[i.value for i in Impact],
        **common_context(request, caller, space),
    )


# --- incident page --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ListedProduct:
    """A product in the side list."""

    facts: ProductFacts
    column: int | None

    @property
    def role_label(self) -> str:
        """How the role reads in the list."""
        return ROLE_LABELS[self.facts.role]


def _graph(conn: Conn, state: AppState, slug: str) -> LineageGraph:
    version = conn.execute(
        text("SELECT lineage_version FROM spaces WHERE slug = :s"), {"s": slug}
    ).scalar_one()
    return state.graphs.get(conn, slug, int(version))


def _upstream_steps(graph: LineageGraph, product: str, roots: list[str]) -> int:
    steps = [graph.ancestors(r)[product] for r in roots if product in graph.ancestors(r)]
    return min(steps, default=1)


def blast_radius_drawing(
    conn: Conn, state: AppState, detail: IncidentDetail
) -> tuple[Drawing, list[ListedProduct]]:
    """The drawing of an incident's blast radius, and the side list of its products."""
    graph = _graph(conn, state, detail.space)
    alerted = set(detail.products)
    radius = {p.product_id: p for p in detail.blast_radius}
    candidates = [
        p for p in sorted(alerted) if p in radius and alerted.isdisjoint(graph.ancestors(p))
    ]
    root = detail.root_product_id
    roots = [root] if root is not None and root in radius else []
    roots += [c for c in candidates if c not in roots]
    upstream = [u for u in dict.fromkeys(detail.suspected_upstream) if u not in radius]
    facts = [
        ProductFacts(
            product_id=p.product_id,
            role="root" if p.product_id == root else "alerted" if p.alerted else "affected",
            hops=p.hops,
            name=p.name,
            tier=p.tier,
            owners=tuple(p.owners),
            stewards=tuple(p.stewards),
            root_candidate=p.product_id in candidates,
        )
        for p in detail.blast_radius
    ]
    info = products_info(conn, detail.space, upstream)
    steps: dict[str, int] = {}
    for product in upstream:
        row = info.get(product)
        steps[product] = _upstream_steps(graph, product, roots)
        facts.append(
            ProductFacts(
                product_id=product,
                role="upstream",
                hops=-steps[product],
                name=row.name if row else None,
                tier=row.tier if row else None,
                owners=tuple(row.owners) if row else (),
                stewards=tuple(row.stewards) if row else (),
            )
        )
    edges = graph.subgraph_edges([*radius, *upstream])
    drawing = layout(facts, roots, edges, steps)
    columns = {n.product_id: n.column for n in drawing.nodes}
    rows = [ListedProduct(f, columns.get(f.product_id)) for f in facts]
    rows.sort(key=lambda r: (ROLE_ORDER[r.facts.role], r.facts.hops, r.facts.product_id))
    return drawing, rows


@contextmanager
def ui_errors() -> Iterator[None]:
    """The JSON API's errors (HTTP and life-cycle) raised inside, as the UI's error page."""
    try:
        yield
    except LifecycleError as exc:
        raise UiError(status_of(exc), str(exc)) from exc
    except HTTPException as exc:
        raise UiError(exc.status_code, str(exc.detail)) from exc


def _flash(done: str | None, told: str | None, products: str | None) -> str | None:
    if done == "notified":
        people = int(told) if told and told.isdigit() else 0
        count = int(products) if products and products.isdigit() else 0
        return (
            f"Notified {people} {'person' if people == 1 else 'people'} downstream "
            f"about {count} product{'' if count == 1 else 's'}."
        )
    return DONE_MESSAGES.get(done or "")


@router.get("/spaces/{slug}/incidents/{incident_id}", response_class=HTMLResponse)
def incident_page(  # noqa: PLR0917 - FastAPI passes query parameters by keyword
    request: Request,
    incident_id: str,
    space: UiSpace,
    caller: UiCaller,
    conn: Conn,
    state: State,
    done: str | None = None,
    told: str | None = None,
    products: str | None = None,
) -> Response:
    """An incident: details, timeline, the blast-radius drawing and the product list."""
    with ui_errors():
        detail = incidents.get(incident_id, space, conn, state)
        history = insights.history(incident_id, space, conn)
    drawing, rows = blast_radius_drawing(conn, state, detail)
    alerts = {a.alert_id: a for a in detail.alerts}
    return page(
        request,
        "incident.html",
        title=detail.title,
        incident=detail,
        history=history,
        alerts=alerts,
        drawing=drawing,
        rows=rows,
        flash=_flash(done, told, products),
        can_write=space.can_write,
        can_resolve=detail.status is not IncidentStatus.RESOLVED and detail.merged_into is None,
        can_notify=detail.merged_into is None,
        incident_url=_incident_url(ui_root(request), space.slug, detail.id),
        **common_context(request, caller, space),
    )


@router.post("/spaces/{slug}/incidents/{incident_id}/resolve")
def resolve(
    request: Request, incident_id: str, space: UiSpaceWrite, conn: Conn, state: State
) -> Response:
    """The Resolve button: the JSON API's resolve, then back to the incident."""
    with ui_errors():
        resource = incidents.resolve(incident_id, space, conn, state)
    url = _incident_url(ui_root(request), space.slug, resource.id)
    return _redirect(f"{url}?done=resolved")


@router.post("/spaces/{slug}/incidents/{incident_id}/notify")
def notify_downstream(
    request: Request, incident_id: str, space: UiSpaceWrite, conn: Conn, state: State
) -> Response:
    """The Notify downstream button: the JSON API's notify-downstream, then back."""
    with ui_errors():
        outcome = notify.notify(incident_id, space, conn, state)
    url = _incident_url(ui_root(request), space.slug, incident_id)
    if not outcome.newly_notified:
        return _redirect(f"{url}?done=nothing-new")
    query = urlencode(
        {
            "done": "notified",
            "told": len(outcome.newly_notified),
            "products": len(outcome.new_products),
        }
    )
    return _redirect(f"{url}?{query}")
