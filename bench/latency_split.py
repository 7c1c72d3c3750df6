"""Where an alert's latency goes, from the database's timestamps and the bench's clocks.

Each alert matched by the latency phase has four moments (epoch seconds, one machine clock):

- `sent`: the bench handed the record to its producer;
- `started`: the worker's batch transaction began (`alerts.received_at`, the transaction's
  `now()`: the worker had fetched, parsed and taken the record in hand);
- `published`: the relay marked the first event naming the alert sent (`outbox.sent_at`,
  once the broker had acknowledged it);
- `seen`: the bench's consumer read that event.

So `sent -> started` is the wait to be fetched (producer, broker, the worker's fetch and the
batch before it), `started -> published` the batch's transaction, its commit and the relay
(claim, publish, acknowledgement), `published -> seen` the broker and the bench's consumer.
Batches are told apart by their transaction start: their sizes and the time between two
starts (one turn of the worker's loop) come out too.
"""

from __future__ import annotations

import itertools
from collections import Counter
from typing import Any, Protocol

from bench.stats import percentiles

SEGMENTS = ("to_batch_start", "batch_to_published", "published_to_seen")


class _Db(Protocol):
    def rows(self, sql: str, **params: Any) -> list[Any]: ...


def alert_times(db: _Db) -> tuple[dict[str, float], dict[str, float]]:
    """Per alert id: its batch's transaction start, and when its first event was marked sent."""
    started = {
        str(r[0]): float(r[1])
        for r in db.rows(
            "SELECT alert_id, extract(epoch FROM received_at) FROM alerts "
            "WHERE alert_id NOT LIKE 'warmup-%'"
        )
    }
    published = {
        str(r[0]): float(r[1])
        for r in db.rows(
            "SELECT a.id, min(extract(epoch FROM o.sent_at)) FROM outbox o, "
            "jsonb_array_elements_text(convert_from(o.payload, 'UTF8')::jsonb -> 'alert_ids') "
            "AS a(id) WHERE o.channel = 'kafka' AND o.sent_at IS NOT NULL GROUP BY a.id"
        )
    }
    return started, published


def split(
    sent: dict[str, float],
    seen: dict[str, float],
    started: dict[str, float],
    published: dict[str, float],
) -> dict[str, Any]:
    """Percentiles of each segment, and the segments' mean over the slowest 1% of alerts."""
    rows = [
        (seen[a] - t, started[a] - t, published[a] - started[a], seen[a] - published[a])
        for a, t in sent.items()
        if a in seen and a in started and a in published
    ]
    if not rows:
        return {"alerts": 0}
    rows.sort()
    tail = rows[int(0.99 * len(rows)) :]
    out: dict[str, Any] = {"alerts": len(rows)}
    for k, name in enumerate(SEGMENTS, start=1):
        out[name] = percentiles(sorted(1000 * r[k] for r in rows), "ms")
    out["slowest_1pct_mean_ms"] = {
        "total": _mean_ms(r[0] for r in tail),
        **{name: _mean_ms(r[k] for r in tail) for k, name in enumerate(SEGMENTS, start=1)},
    }
    out["batches"] = _batches(started)
    return out


def _batches(started: dict[str, float]) -> dict[str, Any]:
    """Alerts per batch and the time between two batch starts (one turn of the loop)."""
    sizes = Counter(started.values())
    starts = sorted(sizes)
    gaps = sorted(1000 * (b - a) for a, b in itertools.pairwise(starts))
    return {
        "count": len(starts),
        "alerts": percentiles(sorted(float(n) for n in sizes.values()), "n"),
        "between_starts": percentiles(gaps, "ms"),
    }


def _mean_ms(values: Any) -> float:
    listed = list(values)
    return round(1000 * sum(listed) / len(listed), 1) if listed else 0.0


def describe(parts: dict[str, Any]) -> str:
    """One line: each segment's p50 / p99, the slowest 1%'s split and the batches."""
    if not parts.get("alerts"):
        return "no alert matched"
    each = ", ".join(
        f"{name} p50 {parts[name]['p50_ms']:.0f} / p99 {parts[name]['p99_ms']:.0f} ms"
        for name in SEGMENTS
    )
    slow = parts["slowest_1pct_mean_ms"]
    tail = ", ".join(f"{name} {slow[name]:.0f}" for name in SEGMENTS)
    b = parts["batches"]
    return (
        f"{each}; slowest 1% (mean {slow['total']:.0f} ms): {tail}; {b['count']} batches of "
        f"p50 {b['alerts']['p50_n']:.0f} alerts, p50 {b['between_starts']['p50_ms']:.0f} / "
        f"p99 {b['between_starts']['p99_ms']:.0f} ms between starts"
    )
