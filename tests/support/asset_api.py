"""Telmai's incidents API document (seed 001): its example requests and responses, verbatim.

The examples are copied from the document (comments and `...` elements removed); `shape_of`
compares a response with them: the same field names, JSON types and enumerations. Where the
document shows `null` any type is allowed; `nullable` names fields incidentd may leave null.
"""

from __future__ import annotations

import re
from typing import Any

# --- the document's example requests (paths under https://{host:port}) ---------------------

LIST_REQUEST = "/api/backend/{tenant}/incidents?project_ids=0,24"
DETAIL_REQUEST = "/api/backend/{tenant}/incidents/1311"
DISTRIBUTION_REQUEST = "/api/backend/{tenant}/incidents/distribution"
SUMMARY_REQUEST = "/api/backend/{tenant}/incidents/summary"
ALERTS_REQUEST = "/api/backend/{tenant}/configuration/alerts/by_filters"
ALERTS_BODY = {
    "sources": ["5x0e34yk1re4"],
    "upload_dates": ["2025-06-30T14:12:51.871Z", "2025-06-30T14:13:55.325Z"],
    "violation_names": ["FEATURE.s132j7ja1", "DATA.a531"],
}
ALERT_REFS = [
    {"metric_time": "2025-06-30T14:12:51.871Z", "violation_name": "FEATURE.s132j7ja1"},
    {"metric_time": "2025-06-30T14:13:55.325Z", "violation_name": "DATA.a531"},
]

# --- the document's example responses -------------------------------------------------------

LIST_ITEM = {
    "id": 1311,
    "project_id": 0,
    "asset_id": "5x0e34yk1re4",
    "last_upload_timestamp": "2025-06-30T14:12:51.871Z",
    "created_time": "2025-06-30T14:12:51.871Z",
    "severity": "HIGH",
    "impact": "HIGH",
    "status": "OPEN",
    "ticket_id": 2411,
    "alert_policy_id": "4",
    "alert_policy_name": "test_policy",
    "description": "...",
    "tags": ["T1", "PROD"],
}
DETAIL = {
    "id": 1311,
    "project_id": 0,
    "asset_id": "5x0e34yk1re4",
    "last_upload_timestamp": "2025-06-30T14:12:51.871Z",
    "severity": "HIGH",
    "impact": "HIGH",
    "status": "OPEN",
    "ticket_id": 2411,
    "alert_policy_id": "4",
    "alert_policy_name": "test_policy",
    "description": "...",
    "metrics": [
        {
            "metric_name": "contains_pii",
            "metric_aggregation": "ratio",
            "display_metric_name": "PII %",
            "segment": None,
            "rule": None,
            "attribute": None,
        }
    ],
    "tags": ["T1", "PROD"],
    "history": [
        {
            "timestamp": "2025-06-30T14:12:51.871Z",
            "state": "NEW",
            "alert_refs": [
                {"metric_time": "2025-06-30T14:12:51.871Z", "violation_name": "FEATURE.s132j7ja1"}
            ],
        }
    ],
}
DISTRIBUTION = {
    "incidents": [
        {
            "date": "2025-07-22",
            "counts": {"LOW": 1, "MEDIUM": 4, "HIGH": 6, "": 8},
            "counts_by_impact": {"LOW": 1, "MEDIUM": 4, "HIGH": 6},
        }
    ]
}
SUMMARY = {
    "total": 25,
    "open": 6,
    "closed": 19,
    "mean_time_to_resolve": 122,
    "previous_mean_time_to_resolve": 117,
    "open_by_tag": {"T1": 3, "prod": 12},
    "closed_by_tag": {"T1": 12, "prod": 67},
}
ALERT = {
    "type": "SCHEMA_CHANGE",
    "source": "SNOWFLAKE.SALES_DB.PUBLIC.CUSTOMER_ORDERS",
    "attribute": "SHIPPING_ADDRESS",
    "job_id": "job-f8e2-4a1b-9c3d-5e6f7a8b9c0d",
    "create_time": "2023-10-27T10:30:00.123Z",
    "save_time": "2023-10-27T10:30:05.456Z",
    "violation_data": {},
    "violation_name": "Customer Orders Schema Drift",
    "notification_channels": ["critical-alerts-slack", "data-team-email"],
    "is_notification_enabled": True,
    "metric_time": "2023-10-27T10:25:00.000Z",
    "is_notified": False,
    "metric_value": 1.0,
    "policy_name": "Monitor Production Schemas",
    "segment": "USA",
    "priority": "HIGH",
    "description": {
        "HIGH": [
            "The data type for column 'SHIPPING_ADDRESS' was changed from VARCHAR(255) to "
            "VARCHAR(512)."
        ]
    },
    "source_name": "CUSTOMER_ORDERS",
    "source_type": "SNOWFLAKE",
    "project_name": "E-commerce Analytics",
    "tags": ["production", "schema", "customer-data"],
}

