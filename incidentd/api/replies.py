"""JSON answers sent straight from ASGI middleware, before any route runs."""

from __future__ import annotations

import orjson
from starlette.types import Send


async def json_reply(
    send: Send,
    status: int,
    body: dict[str, str],
    *,
    headers: dict[str, str] | None = None,
    close: bool = False,
) -> None:
    """Send a complete JSON response; `close` asks the client to drop the connection."""
    payload = orjson.dumps(body)
    raw = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
    ]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    if close:
        raw.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": payload})
