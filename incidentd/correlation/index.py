"""In-memory index of candidate incidents for fast relatedness and fingerprint lookups."""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterable
from datetime import datetime, timedelta

from incidentd.correlation.model import Alert, Incident
from incidentd.correlation.ports import LineageView


class IncidentIndex:
    """Open incidents' firing alerts by product, every incident by fingerprint."""

    def __init__(self, incidents: Iterable[Incident]) -> None:
        self.incidents: dict[str, Incident] = {}
        self.home: dict[str, str] = {}
        self._firing: dict[str, dict[str, list[tuple[datetime, str]]]] = {}
        self._by_fingerprint: dict[str, set[str]] = {}
        for incident in incidents:
            self.incidents[incident.id] = incident
            for alert in incident.alerts.values():
                self._index_alert(incident, alert)

    def _index_alert(self, incident: Incident, alert: Alert) -> None:
        self.home[alert.alert_id] = incident.id
        self._by_fingerprint.setdefault(alert.fingerprint, set()).add(incident.id)
        if alert.firing and incident.is_open and incident.merged_into is None:
            per_incident = self._firing.setdefault(alert.product_id, {})
            insort(per_incident.setdefault(incident.id, []), (alert.occurred_at, alert.alert_id))

    def add(self, incident: Incident, alert: Alert) -> None:
        """Put `alert` into `incident` and index it."""
        self.incidents.setdefault(incident.id, incident)
        incident.alerts[alert.alert_id] = alert
        self._index_alert(incident, alert)

    def close(self, incident: Incident) -> None:
        """Stop offering `incident` as a target for new firing alerts."""
        for product in {a.product_id for a in incident.alerts.values()}:
            per_incident = self._firing.get(product)
            if per_incident is not None:
                per_incident.pop(incident.id, None)
                if not per_incident:
                    del self._firing[product]

    def open_again(self, incident: Incident) -> None:
        """Offer a reopened incident's firing alerts again."""
        for alert in incident.alerts.values():
            self._index_alert(incident, alert)

    def move(self, loser: Incident, target: Incident) -> list[str]:
        """Move every alert of `loser` into `target`; returns the moved alert ids."""
        self.close(loser)
        moved = sorted(loser.alerts)
        for alert_id in moved:
            self.add(target, loser.alerts[alert_id])
        loser.alerts.clear()
        for ids in self._by_fingerprint.values():
            ids.discard(loser.id)
        return moved

    def related(self, alert: Alert, lineage: LineageView, window: timedelta) -> set[str]:
        """Ids of open incidents holding a firing alert related to `alert`."""
        candidates = lineage.related_set(alert.product_id)
        if len(self._firing) <= len(candidates):
            products = [p for p in self._firing if p in candidates]
        else:
            products = [p for p in candidates if p in self._firing]
        low, high = alert.occurred_at - window, alert.occurred_at + window
        found: set[str] = set()
        for product in products:
            for incident_id, times in self._firing[product].items():
                if incident_id in found or self.incidents[incident_id].space != alert.space:
                    continue
                i = bisect_left(times, (low, ""))
                if i < len(times) and times[i][0] <= high:
                    found.add(incident_id)
        return found

    def forget(self, incident_id: str) -> None:
        """Drop an incident and its alerts from the index entirely."""
        incident = self.incidents.pop(incident_id, None)
        if incident is None:
            return
        self.close(incident)
        for alert_id, alert in incident.alerts.items():
            if self.home.get(alert_id) == incident_id:
                del self.home[alert_id]
            holders = self._by_fingerprint.get(alert.fingerprint)
            if holders is not None:
                holders.discard(incident_id)
                if not holders:
                    del self._by_fingerprint[alert.fingerprint]

    def replace(self, incident: Incident) -> None:
        """Put the newest copy of an incident (read back from storage) in place of the old."""
        self.forget(incident.id)
        self.incidents[incident.id] = incident
        for alert in incident.alerts.values():
            self._index_alert(incident, alert)

    def prune(self, cleared_before: datetime) -> int:
        """Forget merged incidents and those resolved before `cleared_before`."""
        stale = [
            i.id
            for i in self.incidents.values()
            if i.merged_into is not None
            or (not i.is_open and (i.cleared_at is None or i.cleared_at < cleared_before))
        ]
        for incident_id in stale:
            self.forget(incident_id)
        return len(stale)

    def knows_fingerprint(self, fingerprint: str) -> bool:
        """True when some indexed incident holds an alert with `fingerprint`."""
        return bool(self._by_fingerprint.get(fingerprint))

    def with_fingerprint(self, fingerprint: str) -> list[Incident]:
        """Every known incident holding an alert with `fingerprint`."""
        return [self.incidents[i] for i in self._by_fingerprint.get(fingerprint, ())]