# --- enumerations and formats the document states ------------------------------------------

LEVELS = {"LOW", "MEDIUM", "HIGH"}
ENUMS: dict[str, set[str]] = {
    "severity": LEVELS,
    "impact": LEVELS,
    "priority": LEVELS,
    "status": {"OPEN", "CLOSED"},
    "state": {"NEW", "ONGOING", "RESOLVED", "REOPENED"},
}
TIME_FIELDS = {
    "last_upload_timestamp",
    "created_time",
    "timestamp",
    "metric_time",
    "create_time",
    "save_time",
}
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
DATE = re.compile(r"^\d{4}-\d\d-\d\d$")


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number" if isinstance(value, float) else "integer"
    return {str: "string", list: "array", dict: "object", type(None): "null"}[type(value)]


def shape_of(
    actual: Any, example: Any, *, path: str = "$", nullable: frozenset[str] = frozenset()
) -> list[str]:
    """Every way `actual` departs from the document's `example`; empty when it has its shape.

    Objects need exactly the example's field names (map-like objects, whose keys are data,
    are compared by value types only; `{}` allows any object); numbers may be integers where
    the example is a float.
    """
    name = path.rsplit(".", 1)[-1]
    if actual is None:
        return [] if example is None or name in nullable else [f"{path}: null"]
    if example is None:
        return []
    kinds = {_kind(actual), _kind(example)}
    if len(kinds) > 1 and kinds != {"integer", "number"}:
        return [f"{path}: {_kind(actual)}, the document has {_kind(example)}"]
    problems = _enum_and_format(name, actual, path)
    if isinstance(example, dict):
        problems += _object_shape(actual, example, path, nullable)
    elif isinstance(example, list) and example:
        for k, item in enumerate(actual):
            problems += shape_of(item, example[0], path=f"{path}[{k}]", nullable=nullable)
    return problems


_MAPS = {"counts", "counts_by_impact", "open_by_tag", "closed_by_tag", "description"}


def _object_shape(
    actual: dict[str, Any], example: dict[str, Any], path: str, nullable: frozenset[str]
) -> list[str]:
    name = path.rsplit(".", 1)[-1]
    if not example:  # `{}` in the document: an object of any fields
        return []
    if name in _MAPS:
        sample = next(iter(example.values()))
        return [
            p
            for key, value in actual.items()
            for p in shape_of(value, sample, path=f"{path}[{key!r}]", nullable=nullable)
        ]
    problems = []
    if set(actual) != set(example):
        missing, extra = sorted(set(example) - set(actual)), sorted(set(actual) - set(example))
        problems.append(f"{path}: fields missing {missing}, not in the document {extra}")
    for key in set(actual) & set(example):
        problems += shape_of(actual[key], example[key], path=f"{path}.{key}", nullable=nullable)
    return problems


def _enum_and_format(name: str, value: Any, path: str) -> list[str]:
    if name in ENUMS and value not in ENUMS[name]:
        return [f"{path}: {value!r} is not one of {sorted(ENUMS[name])}"]
    if name in TIME_FIELDS and not TIME.match(value):
        return [f"{path}: {value!r} is not written like 2025-06-30T14:12:51.871Z"]
    if name == "date" and not DATE.match(value):
        return [f"{path}: {value!r} is not a date like 2025-07-22"]
    return []
