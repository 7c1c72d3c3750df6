"""dbt: `target/run_results.json` with its `target/manifest.json` -> alert events v1.

The document is `{"run_results": ..., "manifest": ...}`. Tests (`fail`, `warn`, `error`) fire
on the node they test (the manifest's `attached_node`, else the node they depend on) and models,
seeds and snapshots that failed to build fire on themselves; a passing test or a built node is
a `resolved` alert of the same fingerprint, which clears an earlier failure. Skipped nodes,
hooks and unit tests give nothing. The README has the field table.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from incidentd.intake.base import IntakeError, Mapped, Products
from incidentd.intake.build import Collector, Finding, number, parse_document

NAME = "dbt"
BUILT = frozenset({"model", "seed", "snapshot"})
FIRING = {"fail": True, "warn": True, "error": True, "pass": False, "success": False}
SEVERITIES = frozenset({"critical", "high", "medium", "low", "info"})
_THRESHOLD = re.compile(r"^\s*(?:!=|>=?)\s*(-?\d+(?:\.\d+)?)\s*$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class _Metadata(_Model):
    dbt_schema_version: str | None = None
    invocation_id: str = Field(min_length=1)
    generated_at: str | None = None


class _RunResults(_Model):
    metadata: _Metadata
    results: list[Any]


class _Manifest(_Model):
    metadata: dict[str, Any] = Field(default_factory=dict)
    nodes: dict[str, dict[str, Any]]
    sources: dict[str, dict[str, Any]] = Field(default_factory=dict)


class _Timing(_Model):
    name: str | None = None
    completed_at: str | None = None


class _Result(_Model):
    unique_id: str = Field(min_length=1)
    status: str
    message: str | None = None
    failures: int | None = None
    timing: list[_Timing] = Field(default_factory=list)


class _DependsOn(_Model):
    nodes: list[str] = Field(default_factory=list)


class _Node(_Model):
    """A manifest node or source (only what the mapping reads)."""

    unique_id: str
    name: str
    resource_type: str
    column_name: str | None = None
    attached_node: str | None = None
    depends_on: _DependsOn = Field(default_factory=_DependsOn)
    test_metadata: dict[str, Any] | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    relation_name: str | None = None
    tags: list[str] = Field(default_factory=list)
    meta: dict[str, Any] = Field(default_factory=dict)


class DbtSource:
    """dbt's run results, read with the manifest that says what each test checks."""

    name = NAME

    def map(self, document: Mapping[str, Any], *, space: str, products: Products) -> Mapped:
        """One alert per test result and per failed or rebuilt node (pure)."""
        run_results, manifest = _read(document)
        collector = Collector(NAME, space, products)
        for index, raw in enumerate(run_results.results):
            _map_result(collector, raw, index, run_results.metadata, manifest)
        return collector.mapped


def _read(document: object) -> tuple[_RunResults, _Manifest]:
    if not isinstance(document, Mapping):
        raise IntakeError(f"a dbt document must be a JSON object, got {type(document).__name__}")
    if document.get("run_results") is None:
        raise IntakeError('a dbt document needs "run_results" (target/run_results.json)')
    if document.get("manifest") is None:
        raise IntakeError(
            "dbt run_results.json without its manifest.json: the manifest (same target/ "
            "directory) says which model and column each test checks"
        )
    _expect_kind(document["run_results"], "run-results", "run_results")
    _expect_kind(document["manifest"], "manifest", "manifest")
    run_results = parse_document(_RunResults, document["run_results"], "dbt run_results.json")
    manifest = parse_document(_Manifest, document["manifest"], "dbt manifest.json")
    return run_results, manifest


def _expect_kind(part: object, kind: str, key: str) -> None:
    """dbt names each artifact's schema in metadata.dbt_schema_version (…/run-results/v6.json)."""
    metadata = part.get("metadata") if isinstance(part, Mapping) else None
    version = metadata.get("dbt_schema_version") if isinstance(metadata, Mapping) else None
    if isinstance(version, str) and f"/{kind}/" not in version:
        raise IntakeError(f'"{key}" holds another dbt artifact ({version}), not {kind}.json')


