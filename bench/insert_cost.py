"""What storing an alert costs: each index of `alerts`, and the binary COPY the worker runs
against the INSERT statement it ran before (`python -m bench.insert_cost`).

On an embedded PostgreSQL (fsync off), `alerts` is first filled with `--fill` alerts of the
bench stream (so the indexes have a realistic depth). Then, round after round, each variant
inserts the same batches of 2,000 new alerts inside a transaction that is rolled back: the
statement that skips stored ids (one JSON document, `ON CONFLICT DO NOTHING`) with every
index, the same without one index at a time (dropped inside the transaction), and the
binary COPY that `insert_alerts` runs first. Variants are interleaved in every round, so a
busy machine slows them alike; the figure is the median over rounds, in microseconds per alert
(client and server). incident_id is NULL (the foreign key check is not measured).
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, text

from bench.lineage_gen import generate_lineage
from bench.services import Services
from bench.streams import generate_stream
from incidentd.storage.alerts import NewAlert, insert_alerts, insert_alerts_skipping_stored
from incidentd.storage.db import make_engine
from incidentd.worker.parsing import RecordError, parse_alert

INDEXES = (
    "ix_alerts_incident",
    "ix_alerts_space_fingerprint",
    "ix_alerts_space_occurred",
    "ix_alerts_orphan_recoveries",
)
BATCH = 2000


def alerts(count: int, prefix: str) -> list[NewAlert]:
    """`count` valid parsed alerts of a bench stream."""
    lineage = generate_lineage(10_000, 1)
    out = []
    for record in generate_stream(lineage, int(count * 1.05), 3, prefix=prefix).records:
        try:
            out.append(parse_alert(record.value))
        except RecordError:
            continue
    unique = {a.alert.alert_id: a for a in out}
    return list(unique.values())[:count]


def by_statement(conn: Connection, batch: list[NewAlert]) -> int:
    """The batch by one INSERT reading a JSON document, skipping stored ids."""
    return insert_alerts_skipping_stored(conn, batch, {}, datetime.now(UTC))


def _timed(engine: Any, batch: list[NewAlert], drop: str | None, how: Callable[..., int]) -> float:
    with engine.connect() as conn:
        tx = conn.begin()
        if drop:
            conn.execute(text(f"DROP INDEX {drop}"))
        started = time.perf_counter()
        stored = how(conn, batch)
        seconds = time.perf_counter() - started
        tx.rollback()
    assert stored == len(batch), (stored, len(batch))
    return seconds / len(batch) * 1e6


def measure(fill: int, rounds: int) -> dict[str, float]:
    """Median microseconds per alert of every variant."""
    with Services(durable=False, partitions=1) as services:
        url = services.fresh_database("inserts")
        engine = make_engine(url, pool_size=1)
        filler = alerts(fill, "fill")
        with engine.begin() as conn:
            for i in range(0, len(filler), BATCH):
                insert_alerts(conn, filler[i : i + BATCH])
            conn.execute(text("ANALYZE alerts"))
        batches = [alerts(BATCH, f"r{r}") for r in range(rounds)]
        variants: dict[str, tuple[str | None, Callable[..., int]]] = {
            "INSERT ... FROM jsonb_to_recordset, every index": (None, by_statement),
            **{f"same, without {ix}": (ix, by_statement) for ix in INDEXES},
            "COPY (binary, insert_alerts), every index": (None, insert_alerts),
        }
        times: dict[str, list[float]] = {name: [] for name in variants}
        for batch in batches:
            for name, (drop, how) in variants.items():
                times[name].append(_timed(engine, batch, drop, how))
        engine.dispose()
    return {name: round(statistics.median(t), 1) for name, t in times.items()}


def main() -> None:
    """Print the table (`--fill N --rounds R`)."""
    args = dict(zip(sys.argv[1::2], sys.argv[2::2], strict=False))
    fill, rounds = int(args.get("--fill", 100_000)), int(args.get("--rounds", 7))
    load = os.getloadavg()[0]
    figures = measure(fill, rounds)
    print(f"alerts table filled with {fill:,}; {rounds} rounds of {BATCH}; load {load:.2f}")
    base = next(iter(figures.values()))
    for name, us in figures.items():
        print(f"| {name} | {us} | {us - base:+.1f} |")


if __name__ == "__main__":
    main()
