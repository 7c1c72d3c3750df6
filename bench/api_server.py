"""`incidentd api` as a real server process on loopback (the load test and `bench api`)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

from incidentd.app.embedded import free_port


@dataclass(frozen=True)
class Served:
    """A running API server: where it listens and its process."""

    base_url: str
    host: str
    port: int
    process: psutil.Process

    def rss_mb(self) -> float:
        """The server's resident memory in MB."""
        return float(self.process.memory_info().rss) / 1e6

    def connect(self, timeout: float = 5.0) -> socket.socket:
        """A raw TCP connection to the server."""
        return socket.create_connection((self.host, self.port), timeout=timeout)


def _up(base_url: str) -> bool:
    try:
        return httpx.get(f"{base_url}/healthz", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def serve(database_url: str, log: Path, **settings: str) -> Iterator[Served]:
    """Start `incidentd api` on a free loopback port with `INCIDENTD_*` settings; stop it after."""
    port = free_port()
    env = {**os.environ, "INCIDENTD_DATABASE_URL": database_url}
    env.update({f"INCIDENTD_{k.upper()}": v for k, v in settings.items()})
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "incidentd.app",
                "api",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while proc.poll() is None and not _up(base_url) and time.monotonic() < deadline:
            time.sleep(0.1)  # polling the server's start, bounded by the deadline
        if proc.poll() is not None or not _up(base_url):
            raise RuntimeError(f"api did not start: {log.read_text()[-2000:]}")
        yield Served(base_url, "127.0.0.1", port, psutil.Process(proc.pid))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)
