"""The web UI under `/ui/`: server-rendered pages over the JSON API's own functions."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response

from incidentd.api.ui import insights
from incidentd.api.ui.render import STATIC_DIR, error_page
from incidentd.api.ui.routes import router
from incidentd.api.ui.session import COOKIE, LoginRequiredError, UiError, clear_cookie, ui_root

__all__ = ["install", "router"]


def install(app: FastAPI) -> None:
    """Add the UI's routes, its static files and its HTML error handling to `app`."""
    app.include_router(router)
    app.include_router(insights.router)
    app.mount("/ui/static", StaticFiles(directory=STATIC_DIR), name="ui-static")

    async def _ui_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, UiError)
        return error_page(request, exc.status_code, exc.message)

    async def _login_required(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, LoginRequiredError)
        root = ui_root(request)
        query = f"?{urlencode({'next': exc.next_path})}" if exc.next_path else ""
        response = RedirectResponse(f"{root}/login{query}", status_code=303)
        if exc.clear_cookie:
            clear_cookie(request, response, COOKIE, path=root)
        return response

    app.add_exception_handler(UiError, _ui_error)
    app.add_exception_handler(LoginRequiredError, _login_required)
