"""Jinja2 rendering of the UI pages (autoescaped) and the headers every page gets."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse

from incidentd.api.ui.session import ui_root

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
TEMPLATE_DIR = HERE / "templates"

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def _when(value: datetime | str | None) -> str:
    """`2026-03-01 14:05:09 UTC`, or an en dash."""
    if value is None:
        return "\u2013"
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _clock(value: datetime | str | None) -> str:
    """`2026-03-01 14:05:09` (UTC, said once in the page), or an en dash."""
    return _when(value).removesuffix(" UTC")


def _plural(count: int, word: str, many: str | None = None) -> str:
    return f"{count} {word if count == 1 else (many or word + 's')}"


env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
env.filters["when"] = _when
env.filters["plural"] = _plural
env.filters["clock"] = _clock


def page(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render `template` with the UI's common context."""
    context.setdefault("user", None)
    context.setdefault("csrf", None)
    context.setdefault("space", None)
    html = env.get_template(template).render(root=ui_root(request), **context)
    return HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)


def error_page(request: Request, status_code: int, message: str) -> HTMLResponse:
    """An error as a page with a way back."""
    titles = {403: "Not allowed", 404: "Not found", 409: "Conflict", 413: "Too large"}
    return page(
        request,
        "error.html",
        status_code,
        title=titles.get(status_code, "Something went wrong"),
        status=status_code,
        message=message,
    )
