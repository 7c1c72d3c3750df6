"""In-memory index of candidate incidents for fast relatedness and fingerprint lookups."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime, timedelta

from incidentd.correlation.model import Alert, Incident
from incidentd.correlation.ports import LineageView

_Entry = tuple[datetime, str]  # (occurred_at, incident id) of a firing alert
_DEFAULT_WIDTH = 6 * 3600.0


class IncidentIndex:
    """Open incidents' firing alerts by time bucket and product, every incident by fingerprint.

    Firing alerts of open incidents sit in buckets as wide as the correlation window, so the
    alerts within the window of a new alert are in its bucket or a neighbour: relatedness
    looks at three buckets' products that are also in the alert's related set, however long
    the history of open incidents is. The width follows the window `related` is asked with.
    """

    def __init__(self, incidents: Iterable[Incident]) -> None:
        self.incidents: dict[str, Incident] = {}
        self.home: dict[str, str] = {}
        self._width = _DEFAULT_WIDTH
        self._buckets: dict[int, dict[str, list[_Entry]]] = {}
        self._by_fingerprint: dict[str, set[str]] = {}
        for incident in incidents:
            self.incidents[incident.id] = incident
            for alert in incident.alerts.values():
                self._index_alert(incident, alert)

    def _bucket(self, at: datetime) -> int:
        return int(at.timestamp() // self._width)

    def _index_alert(self, incident: Incident, alert: Alert) -> None:
        self.home[alert.alert_id] = incident.id
        self._by_fingerprint.setdefault(alert.fingerprint, set()).add(incident.id)
        if alert.firing and incident.is_open and incident.merged_into is None:
            products = self._buckets.setdefault(self._bucket(alert.occurred_at), {})
            products.setdefault(alert.product_id, []).append((alert.occurred_at, incident.id))

    def _rebucket(self, width: float) -> None:
        self._width = width
        self._buckets = {}
        for incident in self.incidents.values():
            if incident.is_open and incident.merged_into is None:
                for alert in incident.alerts.values():
                    if alert.firing:
                        self._index_alert(incident, alert)

    def add(self, incident: Incident, alert: Alert) -> None:
        """Put `alert` into `incident` and index it."""
        self.incidents.setdefault(incident.id, incident)
        incident.alerts[alert.alert_id] = alert
        self._index_alert(incident, alert)

    def close(self, incident: Incident) -> None:
        """Stop offering `incident` as a target for new firing alerts."""
        gone = incident.id
        places = {
            (self._bucket(a.occurred_at), a.product_id)
            for a in incident.alerts.values()
            if a.firing
        }
        for bucket, product in places:
            products = self._buckets.get(bucket)
            entries = None if products is None else products.get(product)
            if entries is None:
                continue
            entries[:] = [e for e in entries if e[1] != gone]
            if not entries:
                del products[product]  # type: ignore[union-attr]
                if not products:
                    del self._buckets[bucket]

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
        for fingerprint in {a.fingerprint for a in loser.alerts.values()}:
            self._by_fingerprint[fingerprint].discard(loser.id)
        loser.alerts.clear()
        loser.forget_fingerprint_states()
        return moved

    def related(self, alert: Alert, lineage: LineageView, window: timedelta) -> set[str]:
        """Ids of open incidents holding a firing alert related to `alert`."""
        width = max(window.total_seconds(), 1.0)
        if width != self._width:
            self._rebucket(width)
        at = alert.occurred_at
        low, high = at - window, at + window
        candidates = lineage.related_set(alert.product_id)
        found: set[str] = set()
        middle = self._bucket(at)
        for bucket in (middle - 1, middle, middle + 1):
            products = self._buckets.get(bucket)
            if not products:
                continue
            for product in products.keys() & candidates:
                for when, incident_id in products[product]:
                    if low <= when <= high:
                        found.add(incident_id)
        space = alert.space
        return {i for i in found if self.incidents[i].space == space}

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

    def prune(self, cleared_before: datetime, keep: Collection[str] = ()) -> int:
        """Forget merged incidents and those resolved before `cleared_before`, but `keep`."""
        stale = [
            i.id
            for i in self.incidents.values()
            if (
                i.merged_into is not None
                or (not i.is_open and (i.cleared_at is None or i.cleared_at < cleared_before))
            )
            and i.id not in keep
        ]
        for incident_id in stale:
            self.forget(incident_id)
        return len(stale)

    def knows_fingerprint(self, fingerprint: str) -> bool:
        """True when some indexed incident holds an alert with `fingerprint`."""
        return bool(self._by_fingerprint.get(fingerprint))

    def with_fingerprint(self, fingerprint: str) -> list[Incident]:
        """Every known incident holding an alert with `fingerprint`."""
        return list(map(self.incidents.__getitem__, self._by_fingerprint.get(fingerprint, ())))
