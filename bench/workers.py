"""`incidentd worker` subprocesses, their /metrics, and their resident memory."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path

import psutil

from bench.services import Topics
from incidentd.app.embedded import free_port

MAX_SAMPLING_SECONDS = 3600.0
"""A sampler stops by itself after this long, whatever happens to its phase."""
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{[^}]*\})? (\S+)$", re.M)
_LAG_ALERTS = re.compile(r'^incidentd_consumer_lag\{[^}]*topic="([^"]+)"[^}]*\}', re.M)


def worker_env(
    db_url: str,
    bootstrap: str,
    topics: Topics,
    port: int,
    max_poll_interval_ms: int = 6000,
    *,
    settings: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment of a worker on this phase's database and topics; `settings` (names
    without the `INCIDENTD_` prefix) go last, over the bench's own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INCIDENTD_")}
    env.update(
        {
            "INCIDENTD_DATABASE_URL": db_url,
            "INCIDENTD_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "INCIDENTD_ALERTS_TOPIC": topics.alerts,
            "INCIDENTD_INCIDENTS_TOPIC": topics.incidents,
            "INCIDENTD_DLQ_TOPIC": topics.dlq,
            "INCIDENTD_LINEAGE_TOPIC": topics.lineage,
            "INCIDENTD_CONSUMER_GROUP": topics.group,
            "INCIDENTD_MAX_POLL_INTERVAL_MS": str(max_poll_interval_ms),
            "INCIDENTD_SESSION_TIMEOUT_MS": "6000",
            "INCIDENTD_HEARTBEAT_INTERVAL_MS": "2000",
            "INCIDENTD_LINEAGE_REFRESH_SECONDS": "2",
            "INCIDENTD_METRICS_HOST": "127.0.0.1",
            "INCIDENTD_METRICS_PORT": str(port),
            "INCIDENTD_LOG_FORMAT": "json",
            "INCIDENTD_LOG_LEVEL": "WARNING",
        }
    )
    env.update({f"INCIDENTD_{k.upper()}": v for k, v in (settings or {}).items()})
    return env


class WorkerProc:
    """One `incidentd worker` subprocess, logging to a file."""

    def __init__(
        self,
        db_url: str,
        bootstrap: str,
        topics: Topics,
        log_path: Path,
        max_poll_ms: int,
        *,
        settings: Mapping[str, str] | None = None,
    ) -> None:
        self.port = free_port()
        self.log_path = log_path
        self._env = worker_env(db_url, bootstrap, topics, self.port, max_poll_ms, settings=settings)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProc:
        """Launch the worker."""
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "incidentd.app.cli", "worker"],
                env=self._env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        return self

    @property
    def pid(self) -> int:
        """The worker's process id."""
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        """Whether the process is still running."""
        return self.proc is not None and self.proc.poll() is None

    def scrape(self) -> str:
        """The /metrics text ('' while the endpoint does not answer)."""
        url = f"http://127.0.0.1:{self.port}/metrics"
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                return str(resp.read().decode())
        except OSError:
            return ""

    def metrics(self) -> dict[str, float]:
        """Every metric summed over its labels."""
        totals: dict[str, float] = {}
        for name, value in _SAMPLE.findall(self.scrape()):
            totals[name] = totals.get(name, 0.0) + float(value)
        return totals

    def assigned_topics(self) -> set[str]:
        """Topics this worker has reported lag for (it has, or had, partitions of them)."""
        return set(_LAG_ALERTS.findall(self.scrape()))

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM, then SIGKILL if it does not exit in time; returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.wait(10)

    def log_tail(self, lines: int = 20) -> str:
        """The end of the worker's log."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "<no log>"


class RssSampler:
    """Samples the resident set size of processes every `interval` seconds; keeps the peak."""

    def __init__(self, pids: list[int], interval: float = 0.1) -> None:
        self.peak: dict[int, int] = dict.fromkeys(pids, 0)
        self._procs = [psutil.Process(pid) for pid in pids]
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        deadline = time.monotonic() + MAX_SAMPLING_SECONDS
        while not self._stop.wait(self._interval) and time.monotonic() < deadline:
            for proc in self._procs:
                try:
                    rss = proc.memory_info().rss
                except psutil.Error:
                    continue  # exited
                self.peak[proc.pid] = max(self.peak[proc.pid], rss)


def wait_for(
    condition: Callable[[], bool],
    timeout: float,
    what: str,
    *,
    interval: float = 0.25,
    check: Callable[[], None] | None = None,
) -> None:
    """Poll `condition` until true; TimeoutError after `timeout` s; `check` may raise early."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check is not None:
            check()
        if condition():
            return
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
