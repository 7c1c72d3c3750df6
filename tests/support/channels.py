"""Local HTTP receivers and an in-process channel sender for notification channel tests."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from incidentd.app.embedded import free_port
from incidentd.channels.base import ChannelConfig
from incidentd.channels.registry import build
from incidentd.worker.metrics import WorkerMetrics
from incidentd.worker.retry import RetryPolicy
from incidentd.worker.sender import ChannelSender
from tests.support.api import SPACE, ApiWorld

PUBLIC_URL = "https://incidentd.example"
ROUTING_KEY = "R0123456789abcdef0123456789abcde"


@dataclass
class Received:
    """One request a receiver took."""

    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body as JSON."""
        return orjson.loads(self.body)


@dataclass
class Receiver:
    """A real HTTP server answering every POST with the status in `status` (200 at first).

    Only requests answered 2xx are kept in `received`; every one is counted in `attempts`.
    """

    server: HTTPServer
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    attempts: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.server.expect_request(re.compile("/.*"), method="POST").respond_with_handler(
            self._answer
        )

    def _answer(self, request: Request) -> Response:
        with self.lock:
            self.attempts += 1
            status = self.status
            if 200 <= status < 300:
                self.received.append(
                    Received(
                        request.path,
                        {k.lower(): v for k, v in request.headers.items()},
                        request.get_data(),
                    )
                )
        return Response("ok" if status < 300 else "no", status=status, headers=self.headers)

    def url(self, path: str) -> str:
        """The URL of `path` on this receiver."""
        return self.server.url_for(path)

    def bodies(self, path: str | None = None) -> list[Any]:
        """JSON bodies received so far (on `path` only, when given)."""
        with self.lock:
            return [r.json() for r in self.received if path is None or r.path == path]


def make_receiver() -> Iterator[Receiver]:
    """A receiver listening on a free local port until the test ends."""
    server = HTTPServer(host="127.0.0.1", port=free_port())
    server.start()
    try:
        yield Receiver(server)
    finally:
        server.clear()
        server.stop()


def make_sender(
    world: ApiWorld,
    receiver: Receiver,
    *,
    retry: RetryPolicy | None = None,
    gather_seconds: float = 0.0,
) -> tuple[ChannelSender, WorkerMetrics]:
    """A sender for every channel, PagerDuty pointed at the receiver's `/v2/enqueue`."""
    http = httpx.Client(timeout=5.0)
    config = ChannelConfig(public_url=PUBLIC_URL, pagerduty_url=receiver.url("/v2/enqueue"))
    metrics = WorkerMetrics()
    sender = ChannelSender(
        world.engine,
        metrics,
        build(config, http),
        retry=retry or RetryPolicy(0.01, 0.05, give_up_after=5),
        gather_seconds=gather_seconds,
        http=http,
    )
    return sender, metrics


def subscribe(world: ApiWorld, channel: str, target: str, **filter_: Any) -> dict[str, Any]:
    """Create a subscription as the space's admin; the response body."""
    response = world.client.post(
        f"/spaces/{SPACE}/subscriptions",
        json={"channel": channel, "target": target, "filter": filter_},
        headers=world.headers("admin"),
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def deliveries(world: ApiWorld, status: str | None = None) -> list[dict[str, Any]]:
    """The space's deliveries as the API lists them, oldest first."""
    params = {"limit": 200} | ({"status": status} if status else {})
    response = world.client.get(
        f"/spaces/{SPACE}/deliveries", params=params, headers=world.headers("admin")
    )
    assert response.status_code == 200, response.text
    return list(reversed(response.json()["items"]))
