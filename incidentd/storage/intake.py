"""The one path from a tool's document to `dq.alerts`: resolve, map, validate, enqueue.

Every way in (HTTP, CLI, OpenLineage facets) ends here. The alerts of one document are
written to the outbox in the caller's transaction, keyed by space, and the worker's relay
publishes them: a document is published whole or not at all, and a rejected item never
reaches the topic, so the worker never sees it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from prometheus_client import REGISTRY, CollectorRegistry, Counter
from pydantic import ValidationError
from sqlalchemy import Connection, text

from incidentd.intake import openlineage, registry
from incidentd.intake.base import Mapped, ProductRef, Rejected, Source
from incidentd.lineage.openlineage import LineageDelta
from incidentd.schemas.alert import AlertEvent
from incidentd.storage.lineage import bump_versions, insert_edges, insert_missing_products
from incidentd.storage.outbox import Message, enqueue

MAX_ALERT_BYTES = 1_000_000
"""Largest alert event published (the worker dead-letters larger records)."""


class CatalogProducts:
    """The products of one space, resolving what a tool names (implements `Products`)."""

    def __init__(self, space: str, claims: Mapping[str, str], ids: Iterable[str]) -> None:
        self.space = space
        self._claims = dict(claims)
        self._ids = frozenset(ids)

    def resolve(self, name: str) -> ProductRef | None:
        """The product claiming `name` in its datasets, else a product whose id is `name`."""
        product_id = self._claims.get(name)
        if product_id is None and name in self._ids:
            product_id = name
        return None if product_id is None else ProductRef(self.space, product_id)

    def knows(self, product_id: str) -> bool:
        """Whether the space has a product with this id."""
        return product_id in self._ids


def space_exists(conn: Connection, space: str) -> bool:
    """Whether the space exists (alerts of an unknown space are stored but reach no one)."""
    return (
        conn.execute(text("SELECT 1 FROM spaces WHERE slug = :s"), {"s": space}).first() is not None
    )


def load_products(conn: Connection, space: str) -> CatalogProducts:
    """The space's products and the datasets they claim, in one query."""
    rows = conn.execute(
        text("SELECT id, datasets FROM products WHERE space = :s ORDER BY id"), {"s": space}
    ).fetchall()
    claims = {dataset: str(r.id) for r in rows for dataset in (r.datasets or ())}
    return CatalogProducts(space, claims, (str(r.id) for r in rows))


class IntakeMetrics:
    """Counters of what the intake accepted, rejected and could not resolve, per source."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.accepted = Counter(
            "incidentd_intake_alerts_accepted",
            "Alerts the intake queued for the alerts topic.",
            ["source"],
            registry=registry,
        )
        self.rejected = Counter(
            "incidentd_intake_items_rejected",
            "Items of a document that could not become an alert.",
            ["source"],
            registry=registry,
        )
        self.unresolved = Counter(
            "incidentd_intake_unresolved_targets",
            "Targets no product claims, accepted as their own node.",
            ["source"],
            registry=registry,
        )


_METRICS: dict[int, IntakeMetrics] = {}


def intake_metrics(registry: CollectorRegistry = REGISTRY) -> IntakeMetrics:
    """The intake counters on `registry` (created once per registry)."""
    found = _METRICS.get(id(registry))
    if found is None:
        found = _METRICS[id(registry)] = IntakeMetrics(registry)
    return found


@dataclass(slots=True)
class IntakeResult:
    """What one document became: alerts queued, items rejected, targets no product claims."""

    source: str
    space: str
    alerts: list[AlertEvent] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)
    payloads: list[bytes] = field(default_factory=list, repr=False)
    """The bytes to publish, one per alert."""


def ingest(
    conn: Connection,
    source: Source,
    document: Mapping[str, Any],
    *,
    space: str,
    topic: str,
    metrics: IntakeMetrics | None = None,
    dry_run: bool = False,
) -> IntakeResult:
    """Map a tool's document against the space's catalog and queue its alerts (raises
    IntakeError, queueing nothing, when the document as a whole is unusable)."""
    result = map_document(source, document, space=space, products=load_products(conn, space))
    if not dry_run:
        publish(conn, result, topic=topic, metrics=metrics)
    return result


def map_document(
    source: Source, document: Mapping[str, Any], *, space: str, products: CatalogProducts
) -> IntakeResult:
    """A tool's document as validated alerts of `space` (pure; raises IntakeError)."""
    mapped = source.map(document, space=space, products=products)
    return review(mapped, source=source.name, space=space)


def ingest_events(
    conn: Connection,
    items: Sequence[Any],
    *,
    space: str,
    topic: str,
    metrics: IntakeMetrics | None = None,
) -> IntakeResult:
    """Queue alert events v1 as they are; each must be of `space` (a missing space is it)."""
    mapped = Mapped()
    labels: list[str] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            mapped.rejected.append(Rejected(f"[{index}]", "an alert event must be a JSON object"))
            continue
        mapped.alerts.append({"space": space, **item})
        labels.append(_label(item, index))
    known = load_products(conn, space)
    result = review(mapped, source="alerts", space=space, known=known, labels=labels)
    publish(conn, result, topic=topic, metrics=metrics)
    return result


