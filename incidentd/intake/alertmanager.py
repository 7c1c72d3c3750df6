"""Prometheus Alertmanager: a webhook notification (payload `version` "4") -> alert events v1.

Every alert of the notification maps by its labels (the convention is in the README):
`product`, else `dataset`, else `table` names the product; `check`, else `alertname`, the
check; `severity`, `column`, `alert_type` and `space` (checked against the space it is sent
to) are optional. `firing` fires at `startsAt`, `resolved` recovers at `endsAt`; the
fingerprint is Alertmanager's own fingerprint (a hash of the labels) with the product.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from incidentd.intake.base import IntakeError, Mapped, Products, stable_id
from incidentd.intake.build import (
    QUALITY_CHECK_FAILED,
    Collector,
    Finding,
    number_text,
    parse_document,
)

NAME = "alertmanager"
VERSION = "4"
PRODUCT_LABELS = ("product", "dataset", "table")
SEVERITY = {
    "critical": "critical",
    "page": "critical",
    "high": "high",
    "error": "high",
    "major": "high",
    "medium": "medium",
    "warning": "medium",
    "warn": "medium",
    "minor": "low",
    "low": "low",
    "info": "info",
    "none": "info",
}
DEFAULT_SEVERITY = "medium"


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class _Notification(_Model):
    version: str
    alerts: list[Any]
    receiver: str | None = None


class _Alert(_Model):
    status: str
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: str | None = Field(None, alias="startsAt")
    ends_at: str | None = Field(None, alias="endsAt")
    fingerprint: str | None = None
    generator_url: str | None = Field(None, alias="generatorURL")


class AlertmanagerSource:
    """Alertmanager webhook notifications (a `webhook_configs` receiver pointing at incidentd)."""

    name = NAME

    def map(self, document: Mapping[str, Any], *, space: str, products: Products) -> Mapped:
        """One alert event per alert of the notification (pure)."""
        notification = _read(document)
        collector = Collector(NAME, space, products)
        for index, raw in enumerate(notification.alerts):
            item = f"alerts[{index}]"
            alert = collector.parse(_Alert, raw, item)
            if alert is None:
                continue
            problem = _problem(alert, space)
            if problem:
                collector.reject(alert.labels.get("alertname") or item, problem)
                continue
            collector.add(alert.labels.get("alertname") or item, _finding(alert, notification))
        return collector.mapped


def _read(document: object) -> _Notification:
    notification = parse_document(_Notification, document, "Alertmanager webhook payload")
    if notification.version != VERSION:
        raise IntakeError(
            f"Alertmanager webhook payload version {notification.version!r} is not supported "
            f"(version {VERSION!r} is)"
        )
    return notification


def _problem(alert: _Alert, space: str) -> str | None:
    """Why the alert cannot map, by the label convention; None when it can."""
    if alert.status not in ("firing", "resolved"):
        return f"status {alert.status!r} is neither firing nor resolved"
    if not any(alert.labels.get(label) for label in PRODUCT_LABELS):
        return "no product label: set one of the labels product, dataset or table"
    if not (alert.labels.get("check") or alert.labels.get("alertname")):
        return "no check label: set check or alertname"
    labelled = alert.labels.get("space")
    if labelled and labelled != space:
        return f"labelled for space {labelled!r}, sent to space {space!r}"
    return None


def _finding(alert: _Alert, notification: _Notification) -> Finding:
    labels, notes = alert.labels, alert.annotations
    firing = alert.status == "firing"
    check = labels.get("check") or labels["alertname"]
    identity = alert.fingerprint or stable_id(*sorted(f"{k}={v}" for k, v in labels.items()))
    when = alert.starts_at if firing else alert.ends_at
    targets = [labels.get(label, "") for label in PRODUCT_LABELS]
    value, threshold = number_text(notes.get("value")), number_text(notes.get("threshold"))
    return Finding(
        run_id=f"{identity}/{alert.starts_at}/{'' if firing else alert.ends_at}",
        check_id=check,
        targets=targets,
        firing=firing,
        severity=SEVERITY.get(labels.get("severity", "").lower(), DEFAULT_SEVERITY),
        occurred_at=when,
        title=notes.get("summary") or f"{labels.get('alertname', check)} on {targets[0] or check}",
        alert_type=labels.get("alert_type") or QUALITY_CHECK_FAILED,
        check_name=labels.get("alertname") or check,
        description=notes.get("description"),
        attribute=labels.get("column"),
        metric={"name": labels.get("alertname"), "value": value, "threshold": threshold}
        if value is not None
        else None,
        tags=[notification.receiver] if notification.receiver else [],
        extra={"alertmanager": {"labels": labels, "generator_url": alert.generator_url}},
        fingerprint_key=identity,
    )


SOURCE = AlertmanagerSource()
