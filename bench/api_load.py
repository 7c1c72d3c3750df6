"""Many HTTP clients at once against a running `incidentd api`, and what they saw.

Each client sends one request after another (reads and writes mixed, round robin over a
weighted plan) until the time is up; a separate process asks `/healthz` every 50 ms.
Bounded in time (`seconds`) and in count (`max_requests` per client); loopback only.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import httpx

Request = tuple[str, str, str, dict[str, Any] | None]
"""(endpoint label, method, path, JSON body)."""
Plan = Callable[[int, int], Request]
"""`plan(client, n)` -> the n-th request of a client."""


@dataclass(frozen=True, slots=True)
class Sample:
    """One answered (or failed) request."""

    endpoint: str
    status: int
    seconds: float
    retry_after: str | None = None
    json_body: bool = True


@dataclass(slots=True)
class LoadResult:
    """Everything the clients and the health prober saw."""

    samples: list[Sample] = field(default_factory=list)
    health: list[Sample] = field(default_factory=list)
    seconds: float = 0.0

    def server_errors(self) -> list[Sample]:
        """Answers of 500 and above (503 included) and failed connections (status 0)."""
        return [s for s in self.samples if s.status >= 500 or s.status == 0]

    def slowest(self) -> float:
        """The longest request, in seconds."""
        return max((s.seconds for s in self.samples), default=0.0)

    def table(self) -> list[dict[str, Any]]:
        """Per endpoint: count, requests/s, p50 and p99 in ms, and the statuses seen."""
        rows = []
        groups: dict[str, list[Sample]] = {}
        for sample in [*self.samples, *self.health]:
            groups.setdefault(sample.endpoint, []).append(sample)
        for endpoint, group in sorted(groups.items()):
            times = sorted(s.seconds for s in group)
            rows.append(
                {
                    "endpoint": endpoint,
                    "requests": len(group),
                    "per_second": round(len(group) / self.seconds, 1) if self.seconds else 0.0,
                    "p50_ms": round(1000 * statistics.median(times), 1),
                    "p99_ms": round(1000 * times[min(len(times) - 1, int(len(times) * 0.99))], 1),
                    "statuses": dict(sorted(_count(s.status for s in group).items())),
                }
            )
        return rows


def _count(values: Any) -> dict[int, int]:
    counts: dict[int, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts


def run_load(
    base_url: str,
    headers: dict[str, str],
    plan: Plan,
    *,
    clients: int,
    seconds: float,
    max_requests: int = 100_000,
    pause: float = 0.0,
) -> LoadResult:
    """Drive `clients` concurrent clients for `seconds` while another process probes `/healthz`.

    Each client waits `pause` seconds after every answer (0: a closed loop at full speed).

    The prober runs in a process of its own so that the clients' work does not delay it.
    """
    result = LoadResult()
    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    found: Any = context.Queue()
    prober = context.Process(target=_probe, args=(base_url, found, stop), daemon=True)
    prober.start()
    started = time.monotonic()
    try:
        bounds = (clients, started + seconds, max_requests, pause)
        asyncio.run(_drive(base_url, headers, plan, bounds, result))
    finally:
        stop.set()
        result.health = [Sample(*row) for row in found.get(timeout=30)]
        prober.join(timeout=10)
    result.seconds = time.monotonic() - started
    return result


async def _drive(
    base_url: str,
    headers: dict[str, str],
    plan: Plan,
    bounds: tuple[int, float, int, float],
    result: LoadResult,
) -> None:
    clients, deadline, max_requests, pause = bounds
    connector = aiohttp.TCPConnector(limit=clients)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(
        base_url, headers=headers, connector=connector, timeout=timeout
    ) as http:
        await asyncio.gather(
            *(
                _client(http, plan, c, (deadline, max_requests, pause), result)
                for c in range(clients)
            )
        )


async def _client(
    http: aiohttp.ClientSession,
    plan: Plan,
    client: int,
    bounds: tuple[float, int, float],
    result: LoadResult,
) -> None:
    deadline, max_requests, pause = bounds
    for n in range(max_requests):
        if n and time.monotonic() >= deadline:
            return
        endpoint, method, path, body = plan(client, n)
        began = time.monotonic()
        try:
            async with http.request(method, path, json=body) as answer:
                await answer.read()
                status, retry = answer.status, answer.headers.get("retry-after")
                is_json = answer.content_type == "application/json"
        except (aiohttp.ClientError, TimeoutError):
            status, retry, is_json = 0, None, False
        result.samples.append(
            Sample(endpoint, status, time.monotonic() - began, retry, is_json or status == 204)
        )
        if pause:
            await asyncio.sleep(pause)  # the client's think time, part of the load's shape


def _probe(base_url: str, out: Any, stop: Any) -> None:
    """Ask `/healthz` every 50 ms until `stop` is set; put the samples on `out`."""
    samples = []
    with httpx.Client(base_url=base_url, timeout=10.0) as http:
        while not stop.wait(0.05):
            began = time.monotonic()
            try:
                status = http.get("/healthz").status_code
            except httpx.HTTPError:
                status = 0
            samples.append(("/healthz", status, time.monotonic() - began))
    out.put(samples)


def mixed_plan(space: str, incidents: list[str]) -> Plan:
    """Reads (lists, one incident, its timeline, products) and writes (PATCH, new edges)."""

    def plan(client: int, n: int) -> Request:
        incident = incidents[(client + n) % len(incidents)]
        base = f"/spaces/{space}"
        kinds: list[Request] = [
            ("GET incidents", "GET", f"{base}/incidents?limit=20", None),
            ("GET incident", "GET", f"{base}/incidents/{incident}", None),
            ("GET products", "GET", f"{base}/products", None),
            ("GET incidents", "GET", f"{base}/incidents?status=open", None),
            ("PATCH incident", "PATCH", f"{base}/incidents/{incident}", {"root_cause": f"c{n}"}),
            ("GET timeline", "GET", f"{base}/incidents/{incident}/timeline", None),
            (
                "POST edges",
                "POST",
                f"{base}/edges",
                {"upstream": f"u{client}", "downstream": "mart"},
            ),
        ]
        return kinds[(client * 3 + n) % len(kinds)]

    return plan


def overload(base_url: str, headers: dict[str, str], path: str, clients: int) -> list[Sample]:
    """`clients` requests of `path` at the same instant, once each."""

    def plan(client: int, n: int) -> Request:
        return ("burst", "GET", path, None)

    return run_load(base_url, headers, plan, clients=clients, seconds=0.01, max_requests=1).samples
