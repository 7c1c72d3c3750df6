"""Sign-in for the web UI: a server-side session id in a cookie, CSRF tokens bound to it.

The API token pasted into the sign-in form is checked and opens a session; the cookie holds
only the session's random id, never the token (incidentd.storage.tokens keeps the sessions).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import Depends, HTTPException, Request
from starlette.responses import Response

from incidentd.api.deps import Conn, SpaceAccess, space_access
from incidentd.storage.tokens import session_principal
from incidentd.storage.users import Principal

COOKIE = "incidentd_session"
LOGIN_COOKIE = "incidentd_login_csrf"
CSRF_FIELD = "csrf_token"
MAX_FORM_BYTES = 64 * 1024
MAX_TOKEN_CHARS = 512
SESSION_SECONDS = 12 * 3600
LOGIN_FORM_SECONDS = 3600


class UiError(Exception):
    """An error shown as an HTML page."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message


class LoginRequiredError(Exception):
    """No valid session: the caller is sent to the sign-in page."""

    def __init__(self, next_path: str, *, clear_cookie: bool = False) -> None:
        super().__init__(next_path)
        self.next_path = next_path
        self.clear_cookie = clear_cookie


def ui_root(request: Request) -> str:
    """Path prefix of the UI (honours an ASGI root_path)."""
    return f"{request.scope.get('root_path', '')}/ui"


def csrf_token(session: str) -> str:
    """The CSRF token of a session: an HMAC of a fixed label keyed by the session id.

    It changes with every sign-in and tells nothing about the session id itself.
    """
    return hmac.new(session.encode(), b"incidentd-ui-csrf-v1", hashlib.sha256).hexdigest()


def same(a: str | None, b: str | None) -> bool:
    """Constant-time comparison; False when either is missing or empty."""
    return bool(a) and bool(b) and hmac.compare_digest(str(a).encode(), str(b).encode())


def new_login_nonce() -> str:
    """A fresh value for the sign-in form's double-submit cookie."""
    return secrets.token_urlsafe(24)


def set_cookie(
    request: Request, response: Response, name: str, value: str, *, path: str, max_age: int
) -> None:
    """An HttpOnly, SameSite=Strict cookie (Secure over https or by setting)."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=path,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )


def _secure(request: Request) -> bool:
    """Over https, or always with INCIDENTD_UI_COOKIE_SECURE (TLS ends at a proxy)."""
    settings = request.app.state.incidentd.settings
    return request.url.scheme == "https" or bool(settings.ui_cookie_secure)


def clear_cookie(request: Request, response: Response, name: str, *, path: str) -> None:
    """Remove a cookie set by `set_cookie`."""
    response.delete_cookie(
        name, path=path, httponly=True, samesite="strict", secure=_secure(request)
    )


def safe_next(value: str | None, root: str) -> str | None:
    """A same-site path inside the UI to return to after sign-in, or None."""
    if not value or len(value) > 2000 or not value.startswith(root + "/"):
        return None
    if "//" in value or "\\" in value or any(ord(c) < 32 for c in value):
        return None
    return value


async def form_fields(request: Request) -> dict[str, str]:
    """The fields of an `application/x-www-form-urlencoded` body (first value of each)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        return {}
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise UiError(413, "That form is too large.")
    fields: dict[str, str] = {}
    for key, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
        fields.setdefault(key, value)
    return fields


Form = Annotated[dict[str, str], Depends(form_fields)]


def session_token(request: Request) -> str | None:
    """The session id in the session cookie, if any."""
    token = request.cookies.get(COOKIE)
    if not token or len(token) > MAX_TOKEN_CHARS:
        return None
    return token


def _here(request: Request) -> str:
    path = request.url.path
    return path + (f"?{request.url.query}" if request.url.query else "")


def ui_principal(request: Request, conn: Conn) -> Principal:
    """The signed-in user; LoginRequiredError (a redirect to the sign-in page) otherwise."""
    token = session_token(request)
    if token is None:
        raise LoginRequiredError(_here(request) if request.method == "GET" else "")
    found = session_principal(conn, token)
    if found is None:
        raise LoginRequiredError(
            _here(request) if request.method == "GET" else "", clear_cookie=True
        )
    return found


UiCaller = Annotated[Principal, Depends(ui_principal)]


def require_csrf(request: Request, form: Form, caller: UiCaller) -> Principal:
    """The caller of a state-changing form, whose CSRF token must match the session; 403."""
    token = session_token(request)
    if token is None or not same(form.get(CSRF_FIELD), csrf_token(token)):
        raise UiError(403, "The form's security token is missing or stale. Reload and try again.")
    return caller


CsrfCaller = Annotated[Principal, Depends(require_csrf)]


def _space(slug: str, conn: Conn, caller: Principal) -> SpaceAccess:
    """The JSON API's space check (404 non-member, 403 no incidents feature), as HTML."""
    try:
        space = space_access(slug, conn, caller)
        space.require_incidents()
    except HTTPException as exc:
        raise UiError(exc.status_code, str(exc.detail)) from exc
    return space


def ui_space(slug: str, conn: Conn, caller: UiCaller) -> SpaceAccess:
    """A space the signed-in user may read."""
    return _space(slug, conn, caller)


def ui_space_for_write(slug: str, conn: Conn, caller: CsrfCaller) -> SpaceAccess:
    """A space the signed-in user may change, after the CSRF check."""
    space = _space(slug, conn, caller)
    try:
        space.require_write()
    except HTTPException as exc:
        raise UiError(exc.status_code, str(exc.detail)) from exc
    return space


UiSpace = Annotated[SpaceAccess, Depends(ui_space)]
UiSpaceWrite = Annotated[SpaceAccess, Depends(ui_space_for_write)]
