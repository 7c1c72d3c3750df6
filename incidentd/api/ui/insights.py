"""The insights page of a space: incidents per day by severity, MTTR per week, open by tag.

The figures are the JSON API's (the same storage functions as `/incidents/distribution` and
`/incidents/summary`, under the same filters); the charts are inline SVG drawn from
`charts.py`. Every bar and point links to the incident list it counts.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse, Response

from incidentd.api.deps import Conn
from incidentd.api.params import window
from incidentd.api.ui.charts import Chart, Column, horizontal_bars, line, stacked_bars
from incidentd.api.ui.filters import STATUSES, Filters, UiFilters
from incidentd.api.ui.render import page
from incidentd.api.ui.routes import common_context, ui_errors
from incidentd.api.ui.session import UiCaller, UiSpace, ui_root
from incidentd.schemas.common import Impact, Severity
from incidentd.storage.insights import (
    DayCounts,
    incident_distribution,
    incident_summary,
    weekly_hours_to_resolve,
)

router = APIRouter(prefix="/ui", include_in_schema=False)
WINDOW_DAYS = 30
SERIES = [s.value for s in Severity]  # stacked from the bottom: critical first
ONE_DAY = timedelta(days=1)


def _per_day(days: list[DayCounts], chosen: UiFilters, root: str, slug: str) -> Chart:
    columns = []
    for day in days:
        span = {"from_": day.day.isoformat(), "to": (day.day + ONE_DAY).isoformat()}
        columns.append(
            Column(
                label=day.day.strftime("%b %d"),
                href=chosen.list_url(root, slug, **span),
                title=day.day.isoformat(),
                values={k: float(v) for k, v in day.by_severity.items()},
                hrefs={s: chosen.list_url(root, slug, severity=s, **span) for s in SERIES},
            )
        )
    return stacked_bars(columns, SERIES)


def _weeks(start: date, end: date) -> list[date]:
    """The Mondays of every week that `[start, end)` touches."""
    monday = start - timedelta(days=start.weekday())
    return [monday + timedelta(weeks=k) for k in range((end - ONE_DAY - monday).days // 7 + 1)]


def _per_week(hours: dict[date, float], chosen: UiFilters, root: str, slug: str) -> Chart:
    start, end = date.fromisoformat(chosen.from_), date.fromisoformat(chosen.to)
    columns = []
    for monday in _weeks(start, end):
        span = {
            "from_": max(monday, start).isoformat(),
            "to": min(monday + timedelta(weeks=1), end).isoformat(),
        }
        value = hours.get(monday)
        columns.append(
            Column(
                label=monday.strftime("%b %d"),
                href=chosen.list_url(root, slug, status="resolved", **span),
                title=f"week of {monday.isoformat()}",
                values={} if value is None else {"hours": value},
            )
        )
    return line(columns, "hours", "h")


def _open_by_tag(counts: dict[str, int], chosen: UiFilters, root: str, slug: str) -> Chart:
    columns = [
        Column(
            label=tag,
            href=chosen.list_url(root, slug, tag=tag, status="unresolved"),
            title=f"{tag}: {n} open",
            values={"open": float(n)},
        )
        for tag, n in counts.items()
    ]
    return horizontal_bars(columns, "open")


@router.get("/spaces/{slug}/insights", response_class=HTMLResponse)
def insights_page(
    request: Request, space: UiSpace, caller: UiCaller, conn: Conn, chosen: Filters
) -> Response:
    """Incidents per day by severity, MTTR per week and open incidents by tag, filtered."""
    chosen = chosen.with_default_window(WINDOW_DAYS, datetime.now(UTC).date())
    with ui_errors():
        flt = chosen.incident_filter()
        window(flt.from_time, flt.to_time)  # at most 366 days, as the API allows
    root, slug = ui_root(request), space.slug
    summary = incident_summary(conn, slug, replace(flt, unresolved=False))
    weekly = weekly_hours_to_resolve(conn, slug, flt)
    return page(
        request,
        "insights.html",
        title=f"Insights \u00b7 {slug}",
        chosen=chosen,
        summary=summary,
        per_day=_per_day(incident_distribution(conn, slug, flt), chosen, root, slug),
        per_week=_per_week(weekly, chosen, root, slug),
        by_tag=_open_by_tag(summary.open_by_tag, chosen, root, slug),
        series=SERIES,
        statuses=STATUSES,
        severities=[s.value for s in Severity],
        impacts=[i.value for i in Impact],
        list_url=chosen.list_url(root, slug),
        **common_context(request, caller, space),
    )
