"""Request and response bodies of the HTTP API, one module per resource.

Import from the module of the resource (`incidentd.schemas.api.incidents`); the names below
are re-exported for older imports only.
"""

from __future__ import annotations

from incidentd.schemas.api.alerts import (
    AlertPage,
    AlertSearch,
    AlertSearchItem,
)
from incidentd.schemas.api.catalog import (
    CatalogId,
    EdgeBody,
    EdgeOut,
    LineageDirection,
    LineageNode,
    OpenLineageResult,
    ProductBody,
    ProductLineage,
    ProductList,
    ProductOut,
)
from incidentd.schemas.api.errors import (
    ApiError,
)
from incidentd.schemas.api.history import (
    HistoryEntryOut,
)
from incidentd.schemas.api.incidents import (
    AlertOut,
    BlastRadiusProduct,
    IncidentDetail,
    IncidentList,
    IncidentPatch,
    LinkTicket,
    ShortText,
    TimelineEntry,
)
from incidentd.schemas.api.insights import (
    DayDistribution,
    IncidentDistribution,
    IncidentSummary,
)
from incidentd.schemas.api.notify import (
    NotificationList,
    NotificationOut,
    NotifyResult,
    ReadAllResult,
)

__all__ = [
    "AlertOut",
    "AlertPage",
    "AlertSearch",
    "AlertSearchItem",
    "ApiError",
    "BlastRadiusProduct",
    "CatalogId",
    "DayDistribution",
    "EdgeBody",
    "EdgeOut",
    "HistoryEntryOut",
    "IncidentDetail",
    "IncidentDistribution",
    "IncidentList",
    "IncidentPatch",
    "IncidentSummary",
    "LineageDirection",
    "LineageNode",
    "LinkTicket",
    "NotificationList",
    "NotificationOut",
    "NotifyResult",
    "OpenLineageResult",
    "ProductBody",
    "ProductLineage",
    "ProductList",
    "ProductOut",
    "ReadAllResult",
    "ShortText",
    "TimelineEntry",
]
