"""Seeded alert streams shaped like a real data-quality feed.

A feed is a sequence of failure cascades: a source or staging model breaks and, as downstream
jobs run, checks on its descendants fail minutes later (following lineage, pruned at random).
Failing checks fire again on their next runs (repeats of one fingerprint), most recover later
(`status: resolved`), and a few fail again after recovering. Noise alerts hit random products.
Records are ordered by when the monitor emits them: mostly right after `occurred_at`, some
minutes late, a few hours late. Some records are delivered twice, and 1% are malformed.
"""

from __future__ import annotations

import gc
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import orjson

from bench.lineage_gen import Lineage
from incidentd.schemas.alert import alert_key

KeyBy = Literal["space", "product"]

BASE_TIME = datetime(2026, 1, 5, tzinfo=UTC)
CASCADE_GAP_HOURS_PER_DOMAIN = 12.0
"""Mean time between two cascades starting in the same domain (a busy but sane warehouse)."""
NOISE_SHARE = 0.4
REDELIVERED_SHARE = 0.005
MALFORMED_SHARE = 0.01
RECOVERY_SHARE = 0.7
REFAIL_SHARE = 0.05
MAX_CASCADE = 40
_ALERT_TYPES = ("quality_check_failed", "freshness", "volume_anomaly", "schema_change")
_CHECKS = ("not_null", "unique", "row_count", "freshness", "accepted_values", "referential")
_SEVERITY_BY_TIER = {
    "critical": "critical",
    "high": "high",
    "medium": "medium",
    "low": "low",
}


@dataclass(frozen=True, slots=True)
class Record:
    """One record of the alerts topic; `alert_id` is None for a malformed one."""

    key: bytes
    value: bytes
    alert_id: str | None
    firing: bool = True


@dataclass(slots=True)
class Stream:
    """The records to publish, in emission order, and what they contain."""

    records: list[Record]
    cascades: int = 0
    noise: int = 0
    malformed: int = 0
    redelivered: int = 0
    resolved: int = 0
    span_hours: float = 0.0

    @property
    def unique_valid(self) -> int:
        """Distinct valid alert ids: what the workers store."""
        return len({r.alert_id for r in self.records if r.alert_id is not None})

    def summary(self) -> dict[str, Any]:
        """Counts describing the stream, for the report."""
        return {
            "records": len(self.records),
            "unique_valid_alerts": self.unique_valid,
            "cascades": self.cascades,
            "noise_alerts": self.noise,
            "resolved_alerts": self.resolved,
            "redelivered_records": self.redelivered,
            "malformed_records": self.malformed,
            "span_hours": round(self.span_hours, 1),
        }


_Pending = tuple[datetime, int, Record]
"""(emission time, sequence number, record)."""


class _Builder:
    """Accumulates alert bodies with their emission time."""

    def __init__(self, lineage: Lineage, seed: int, prefix: str, key_by: KeyBy) -> None:
        self.lineage = lineage
        self.key_by = key_by
        self.rng = random.Random(seed)
        self.prefix = prefix
        self.pending: list[_Pending] = []
        self.stream = Stream([])
        self.products = lineage.products
        self.roots = [p for layer in lineage.layers[:2] for p in layer]

    def alert(self, product: str, at: datetime, check: str, *, firing: bool = True) -> None:
        """Queue one alert at `at` (emitted after a realistic delay)."""
        rng = self.rng
        seq = len(self.pending)
        tier = self.lineage.tier_of.get(product, "medium")
        metric_value = round(rng.uniform(0, 1000), 2)
        body: dict[str, Any] = {
            "schema_version": 1,
            "alert_id": f"{self.prefix}-{seq}",
            "space": self.lineage.space,
            "product_id": product,
            "alert_type": _ALERT_TYPES[_CHECKS.index(check) % len(_ALERT_TYPES)],
            "status": "firing" if firing else "resolved",
            "severity": _SEVERITY_BY_TIER[tier],
            "occurred_at": at.isoformat().replace("+00:00", "Z"),
            "fingerprint": f"{product}/{check}",
            "title": f"{check} failed on {product}",
            "check": {"id": f"chk-{product}-{check}", "name": check},
            "metric": {"name": check, "value": metric_value, "threshold": 0.0},
            "tags": ["prod", f"tier:{tier}"],
            "source": rng.choice(("soda", "great_expectations", "dbt", "monte_carlo")),
        }
        self.pending.append((at + self._delay(), seq, _record(body, self.key_by)))
        if not firing:
            self.stream.resolved += 1

    def _delay(self) -> timedelta:
        """How long after `occurred_at` the monitor emits: seconds, minutes, or hours late."""
        roll = self.rng.random()
        if roll < 0.90:
            return timedelta(seconds=self.rng.uniform(0, 60))
        if roll < 0.98:
            return timedelta(minutes=self.rng.uniform(1, 10))
        return timedelta(minutes=self.rng.uniform(10, 120))

    def cascade(self, start: datetime) -> None:
        """A failure that starts at a root product and spreads downstream over time."""
        rng = self.rng
        root = rng.choice(self.roots)
        failing: list[tuple[datetime, str]] = [(start, root)]
        seen = {root}
        index = 0
        while index < len(failing) and len(failing) < MAX_CASCADE:
            at, product = failing[index]
            index += 1
            for child in self.lineage.children.get(product, ()):
                if child not in seen and rng.random() < 0.45:
                    seen.add(child)
                    failing.append((at + timedelta(minutes=rng.uniform(2, 45)), child))
        for at, product in failing[:MAX_CASCADE]:
            for check in rng.sample(_CHECKS, k=rng.choice((1, 1, 2))):
                self.check_run(product, at, check)
        self.stream.cascades += 1

    def check_run(self, product: str, at: datetime, check: str) -> None:
        """A failing check: first failure, repeats on later runs, maybe recovery and refail."""
        rng = self.rng
        self.alert(product, at, check)
        for _ in range(rng.choice((0, 0, 1, 1, 2, 3))):
            at += timedelta(minutes=rng.uniform(30, 90))
            self.alert(product, at, check)
        if rng.random() < RECOVERY_SHARE:
            at += timedelta(hours=rng.uniform(1, 6))
            self.alert(product, at, check, firing=False)
            if rng.random() < REFAIL_SHARE:
                self.alert(product, at + timedelta(hours=rng.uniform(2, 20)), check)

    def noise(self, at: datetime) -> None:
        """An isolated alert on a random product (flaky check)."""
        check = self.rng.choice(_CHECKS)
        product = self.rng.choice(self.products)
        self.alert(product, at, check)
        if self.rng.random() < 0.3:
            later = at + timedelta(minutes=self.rng.uniform(20, 120))
            self.alert(product, later, check, firing=False)
        self.stream.noise += 1


