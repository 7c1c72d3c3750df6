"""The API served by uvicorn on a free local port, as clients reach it in production."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import uvicorn

from incidentd.api.app import create_app
from incidentd.schemas.settings import Settings
from tests.support.wait import wait_until


@contextmanager
def serve(settings: Settings) -> Iterator[str]:
    """The API under uvicorn on a free 127.0.0.1 port, in a background thread; yields its URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="uvicorn", daemon=True
    )
    thread.start()

    def ready() -> bool:
        if not thread.is_alive():
            raise AssertionError("uvicorn exited before it was ready")
        return bool(server.started)

    try:
        wait_until(ready, timeout=30, message="uvicorn did not start")
        url = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{url}/healthz", timeout=5).status_code == 200
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
        assert not thread.is_alive(), "uvicorn did not stop"
