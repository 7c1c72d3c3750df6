"""The words of a message about an incident, shared by the chat and e-mail channels."""

from __future__ import annotations

from dataclasses import dataclass

from incidentd.channels.base import Delivery

_VERBS = {
    "incident.created": "New incident",
    "incident.alert_added": "New alert on incident",
    "incident.updated": "Incident updated",
    "incident.merged": "Incident merged",
    "incident.resolved": "Incident resolved",
    "incident.reopened": "Incident reopened",
    "incident.downstream_notified": "Downstream notified about incident",
    "incident.ticket_linked": "Ticket linked to incident",
}


@dataclass(frozen=True, slots=True)
class Summary:
    """What every message about an incident says."""

    headline: str
    title: str
    severity: str
    impact: str
    status: str
    root: str
    blast_radius: int
    alerts: str
    link: str

    def lines(self) -> list[str]:
        """The summary as `Label: value` lines."""
        return [
            f"Severity: {self.severity}",
            f"Impact: {self.impact}",
            f"Status: {self.status}",
            f"Root: {self.root}",
            f"Blast radius: {self.blast_radius} products",
            f"Alerts: {self.alerts}",
            f"Link: {self.link}",
        ]


def summarize(delivery: Delivery, public_url: str | None) -> Summary:
    """The summary of the event(s) a delivery carries."""
    incident = delivery.incident
    verb = _VERBS.get(delivery.event_type, delivery.event_type or "Incident")
    if delivery.events > 1:
        verb = f"{delivery.events} new alerts on incident"
    title = str(incident.get("title") or incident.get("id") or "(untitled)")
    new = delivery.payload.get("alert_ids") or []
    alerts = f"{incident.get('alert_count', '?')} in total"
    if new:
        alerts += f"; new: {', '.join(str(a) for a in new[:10])}" + (" …" if len(new) > 10 else "")
    return Summary(
        headline=f"{verb}: {title}",
        title=title,
        severity=str(incident.get("severity") or "unknown"),
        impact=str(incident.get("impact") or "unknown"),
        status=str(incident.get("status") or "unknown"),
        root=str(incident.get("root_product_id") or "unknown"),
        blast_radius=len(incident.get("blast_radius_snapshot") or ()),
        alerts=alerts,
        link=delivery.incident_url(public_url),
    )
