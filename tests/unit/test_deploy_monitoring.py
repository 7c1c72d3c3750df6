"""Static checks of monitoring: Prometheus rules and Grafana dashboards query only metrics a worker
exports and columns the incidents table has.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

from incidentd.storage.tables import Base
from incidentd.worker.metrics import WorkerMetrics
from tests.support.deploy import (
    ALERT_RULES,
    COMPOSE,
    DASHBOARDS,
    DATASOURCES,
    DEPLOY,
    PROMETHEUS,
    WORKER_JOB,
    _load,
    _services,
)


@cache
def _exported_metrics() -> frozenset[str]:
    """Series names a worker's /metrics can expose (counters get `_total`)."""
    suffixes = {
        "counter": ("_total", "_created"),
        "histogram": ("_bucket", "_count", "_sum", "_created"),
        "summary": ("_count", "_sum", "_created", ""),
    }
    names: set[str] = set()
    for family in WorkerMetrics().registry.collect():
        names.update(family.name + s for s in suffixes.get(family.type, ("",)))
        names.update(sample.name for sample in family.samples)
    return frozenset(names)


_PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool"}
_PROMQL_WORDS |= {"and", "or", "unless", "offset", "atan2", "inf", "nan"}


def _promql_metrics(expr: str) -> set[str]:
    """Metric names a PromQL expression (or a Grafana query) selects."""
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', expr)  # strings
    text = re.sub(r"\{[^}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # ranges and subqueries
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    text = re.sub(r"\$\{?\w+\}?", " ", text)  # Grafana variables
    names = set()
    for match in re.finditer(r"(?<![\w.])([A-Za-z_:][\w:]*)(\s*\()?", text):
        if match.group(2) is None and match.group(1).lower() not in _PROMQL_WORDS:
            names.add(match.group(1))
    return names


def test_prometheus_rules_use_only_exported_metrics() -> None:
    rule_files = _load(PROMETHEUS)["rule_files"]
    assert [(PROMETHEUS.parent / f).resolve() for f in rule_files] == [ALERT_RULES.resolve()]
    known = _exported_metrics() | {"up"}
    used: set[str] = set()
    for group in _load(ALERT_RULES)["groups"]:
        for rule in group["rules"]:
            names = _promql_metrics(rule["expr"])
            assert names, f"{rule['alert']}: no metric"
            assert names <= known, f"{rule['alert']}: not exported: {sorted(names - known)}"
            assert rule["labels"]["severity"] in ("warning", "critical")
            assert rule["annotations"]["summary"]
            if "up" in names:
                assert f'job="{WORKER_JOB}"' in rule["expr"], rule["alert"]
            used |= names
    required = {
        "incidentd_consumer_lag",
        "incidentd_dead_letters_total",
        "incidentd_delivery_oldest_undelivered_seconds",
        "incidentd_outbox_oldest_age_seconds",
        "incidentd_ready",
        "up",
    }
    assert required <= used, f"no alert on {sorted(required - used)}"


def test_the_promql_checker_catches_wrong_names() -> None:
    assert _promql_metrics('sum by (a) (rate(x_total{b="c"}[5m])) > 0 and y offset 5m') == {
        "x_total",
        "y",
    }
    assert _promql_metrics(
        "histogram_quantile(0.95, sum by (le) (rate(h_bucket[$__rate_interval])))"
    ) == {"h_bucket"}
    assert "incidentd_dead_letters" not in _exported_metrics()  # counters only as _total
    assert "incidentd_consumer_lag" in _exported_metrics()  # labelled, never set yet


def _dashboards() -> list[tuple[Path, dict[str, Any]]]:
    return [(p, json.loads(p.read_text())) for p in sorted(DASHBOARDS.glob("*.json"))]


def _panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])  # collapsed rows


def _datasources() -> dict[str, dict[str, Any]]:
    sources = {}
    for path in DATASOURCES.glob("*.y*ml"):
        for source in _load(path).get("datasources", []):
            sources[source["uid"]] = source
    return sources


_SQL_WORDS = {
    "select", "from", "where", "and", "or", "not", "is", "null", "group", "by", "order", "as",
    "count", "limit", "desc", "asc", "array_position", "array", "in", "case", "when", "then",
    "else", "end", "distinct", "now", "interval",
}  # fmt: skip


def _sql_identifiers(sql: str) -> set[str]:
    text = re.sub(r"'[^']*'", " ", sql)
    text = re.sub(r'"[^"]*"', " ", text)
    text = re.sub(r"(?i)\bas\s+\w+", " ", text)
    return {w for w in re.findall(r"[A-Za-z_]\w*", text.lower()) if w not in _SQL_WORDS}


def test_grafana_dashboard_queries_exported_metrics_and_real_columns() -> None:
    sources = _datasources()
    kinds = {s["type"] for s in sources.values()}
    assert "prometheus" in kinds and "grafana-postgresql-datasource" in kinds
    known = _exported_metrics() | {"up"}
    incidents = Base.metadata.tables["incidents"]
    used: set[str] = set()
    sql_panels = []
    for path, dashboard in _dashboards():
        for panel in _panels(dashboard):
            for target in panel.get("targets", []):
                uid = (target.get("datasource") or panel["datasource"])["uid"]
                assert uid in sources, f"{path.name} {panel['title']}: no datasource {uid}"
                kind = sources[uid]["type"]
                if kind == "prometheus":
                    names = _promql_metrics(target["expr"])
                    assert names <= known, f"{panel['title']}: not exported {names - known}"
                    used |= names
                else:
                    columns = _sql_identifiers(target["rawSql"]) - {"incidents"}
                    assert "incidents" in target["rawSql"]
                    assert columns <= set(incidents.columns.keys()), columns
                    sql_panels.append(panel["title"])
    required = {
        "incidentd_alerts_processed_total",
        "incidentd_consumer_lag",
        "incidentd_dead_letters_total",
        "incidentd_outbox_backlog",
        "incidentd_outbox_oldest_age_seconds",
    }
    assert required <= used, f"no panel on {sorted(required - used)}"
    assert "Open incidents by severity" in sql_panels

    # The provisioning and the compose mounts point at the same places.
    grafana = _services()["grafana"]
    provider = _load(DEPLOY / "grafana/provisioning/dashboards/incidentd.yml")["providers"][0]
    mounts = dict(v.removesuffix(":ro").split(":", 1)[::-1] for v in grafana["volumes"])
    assert (COMPOSE.parent / mounts[provider["options"]["path"]]).resolve() == DASHBOARDS
    postgres = _services()["postgres"]["environment"]
    pg = next(s for s in sources.values() if s["type"] == "grafana-postgresql-datasource")
    assert pg["jsonData"]["database"] == postgres["POSTGRES_DB"]
    init_sql = "".join(p.read_text() for p in (DEPLOY / "postgres" / "initdb").glob("*.sql"))
    assert f"CREATE ROLE {pg['user']} " in init_sql
    assert f"FOR ROLE {postgres['POSTGRES_USER']} " in init_sql