def generate_stream(
    lineage: Lineage, count: int, seed: int, prefix: str = "a", key_by: KeyBy = "space"
) -> Stream:
    """`count` records (1% malformed) in emission order, keyed by space (as incidentd's
    producers key) or by product (a space spread over every partition)."""
    gc.disable()  # hundreds of thousands of young dicts: collections would dominate
    try:
        return _generate(lineage, count, seed, prefix, key_by)
    finally:
        gc.enable()


def _generate(lineage: Lineage, count: int, seed: int, prefix: str, key_by: KeyBy) -> Stream:
    builder = _Builder(lineage, seed, prefix, key_by)
    rng = builder.rng
    domains = max(1, len({*lineage.domain_of.values()}))
    mean_gap_h = CASCADE_GAP_HOURS_PER_DOMAIN / domains
    malformed = round(count * MALFORMED_SHARE)
    wanted = count - malformed
    wanted_alerts = wanted - round(wanted * REDELIVERED_SHARE)
    clock = BASE_TIME
    for _ in range(wanted_alerts):  # bounded: each round adds at least one alert
        if len(builder.pending) >= wanted_alerts:
            break
        clock += timedelta(hours=rng.expovariate(1 / mean_gap_h))
        if rng.random() < NOISE_SHARE:
            builder.noise(clock)
        else:
            builder.cascade(clock)
    ordered = sorted(builder.pending, key=lambda p: (p[0], p[1]))[:wanted_alerts]
    records = [p[2] for p in ordered]
    builder.stream.span_hours = (clock - BASE_TIME).total_seconds() / 3600
    _redeliver(records, wanted - len(records), rng, builder.stream)
    _corrupt(records, malformed, rng, builder.stream, alert_key(lineage.space))
    builder.stream.records = records
    return builder.stream


def _record(body: dict[str, Any], key_by: KeyBy) -> Record:
    # orjson's result keeps its whole output buffer (~8 KiB); a copy holds only the bytes.
    return Record(
        alert_key(body["space"]) if key_by == "space" else body["product_id"].encode(),
        bytes(memoryview(orjson.dumps(body))),
        body["alert_id"],
        body["status"] == "firing",
    )


def _redeliver(records: list[Record], count: int, rng: random.Random, stream: Stream) -> None:
    """Deliver `count` records a second time, a little later in the feed (at least once)."""
    extra = []
    for _ in range(max(0, count)):
        position = rng.randrange(len(records))
        extra.append((position + rng.randint(1, 500), records[position]))
    _insert(records, extra)
    stream.redelivered += len(extra)


def _corrupt(
    records: list[Record], count: int, rng: random.Random, stream: Stream, key: bytes
) -> None:
    """Insert `count` malformed records at random positions."""
    bad = [(rng.randrange(len(records) + 1), _malformed(i, rng, key)) for i in range(count)]
    _insert(records, bad)
    stream.malformed += count


def _insert(records: list[Record], extra: list[tuple[int, Record]]) -> None:
    """Insert each (position, record) before the record now at `position`, in one pass."""
    extra.sort(key=lambda item: item[0])
    merged: list[Record] = []
    taken = 0
    for position, record in extra:
        merged.extend(records[taken:position])
        taken = max(taken, min(position, len(records)))
        merged.append(record)
    merged.extend(records[taken:])
    records[:] = merged


def _malformed(i: int, rng: random.Random, key: bytes) -> Record:
    """One of the ways a monitor's payload can be broken."""
    good: dict[str, Any] = {
        "schema_version": 1,
        "alert_id": f"bad-{i}",
        "space": "bench",
        "product_id": "unknown",
        "alert_type": "quality_check_failed",
        "severity": "high",
        "occurred_at": "2026-01-05T10:00:00Z",
    }
    kind = i % 6
    if kind == 0:
        value = orjson.dumps(good)[: rng.randint(5, 60)]  # truncated JSON
    elif kind == 1:
        value = orjson.dumps({k: v for k, v in good.items() if k != "occurred_at"})
    elif kind == 2:
        value = orjson.dumps({**good, "occurred_at": "2026-01-05T10:00:00"})  # no zone
    elif kind == 3:
        value = orjson.dumps({**good, "schema_version": 2})
    elif kind == 4:
        value = orjson.dumps({**good, "severity": "apocalyptic"})
    else:
        value = b"\xff\xfe not utf-8 \xc3\x28"
    return Record(key, value, None, False)
