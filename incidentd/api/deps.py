"""Request-scoped dependencies: database connections, the caller, and space access."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Connection, Engine, text

from incidentd.api.admission import PRINCIPAL
from incidentd.schemas.settings import Settings
from incidentd.storage.graphs import GraphCache
from incidentd.storage.spaces import INCIDENTS_FEATURE
from incidentd.storage.users import INGEST_ROLE, WRITER_ROLES, Principal

_bearer = HTTPBearer(auto_error=False, description="An API token from `incidentd users create`.")


@dataclass(frozen=True, slots=True)
class AppState:
    """What the app holds for its lifetime."""

    settings: Settings
    engine: Engine
    graphs: GraphCache


def app_state(request: Request) -> AppState:
    """The application's state."""
    state: AppState = request.app.state.incidentd
    return state


def connection(state: Annotated[AppState, Depends(app_state)]) -> Iterator[Connection]:
    """One transaction per request, committed when the handler returns without error."""
    with state.engine.begin() as conn:
        yield conn


# scope="function": the transaction commits before the response is sent, so a 2xx means
# the change is durable (and a failing commit becomes an error response, not a lost write).
Conn = Annotated[Connection, Depends(connection, scope="function")]


async def principal(
    request: Request,
    _documented: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller, authenticated from `Authorization: Bearer <token>` before the route ran.

    `AuthMiddleware` answers 401 without a valid token before any body is read; this only
    hands its finding to the route.
    """
    found = getattr(request.state, PRINCIPAL, None)
    if not isinstance(found, Principal):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing bearer token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return found


Caller = Annotated[Principal, Depends(principal)]
SlugPath = Annotated[str, Path(min_length=1, max_length=63, description="Space slug.")]


@dataclass(frozen=True, slots=True)
class SpaceAccess:
    """A space the caller may read, with their role and the space's features."""

    slug: str
    role: str
    features: tuple[str, ...]
    principal: Principal

    @property
    def can_write(self) -> bool:
        """Editors and admins may change things."""
        return self.role in WRITER_ROLES

    def require_write(self) -> None:
        """403 for viewers."""
        if not self.can_write:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, f"role '{self.role}' may not change anything here"
            )

    def require_admin(self) -> None:
        """403 for every role but admin."""
        if self.role != "admin":
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"role '{self.role}' may not administer space '{self.slug}'",
            )

    def require_incidents(self) -> None:
        """403 when the space lacks the incidents feature."""
        if INCIDENTS_FEATURE not in self.features:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"space '{self.slug}' does not have the '{INCIDENTS_FEATURE}' feature",
            )


def member_space(slug: SlugPath, conn: Conn, caller: Caller) -> SpaceAccess:
    """The caller's role in `slug`; 404 when not a member (existence is not revealed)."""
    role = caller.roles.get(slug)
    row = None
    if role is not None:
        row = conn.execute(text("SELECT features FROM spaces WHERE slug = :s"), {"s": slug}).first()
    if role is None or row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"space '{slug}' not found")
    return SpaceAccess(slug, role, tuple(row.features), caller)


def space_access(slug: SlugPath, conn: Conn, caller: Caller) -> SpaceAccess:
    """A space the caller may read; 403 for an `ingest` token, which may only post alerts."""
    space = member_space(slug, conn, caller)
    if space.role == INGEST_ROLE:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "role 'ingest' may only post alerts")
    return space


def intake_space(slug: SlugPath, conn: Conn, caller: Caller) -> SpaceAccess:
    """A space the caller may post alerts to (ingest, editor or admin); 403 for viewers."""
    space = member_space(slug, conn, caller)
    if space.role != INGEST_ROLE:
        space.require_write()
    return space


Space = Annotated[SpaceAccess, Depends(space_access)]
IntakeSpace = Annotated[SpaceAccess, Depends(intake_space)]


def incident_space(space: Space) -> SpaceAccess:
    """A readable space with the incidents feature."""
    space.require_incidents()
    return space


def incident_space_for_write(space: Space) -> SpaceAccess:
    """A writable space with the incidents feature (feature first: it explains more)."""
    space.require_incidents()
    space.require_write()
    return space


def admin_space(space: Space) -> SpaceAccess:
    """A space the caller administers (subscriptions, members' tokens)."""
    space.require_admin()
    return space


AdminSpace = Annotated[SpaceAccess, Depends(admin_space)]
IncidentSpace = Annotated[SpaceAccess, Depends(incident_space)]
IncidentSpaceWrite = Annotated[SpaceAccess, Depends(incident_space_for_write)]
