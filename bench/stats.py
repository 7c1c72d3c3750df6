"""Percentiles of measured values."""

from __future__ import annotations

import statistics


def percentiles(values: list[float], unit: str) -> dict[str, float]:
    """p50, p95, p99 and max of sorted `values` (0 when empty)."""
    if not values:
        return {f"p50_{unit}": 0.0, f"p95_{unit}": 0.0, f"p99_{unit}": 0.0, f"max_{unit}": 0.0}

    def pick(q: float) -> float:
        return round(values[min(len(values) - 1, int(q * len(values)))], 4)

    return {
        f"p50_{unit}": round(statistics.median(values), 4),
        f"p95_{unit}": pick(0.95),
        f"p99_{unit}": pick(0.99),
        f"max_{unit}": round(values[-1], 4),
    }
