"""The UI's incident filters: one set of query parameters for the list and the insights page.

`status`, `severity`, `impact`, `tag`, `q` (text) and the dates `from` (inclusive) and `to`
(exclusive), on when each incident's problem started. A value the UI does not know is
dropped, not an error: links stay shareable while the choices change. They become the JSON
API's own filter (`incidents.incident_filter`), so the pages count what the API counts.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import Depends, Query

from incidentd.api.routes import incidents
from incidentd.schemas.common import Impact, IncidentStatus, Severity
from incidentd.storage.incident_queries import IncidentFilter

UNRESOLVED = "unresolved"
STATUSES = [UNRESOLVED, *(s.value for s in IncidentStatus)]
MAX_TEXT = 500


def _pick(value: str | None, allowed: list[str]) -> str:
    """`value` in its canonical spelling if it is one of `allowed` (any case), else ''."""
    by_lower = {a.lower(): a for a in allowed}
    return by_lower.get((value or "").strip().lower(), "")


def _text(value: str | None) -> str:
    return "".join(c for c in (value or "") if c.isprintable()).strip()[:MAX_TEXT]


def _day(value: str | None) -> str:
    try:
        return date.fromisoformat((value or "").strip()).isoformat()
    except ValueError:
        return ""


def _midnight(day: str) -> datetime | None:
    return datetime.fromisoformat(day).replace(tzinfo=UTC) if day else None


@dataclass(frozen=True, slots=True)
class UiFilters:
    """The chosen filters, each '' when not chosen."""

    status: str = ""
    severity: str = ""
    impact: str = ""
    tag: str = ""
    q: str = ""
    from_: str = ""
    to: str = ""

    def query(self, **changes: str) -> dict[str, str]:
        """The query parameters of these filters with `changes`, unset ones left out."""
        chosen = {("from" if k == "from_" else k): v for k, v in asdict(self).items()}
        chosen.update({("from" if k == "from_" else k): v for k, v in changes.items()})
        return {k: v for k, v in chosen.items() if v}

    def list_url(self, root: str, slug: str, **changes: str) -> str:
        """The incident list showing these filters with `changes`."""
        query = urlencode(self.query(**changes))
        return f"{root}/spaces/{quote(slug, safe='')}/incidents" + (f"?{query}" if query else "")

    def incident_filter(self) -> IncidentFilter:
        """The JSON API's filter (its validation, its SQL)."""
        status = self.status if self.status in (s.value for s in IncidentStatus) else None
        flt = incidents.incident_filter(
            severities=[self.severity] if self.severity else None,
            impacts=[self.impact] if self.impact else None,
            tags=[self.tag] if self.tag else None,
            from_time=_midnight(self.from_),
            to_time=_midnight(self.to),
            text_to_search=self.q or None,
            status_=IncidentStatus(status) if status else None,
        )
        return replace(flt, unresolved=self.status == UNRESOLVED)

    def with_default_window(self, days: int, today: date) -> UiFilters:
        """These filters with `from`/`to` filled in: the `days` days up to and with `today`."""
        end = date.fromisoformat(self.to) if self.to else today + timedelta(days=1)
        start = date.fromisoformat(self.from_) if self.from_ else end - timedelta(days=days)
        if start >= end:
            start = end - timedelta(days=days)
        return replace(self, from_=start.isoformat(), to=end.isoformat())


def ui_filters(  # noqa: PLR0917 - FastAPI passes query parameters by keyword
    status: str | None = None,
    severity: str | None = None,
    impact: str | None = None,
    tag: str | None = None,
    q: str | None = None,
    from_: Annotated[str | None, Query(alias="from")] = None,
    to: str | None = None,
) -> UiFilters:
    """The filters from the query string; unknown values are dropped."""
    start, end = _day(from_), _day(to)
    if start and end and start >= end:
        end = ""
    return UiFilters(
        status=_pick(status, STATUSES),
        severity=_pick(severity, [s.value for s in Severity]),
        impact=_pick(impact, [i.value for i in Impact]),
        tag=_text(tag),
        q=_text(q),
        from_=start,
        to=end,
    )


Filters = Annotated[UiFilters, Depends(ui_filters)]
