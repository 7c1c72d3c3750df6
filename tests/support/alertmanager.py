"""A real Prometheus Alertmanager whose webhook receiver is this test process.

The binary is `$INCIDENTD_ALERTMANAGER`, else `alertmanager` or Debian's
`prometheus-alertmanager` on the PATH (.ci/run installs the Debian package), else one that
`go install` put in `$(go env GOPATH)/bin`. Alerts are posted to its API v2; the webhook payloads
it sends are collected as JSON.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from tests.support.wait import wait_until

NAMES = ("alertmanager", "prometheus-alertmanager")


def alertmanager_binary() -> Path:
    """The alertmanager executable; fails with how to install one when there is none."""
    found = os.environ.get("INCIDENTD_ALERTMANAGER")
    found = found or next((w for w in map(shutil.which, NAMES) if w), None)
    if found:
        return Path(found)
    gopath = Path(os.environ.get("GOPATH", Path.home() / "go"))
    if (gopath / "bin" / "alertmanager").exists():
        return gopath / "bin" / "alertmanager"
    raise AssertionError(
        "no Alertmanager: `apt-get install prometheus-alertmanager` (as .ci/run does), "
        "`go install github.com/prometheus/alertmanager/cmd/alertmanager@latest`, or set "
        "INCIDENTD_ALERTMANAGER to the binary"
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Receiver(BaseHTTPRequestHandler):
    payloads: list[dict[str, Any]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.payloads.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


CONFIG = """
route:
  receiver: incidentd
  group_by: ["..."]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: incidentd
    webhook_configs:
      - url: "{url}"
        send_resolved: true
"""


class Alertmanager:
    """A running Alertmanager: `post` alerts to it, read the webhook `payloads` it sent."""

    def __init__(self, url: str, payloads: list[dict[str, Any]]) -> None:
        self.url = url
        self.payloads = payloads

    def post(self, alerts: list[dict[str, Any]]) -> None:
        """Send alerts as Prometheus does (API v2)."""
        response = httpx.post(f"{self.url}/api/v2/alerts", json=alerts, timeout=10)
        response.raise_for_status()

    def wait_for(self, status: str, count: int = 1, timeout: float = 60) -> list[dict[str, Any]]:
        """The first `count` webhook payloads whose status is `status`."""

        def found() -> list[dict[str, Any]]:
            hits = [p for p in list(self.payloads) if p.get("status") == status]
            return hits[:count] if len(hits) >= count else []

        return wait_until(found, timeout=timeout, message=lambda: f"payloads: {self.payloads}")


@contextmanager
def running_alertmanager(workdir: Path) -> Iterator[Alertmanager]:
    """Alertmanager on a free port, sending every notification to an in-process receiver."""
    payloads: list[dict[str, Any]] = []
    handler = type("Receiver", (_Receiver,), {"payloads": payloads})
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    config = workdir / "alertmanager.yml"
    hook = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
    config.write_text(CONFIG.format(url=hook))
    port = _free_port()
    command = [
        str(alertmanager_binary()),
        f"--config.file={config}",
        f"--storage.path={workdir / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
        "--log.level=warn",
    ]
    log = (workdir / "alertmanager.log").open("w")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _ready(url, process), timeout=60, message="alertmanager did not start")
        yield Alertmanager(url, payloads)
    finally:
        process.terminate()
        process.wait(timeout=10)
        receiver.shutdown()
        log.close()


def _ready(url: str, process: subprocess.Popen[bytes]) -> bool:
    if process.poll() is not None:
        raise AssertionError(f"alertmanager exited with {process.returncode}")
    try:
        return httpx.get(f"{url}/-/ready", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