def review(
    mapped: Mapped,
    *,
    source: str,
    space: str,
    known: CatalogProducts | None = None,
    labels: Sequence[str] | None = None,
) -> IntakeResult:
    """Validate mapped alerts as the worker will; the invalid ones become rejections.

    With `known`, alerts on a product id the catalog lacks count as unresolved; `labels` name
    the alerts in rejections (default: the `alert_id`).
    """
    result = IntakeResult(source, space, rejected=list(mapped.rejected))
    unresolved = set(mapped.unresolved)
    for index, alert in enumerate(mapped.alerts):
        try:
            event, payload = _validated(alert, space)
        except ValueError as exc:
            label = labels[index] if labels is not None else _alert_label(alert, index)
            result.rejected.append(Rejected(label, str(exc)))
            continue
        result.alerts.append(event)
        result.payloads.append(payload)
        if known is not None and not known.knows(event.product_id):
            unresolved.add(event.product_id)
    result.unresolved = sorted(unresolved)
    return result


def publish(
    conn: Connection, result: IntakeResult, *, topic: str, metrics: IntakeMetrics | None = None
) -> None:
    """Queue a document's valid alerts, keyed by space, in one statement; count them."""
    enqueue_alerts(conn, topic, [(result.space, p) for p in result.payloads])
    counters = metrics or intake_metrics()
    counters.accepted.labels(result.source).inc(len(result.alerts))
    counters.rejected.labels(result.source).inc(len(result.rejected))
    counters.unresolved.labels(result.source).inc(len(result.unresolved))


def _alert_label(alert: Mapping[str, Any], index: int) -> str:
    alert_id = alert.get("alert_id")
    return alert_id if isinstance(alert_id, str) else f"alert #{index}"


def _label(alert: Mapping[str, Any], index: int) -> str:
    alert_id = alert.get("alert_id")
    return f"[{index}] {alert_id}" if isinstance(alert_id, str) else f"[{index}]"


def _validated(alert: Mapping[str, Any], space: str) -> tuple[AlertEvent, bytes]:
    """The event and the bytes to publish; ValueError says what is wrong."""
    try:
        event = AlertEvent.model_validate(alert)
    except ValidationError as exc:
        problems = exc.errors(include_url=False)[:5]
        raise ValueError(
            "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}" for e in problems
            )
        ) from exc
    if event.space != space:
        raise ValueError(f"alert is of space {event.space!r}, not {space!r}")
    try:
        payload = orjson.dumps(event.model_dump(mode="json", exclude_none=True))
    except (TypeError, orjson.JSONEncodeError) as exc:
        raise ValueError(f"not representable as JSON: {exc}") from exc
    if b"\\u0000" in payload:
        raise ValueError("contains a NUL character")
    if len(payload) > MAX_ALERT_BYTES:
        raise ValueError(f"alert is {len(payload)} bytes; the limit is {MAX_ALERT_BYTES}")
    return event, payload


def enqueue_alerts(conn: Connection, topic: str, records: Sequence[tuple[str, bytes]]) -> int:
    """Queue (key, payload) records for `topic` in the outbox, in order; the relay sends them."""
    return enqueue(conn, (Message(topic, key, payload) for key, payload in records))


OPENLINEAGE = openlineage.NAME
"""The source mapping an OpenLineage RunEvent's `dataQualityAssertions` facets to alerts."""


@dataclass(frozen=True, slots=True)
class RunEventOutcome:
    """What one OpenLineage RunEvent changed: lineage, and the alerts of its assertions."""

    products_added: list[str]
    edges_added: int
    alerts: IntakeResult | None = None


def apply_run_event(
    conn: Connection,
    delta: LineageDelta,
    event: object,
    *,
    topic: str,
    metrics: IntakeMetrics | None = None,
) -> RunEventOutcome:
    """Apply a RunEvent's lineage and queue its `dataQualityAssertions` as alerts of the same
    space, in the caller's transaction (IntakeError: a facet is unusable; roll back)."""
    added = insert_missing_products(conn, delta.new_products)
    edges = insert_edges(conn, [(delta.space, u, d) for u, d in delta.edges])
    if added or edges:
        bump_versions(conn, [delta.space])
    source = registry.source(OPENLINEAGE)
    if source is None or not isinstance(event, Mapping) or not has_assertions(event):
        return RunEventOutcome(added, edges)
    alerts = ingest(conn, source, event, space=delta.space, topic=topic, metrics=metrics)
    return RunEventOutcome(added, edges, alerts)


def has_assertions(event: Mapping[str, Any]) -> bool:
    """Whether any dataset of the event carries a `dataQualityAssertions` facet (only then
    is the event read as checks: lineage alone asks less of an event)."""
    for key in ("inputs", "outputs"):
        datasets = event.get(key)
        for dataset in datasets if isinstance(datasets, list) else ():
            if not isinstance(dataset, Mapping):
                continue
            for facets in (dataset.get(k) for k in openlineage.FACET_KEYS):
                if isinstance(facets, Mapping) and openlineage.FACET in facets:
                    return True
    return False