def _map_result(
    collector: Collector, raw: object, index: int, metadata: _Metadata, manifest: _Manifest
) -> None:
    item = f"results[{index}]"
    result = collector.parse(_Result, raw, item)
    if result is None:
        return
    kind = result.unique_id.split(".", 1)[0]
    if kind != "test" and kind not in BUILT:
        return  # hooks, unit tests, analyses: nothing a data product suffers from
    if result.status == "skipped":
        return
    node = _node(manifest, result.unique_id)
    if node is None:
        collector.reject(result.unique_id, "not in the manifest (is it from the same run?)")
    elif result.status not in FIRING:
        collector.reject(result.unique_id, f"unknown dbt status {result.status!r}")
    elif kind == "test":
        _test(collector, result, node, metadata, manifest)
    else:
        _build(collector, result, node, metadata)


def _node(manifest: _Manifest, unique_id: str) -> _Node | None:
    raw = manifest.nodes.get(unique_id) or manifest.sources.get(unique_id)
    if raw is None:
        return None
    try:
        return _Node.model_validate({"unique_id": unique_id, **raw})
    except ValueError:
        return None


def _test(
    collector: Collector, result: _Result, test: _Node, metadata: _Metadata, manifest: _Manifest
) -> None:
    tested_id = test.attached_node or next(iter(test.depends_on.nodes), None)
    tested = _node(manifest, tested_id) if tested_id else None
    if tested is None:
        collector.reject(result.unique_id, "the manifest names no node this test checks")
        return
    column = test.column_name
    where = f"{tested.name}.{column}" if column else tested.name
    verb = {"fail": "failed", "warn": "warns", "error": "could not run"}.get(result.status)
    warn = result.status == "warn" or str(test.config.get("severity", "")).lower() == "warn"
    condition = test.config.get("warn_if" if result.status == "warn" else "error_if")
    finding = _finding(result, tested, metadata)
    finding.title = f"dbt test {test.name} {verb or 'passes'} on {where}"
    finding.severity = _severity(test, "medium" if warn else "high")
    finding.alert_type = "dbt_test_error" if result.status == "error" else finding.alert_type
    finding.check_name = test.name
    finding.check_extra = {"type": (test.test_metadata or {}).get("name")}
    finding.attribute = column
    finding.metric = _failures(result.failures, condition)
    finding.tags = [*finding.tags, *test.tags]
    collector.add(result.unique_id, finding)


def _build(collector: Collector, result: _Result, node: _Node, metadata: _Metadata) -> None:
    finding = _finding(result, node, metadata)
    verb = "failed to build" if finding.firing else "built"
    finding.title = f"dbt {node.resource_type} {node.name} {verb}"
    finding.alert_type = "dbt_build_failed"
    finding.severity = _severity(node, "high")
    finding.check_name = f"build {node.name}"
    collector.add(result.unique_id, finding)


def _finding(result: _Result, target: _Node, metadata: _Metadata) -> Finding:
    """The parts of a test's or node's alert that come from the result and its target."""
    return Finding(
        run_id=metadata.invocation_id,
        check_id=result.unique_id,
        targets=_targets(target),
        firing=FIRING[result.status],
        severity="high",
        occurred_at=_finished(result) or metadata.generated_at,
        title="",
        description=result.message,
        tags=[target.resource_type, *target.tags],
        extra={"dbt": {"status": result.status, "node": target.unique_id}},
    )


def _targets(node: _Node) -> list[str]:
    """A node's names a catalog may know: unique_id, relation (`db.schema.table`), name."""
    relation = (node.relation_name or "").replace('"', "").replace("`", "")
    return [node.unique_id, relation, node.name]


def _finished(result: _Result) -> str | None:
    execute = [t.completed_at for t in result.timing if t.name == "execute" and t.completed_at]
    every = [t.completed_at for t in result.timing if t.completed_at]
    finished = execute or every
    return finished[-1] if finished else None


def _severity(node: _Node, default: str) -> str:
    """`meta.severity` (on the node or its config) overrides the mapping's default."""
    for meta in (node.config.get("meta"), node.meta):
        chosen = meta.get("severity") if isinstance(meta, Mapping) else None
        if isinstance(chosen, str) and chosen.lower() in SEVERITIES:
            return chosen.lower()
    return default


def _failures(failures: int | None, condition: object) -> dict[str, Any] | None:
    if failures is None:
        return None
    match = _THRESHOLD.match(condition) if isinstance(condition, str) else None
    return {
        "name": "failures",
        "value": number(failures),
        "threshold": float(match.group(1)) if match else None,
    }


SOURCE = DbtSource()
