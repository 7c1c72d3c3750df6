"""API tokens of a space's members, for its admins: list them, revoke one.

Tokens are issued with `incidentd users create` / `incidentd users tokens create`; the token
itself is shown once then and never again, here or anywhere.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Response, status

from incidentd.api.deps import AdminSpace, Conn
from incidentd.api.routes.catalog import error
from incidentd.schemas.api.tokens import TokenOut
from incidentd.storage.tokens import list_tokens, revoke_token

router = APIRouter(prefix="/spaces/{slug}/tokens", tags=["tokens"])


_ERRORS: dict[int | str, dict[str, Any]] = {
    403: error("Only admins of the space manage its members' tokens."),
    404: error("No such space (for you), or no such token of its members."),
}


@router.get("", response_model=list[TokenOut], responses=_ERRORS)
def list_(space: AdminSpace, conn: Conn) -> list[TokenOut]:
    """Every token of the space's members, oldest first."""
    return [
        TokenOut(
            id=t.id,
            email=t.email,
            name=t.name,
            state=t.state,
            created_at=t.created_at,
            expires_at=t.expires_at,
            last_used_at=t.last_used_at,
            revoked_at=t.revoked_at,
        )
        for t in list_tokens(conn, space=space.slug)
    ]


@router.post(
    "/{token_id}/revoke",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=_ERRORS,
)
def revoke(
    token_id: Annotated[int, Path(ge=1, le=2**62)], space: AdminSpace, conn: Conn
) -> Response:
    """Revoke a member's token: it stops working at once, with the UI sessions opened by it."""
    if not revoke_token(conn, token_id, space=space.slug):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"token {token_id} not found")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
