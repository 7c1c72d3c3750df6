"""Prometheus Alertmanager as a peer: the same stream posted to its v2 API.

Debian's `prometheus-alertmanager` package (or an `alertmanager` binary on PATH) is started on
loopback with an in-memory setup: one route grouping by space and product, a receiver that
sends nothing, no cluster. Each valid record becomes an Alertmanager alert (labels: alertname =
alert_type, space, product_id, fingerprint; a `resolved` record ends its alert at
`occurred_at`), posted in batches of 1,000 by two client threads over kept-alive connections,
bodies encoded before the clock starts. alerts/s = alerts posted / (first POST -> every POST
answered 200 -> a GET of the active alerts answered): accepted and held as active, which is
what Alertmanager does with an alert before grouping and notifying.
"""

from __future__ import annotations

import http.client
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import psutil

from bench.streams import Stream
from incidentd.app.embedded import free_port

BATCH = 1000
CLIENTS = 2
CONFIG = """route:
  receiver: devnull
  group_by: [space, product_id]
receivers:
  - name: devnull
"""
INSTALL_NOTE = (
    "skipped: no Alertmanager binary (install Debian's package: "
    "apt-get install prometheus-alertmanager)"
)


def binary() -> str | None:
    """The Alertmanager executable, if one is installed."""
    return shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")


def alertmanager_phase(stream: Stream, timeout: float = 600.0) -> dict[str, Any]:
    """Post the stream's valid alerts to a fresh Alertmanager; alerts/s and its CPU seconds."""
    exe = binary()
    if exe is None:
        return {"skipped": INSTALL_NOTE}
    bodies, count = _bodies(stream)
    with _server(exe, timeout) as (port, proc):
        version = _get(port, "/api/v2/status").get("versionInfo", {}).get("version", "?")
        cpu_before = _cpu(proc)
        started = time.perf_counter()
        _post_all(port, bodies)
        posted = time.perf_counter() - started
        active = len(_get(port, "/api/v2/alerts?active=true&silenced=true&inhibited=true"))
        seconds = time.perf_counter() - started
        cpu = _cpu(proc) - cpu_before
        rss = proc.memory_info().rss
    return {
        "version": version,
        "alerts_posted": count,
        "post_seconds": round(posted, 3),
        "seconds": round(seconds, 3),
        "alerts_per_s": round(count / seconds),
        "active_alerts": active,
        "cpu_seconds": round(cpu, 2),
        "rss_mib": round(rss / 2**20, 1),
    }


def _bodies(stream: Stream) -> tuple[list[bytes], int]:
    alerts = []
    for record in stream.records:
        if record.alert_id is None:
            continue  # malformed: Alertmanager's own API would refuse it as well
        alerts.append(_alert(orjson.loads(record.value)))
    bodies = [orjson.dumps(alerts[i : i + BATCH]) for i in range(0, len(alerts), BATCH)]
    return bodies, len(alerts)


def _alert(event: dict[str, Any]) -> dict[str, Any]:
    at = datetime.fromisoformat(event["occurred_at"].replace("Z", "+00:00"))
    labels = {
        "alertname": event["alert_type"],
        "space": event["space"],
        "product_id": event["product_id"],
        "fingerprint": event.get("fingerprint") or event["product_id"],
    }
    alert: dict[str, Any] = {
        "labels": labels,
        "annotations": {"title": event.get("title") or "", "alert_id": event["alert_id"]},
        "startsAt": at.isoformat(),
    }
    if event.get("status") == "resolved":
        alert["startsAt"] = (at - timedelta(minutes=1)).isoformat()
        alert["endsAt"] = at.isoformat()
    return alert


def _post_all(port: int, bodies: list[bytes]) -> None:
    errors: list[str] = []

    def client(share: list[bytes]) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        try:
            for body in share:
                conn.request("POST", "/api/v2/alerts", body, {"Content-Type": "application/json"})
                resp = conn.getresponse()
                answer = resp.read()
                if resp.status != 200:
                    errors.append(f"{resp.status} {answer[:200]!r}")
        finally:
            conn.close()

    threads = [threading.Thread(target=client, args=(bodies[i::CLIENTS],)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError(f"Alertmanager refused {len(errors)} batches: {errors[0]}")


def _get(port: int, path: str) -> Any:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return orjson.loads(resp.read())
    finally:
        conn.close()


def _cpu(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return float(times.user + times.system)


@contextmanager
def _server(exe: str, timeout: float) -> Iterator[tuple[int, psutil.Process]]:
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="incidentd-bench-am-") as tmp:
        config = Path(tmp) / "alertmanager.yml"
        config.write_text(CONFIG)
        cmd = [
            exe,
            f"--config.file={config}",
            f"--storage.path={tmp}/data",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
            "--log.level=warn",
        ]
        log = (Path(tmp) / "alertmanager.log").open("wb")
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_ready(port, proc, timeout, Path(tmp) / "alertmanager.log")
            yield port, psutil.Process(proc.pid)
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
            log.close()


def _wait_ready(port: int, proc: subprocess.Popen[bytes], timeout: float, log: Path) -> None:
    deadline = time.monotonic() + min(timeout, 60.0)
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"Alertmanager exited: {log.read_text()[-1000:]}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/-/ready")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)  # polling a server that is starting; not a test
    raise RuntimeError("Alertmanager did not become ready")
