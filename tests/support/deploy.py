"""The files under deploy/, loaded for the static checks of tests/unit/test_deploy_*.py: compose
services, the Kubernetes base and overlay, the Dockerfile, and the settings defaults they use.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from incidentd.schemas.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
DOCKERFILE = DEPLOY / "Dockerfile"
COMPOSE = DEPLOY / "compose.yaml"
PROMETHEUS = DEPLOY / "prometheus" / "prometheus.yml"
ALERT_RULES = DEPLOY / "prometheus" / "alerts.yml"
DASHBOARDS = DEPLOY / "grafana" / "dashboards"
DATASOURCES = DEPLOY / "grafana" / "provisioning" / "datasources"
K8S_BASE = DEPLOY / "k8s" / "base"
K8S_OVERLAY = DEPLOY / "k8s" / "overlays" / "example"

WORKER_JOB = "incidentd-worker"
API_JOB = "incidentd-api"


# -- loading ------------------------------------------------------------------------------------


def _yaml_files() -> list[Path]:
    return sorted(p for p in DEPLOY.rglob("*") if p.suffix in (".yml", ".yaml"))


def _load_all(path: Path) -> list[Any]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def _load(path: Path) -> Any:
    docs = _load_all(path)
    assert len(docs) == 1, f"{path}: expected one YAML document, found {len(docs)}"
    return docs[0]


@cache
def _compose() -> dict[str, Any]:
    compose: dict[str, Any] = _load(COMPOSE)
    return compose


def _services() -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = _compose()["services"]
    return services


def _is_incidentd_image(image: str) -> bool:
    repository = _split_image(image)[0]
    return repository == "incidentd" or repository.endswith("/incidentd")


def _split_image(image: str) -> tuple[str, str | None]:
    """`repo[:tag][@digest]` -> (repo, tag)."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        repository, tag = name.rsplit(":", 1)
        return repository, tag
    return name, None


def _incidentd_services() -> dict[str, dict[str, Any]]:
    return {n: s for n, s in _services().items() if _is_incidentd_image(s.get("image", ""))}


def _kustomization(directory: Path) -> dict[str, Any]:
    kustomization: dict[str, Any] = _load(directory / "kustomization.yaml")
    return kustomization


@cache
def _base_docs() -> tuple[dict[str, Any], ...]:
    docs: list[dict[str, Any]] = []
    for resource in _kustomization(K8S_BASE)["resources"]:
        docs.extend(_load_all(K8S_BASE / resource))
    return tuple(docs)


def _base(kind: str, name: str) -> dict[str, Any]:
    found = [d for d in _base_docs() if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"k8s base: expected one {kind} {name}, found {len(found)}"
    return found[0]


def _containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    spec = doc["spec"]["template"]["spec"]
    containers: list[dict[str, Any]] = spec.get("initContainers", []) + spec["containers"]
    return containers


def _main_container(doc: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = doc["spec"]["template"]["spec"]["containers"][0]
    return container


def _workloads(docs: tuple[dict[str, Any], ...] | list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] in ("Deployment", "Job", "StatefulSet", "DaemonSet")]


def _generated_config(directory: Path, name: str = "incidentd-config") -> dict[str, str]:
    """The literals of a kustomization's configMapGenerator entry."""
    values: dict[str, str] = {}
    for generator in _kustomization(directory).get("configMapGenerator", []):
        if generator["name"] == name:
            for literal in generator.get("literals", []):
                key, _, value = literal.partition("=")
                values[key] = value
    return values


def _dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments), continuation lines joined, comments dropped."""
    lines = [ln for ln in DOCKERFILE.read_text().splitlines() if not ln.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    out = []
    for line in joined.splitlines():
        if line.strip():
            instruction, _, args = line.strip().partition(" ")
            out.append((instruction.upper(), args.strip()))
    return out


def _dockerfile_stages() -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for instruction, args in _dockerfile():
        if instruction == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((instruction, args))
    return stages


def _dockerfile_args() -> dict[str, str]:
    out = {}
    for instruction, args in _dockerfile():
        if instruction == "ARG" and "=" in args:
            key, _, value = args.partition("=")
            out[key] = value.strip('"')
    return out


def _dockerfile_env() -> dict[str, str]:
    out = {}
    for instruction, args in _dockerfile():
        if instruction == "ENV":
            for key, value in re.findall(r'(\w+)=("[^"]*"|\S+)', args):
                out[key] = value.strip('"')
    return out


def _json_instruction(name: str) -> list[str]:
    found = [args for instruction, args in _dockerfile() if instruction == name]
    assert found, f"Dockerfile has no {name}"
    value = json.loads(found[-1])
    assert isinstance(value, list), f"{name} must use the JSON (exec) form"
    return [str(v) for v in value]


def _compose_partitions() -> int:
    return int(_services()["topics"]["environment"]["PARTITIONS"])


# -- what the code defines -------------------------------------------------------------------


def _default(field: str) -> Any:
    return Settings.model_fields[field].default
