"""Body limits and authentication before any body is read, on a real server (CONTRACT §10)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from bench.api_server import Served, serve

MB = 1024 * 1024


@pytest.fixture
def served(api: Any, tmp_path: Path) -> Iterator[tuple[Served, Any]]:
    """The API world served by a real `incidentd api` process."""
    with serve(api.settings.database_url, tmp_path / "api.log") as server:
        yield server, api


def _head(method: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [
        f"{method} {path} HTTP/1.1",
        "Host: 127.0.0.1",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _push(sock: socket.socket, data: bytes, seconds: float) -> int:
    """Send as much of `data` as the server accepts within `seconds`; returns bytes sent."""
    sock.settimeout(0.2)
    sent, deadline = 0, time.monotonic() + seconds
    while sent < len(data) and time.monotonic() < deadline:
        try:
            sent += sock.send(data[sent : sent + 65536])
        except TimeoutError:
            continue
        except OSError:
            break  # the server answered and closed the connection
    return sent


def _answer(sock: socket.socket, timeout: float = 5.0) -> tuple[int, dict[str, Any]]:
    """Status and JSON body of the response (reads until the body is complete)."""
    sock.settimeout(timeout)
    raw = b""
    while b"\r\n\r\n" not in raw:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed without an answer: {raw!r}"
        raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    length = next(
        int(v)
        for k, _, v in (h.partition(": ") for h in lines[1:])
        if k.lower() == "content-length"
    )
    while len(body) < length:
        body += sock.recv(65536)
    return int(lines[0].split()[1]), orjson.loads(body[:length])


def test_anonymous_300_mb_patch_is_refused_before_the_body_is_read(
    served: tuple[Served, Any],
) -> None:
    server, _ = served
    incident = "00000000-0000-0000-0000-000000000001"
    before = server.rss_mb()
    with server.connect() as sock:
        headers = {"Content-Type": "application/json", "Content-Length": str(300 * MB)}
        sock.sendall(_head("PATCH", f"/spaces/finance/incidents/{incident}", headers))
        sent = _push(sock, b" " * (64 * MB), seconds=3.0)
        status, body = _answer(sock)
    assert status == 401, body
    assert "token" in body["detail"]
    assert sent < 64 * MB  # the server stopped reading: it answered without the body
    assert server.rss_mb() - before < 50


def test_anonymous_chunked_upload_is_refused_before_the_body_is_read(
    served: tuple[Served, Any],
) -> None:
    server, _ = served
    with server.connect() as sock:
        headers = {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}
        sock.sendall(
            _head("POST", "/api/v1/lineage", headers) + b"10000\r\n" + b" " * 65536 + b"\r\n"
        )
        status, body = _answer(sock)
    assert status == 401, body


def test_declared_length_over_the_limit_is_413_without_reading(served: tuple[Served, Any]) -> None:
    server, api = served
    headers = {
        "Authorization": f"Bearer {api.tokens['editor']}",
        "Content-Type": "application/json",
        "Content-Length": str(2 * MB),
    }
    with server.connect() as sock:
        sock.sendall(_head("POST", "/spaces/finance/edges", headers))
        status, body = _answer(sock)
    assert status == 413, body
    assert str(MB) in body["detail"]


def test_streamed_body_over_the_limit_is_413_while_reading(served: tuple[Served, Any]) -> None:
    server, api = served
    headers = {
        "Authorization": f"Bearer {api.tokens['editor']}",
        "Content-Type": "application/json",
        "Transfer-Encoding": "chunked",
    }
    chunk = b"10000\r\n" + b" " * 65536 + b"\r\n"
    with server.connect() as sock:
        sock.sendall(_head("POST", "/spaces/finance/edges", headers))
        sent = _push(sock, chunk * 1024, seconds=5.0)  # 64 MiB in 64 KiB chunks
        status, body = _answer(sock)
    assert status == 413, body
    assert sent < 32 * MB


def test_lineage_route_has_a_larger_limit(served: tuple[Served, Any]) -> None:
    server, api = served
    event = {
        "job": {"namespace": "n", "name": "j"},
        "inputs": [{"namespace": "warehouse", "name": "a"}],
        "outputs": [{"namespace": "warehouse", "name": "b"}],
        "padding": "x" * (2 * MB),
    }
    answer = httpx.post(
        f"{server.base_url}/api/v1/lineage?space=finance",
        content=orjson.dumps(event),
        headers={"Authorization": f"Bearer {api.tokens['editor']}"},
        timeout=30,
    )
    assert answer.status_code == 201, answer.text
