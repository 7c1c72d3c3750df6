"""What parsing an alert record costs (`python -m bench.parse_cost`).

The bench's own stream (1% malformed, 0.5% redelivered) is parsed, round after round, by each
variant in turn, in this one process, so a busy machine slows them alike: the strict path alone
(orjson, pydantic's `model_validate` and the checks around them: what the worker ran before the
fast path), `parse_alert` (the msgspec fast path, the strict path for what it declines), and
the worker's parse step over the same records polled in batches of 2,000, as it was (strict
path, a dead-letter template made for every alert) and as `parse_batch` is now. The figure is
the median over rounds of the process's CPU time per record, in microseconds; the load average
is printed beside it."""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import NamedTuple

from bench.lineage_gen import generate_lineage
from bench.streams import generate_stream
from incidentd.worker.batch import dead_letter, parse_batch
from incidentd.worker.parsing import RecordError, parse_alert, parse_alert_fast, parse_alert_strict
from incidentd.worker.source import Partition, Polled

TOPIC = "dq.alerts"
BATCH = 2000


class _Record(NamedTuple):
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


def records(count: int) -> list[bytes]:
    """The values of `count` records of the bench stream over a 10k-product lineage."""
    return [r.value for r in generate_stream(generate_lineage(10_000, 1), count, 3).records]


def _each(parse: Callable[[bytes], object]) -> Callable[[list[bytes]], None]:
    def run(values: list[bytes]) -> None:
        for value in values:
            try:
                parse(value)
            except RecordError:
                continue

    return run


def _polls(values: list[bytes]) -> list[Polled]:
    """`values` polled in batches of the worker's default size (2,000)."""
    return [
        {Partition(TOPIC, 0): [_Record(TOPIC, 0, i, b"k", v) for i, v in enumerate(chunk)]}
        for chunk in (values[i : i + BATCH] for i in range(0, len(values), BATCH))
    ]


def _batches(values: list[bytes]) -> Callable[[list[bytes]], None]:
    polls = _polls(values)

    def run(_values: list[bytes]) -> None:
        for polled in polls:
            parse_batch(polled, "dq.lineage")

    return run


def _batches_before(values: list[bytes]) -> Callable[[list[bytes]], None]:
    """The parse step as it was: the strict path, and a dead-letter template for every alert."""
    polls = _polls(values)

    def run(_values: list[bytes]) -> None:
        for polled in polls:
            alerts, dead = [], []
            for rec in polled[Partition(TOPIC, 0)]:
                try:
                    alerts.append(parse_alert_strict(rec.value, dead_letter(rec, "", "")))
                except RecordError as exc:
                    dead.append(dead_letter(rec, exc.error, exc.error_type))

    return run


def variants(values: list[bytes]) -> dict[str, Callable[[list[bytes]], None]]:
    """What is timed, by name: the strict path first (the before)."""
    return {
        "strict path (orjson + pydantic model_validate)": _each(parse_alert_strict),
        "parse_alert (msgspec fast path, strict fallback)": _each(parse_alert),
        "parse step before: strict path + a dead-letter template per alert": _batches_before(
            values
        ),
        "parse_batch (parse_alert, the record as origin)": _batches(values),
    }


def measure(values: list[bytes], rounds: int) -> dict[str, float]:
    """Median CPU microseconds per record of every variant, interleaved round by round."""
    timed = variants(values)
    times: dict[str, list[float]] = {name: [] for name in timed}
    for _ in range(rounds):
        for name, run in timed.items():
            started = time.process_time()
            run(values)
            times[name].append((time.process_time() - started) / len(values) * 1e6)
    return {name: round(statistics.median(t), 2) for name, t in times.items()}


def main() -> None:
    """Print the table (`--records N --rounds R`)."""
    args = dict(zip(sys.argv[1::2], sys.argv[2::2], strict=False))
    count, rounds = int(args.get("--records", 20_000)), int(args.get("--rounds", 7))
    values = records(count)
    fast = sum(1 for v in values if v is not None and parse_alert_fast(v) is not None)
    load = os.getloadavg()[0]
    figures = measure(values, rounds)
    print(
        f"{len(values):,} bench records, {fast / len(values):.1%} taken by the fast path; "
        f"{rounds} rounds; load {load:.2f} before, {os.getloadavg()[0]:.2f} after"
    )
    base = next(iter(figures.values()))
    for name, us in figures.items():
        print(f"| {name} | {us} µs | x{base / us:.2f} |")


if __name__ == "__main__":
    main()
