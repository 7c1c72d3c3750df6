"""Kustomize and compose inputs: every referenced file exists, and `docker compose config` and
`kubectl kustomize` accept and render them (each skipped when the tool is not installed).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support.deploy import (
    COMPOSE,
    DEPLOY,
    K8S_BASE,
    K8S_OVERLAY,
    ROOT,
    _compose_partitions,
    _containers,
    _is_incidentd_image,
    _kustomization,
    _load,
    _workloads,
)


def test_kustomization_files_exist() -> None:
    for kustomization in DEPLOY.rglob("kustomization.yaml"):
        spec = _load(kustomization)
        paths = list(spec.get("resources", []))
        paths += [p["path"] for p in spec.get("patches", []) if "path" in p]
        for entry in paths:
            target = kustomization.parent / entry
            assert target.is_file() or (target / "kustomization.yaml").is_file(), (
                f"{kustomization.relative_to(ROOT)}: {entry} does not exist"
            )


def _docker_compose_works() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        result = subprocess.run(
            ["docker", "compose", "version"], capture_output=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


@pytest.mark.skipif(not _docker_compose_works(), reason="no docker compose plugin")
def test_docker_compose_config_is_valid() -> None:
    result = subprocess.run(
        ["docker", "compose", "-f", str(COMPOSE), "config", "--quiet"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="no kubectl")
@pytest.mark.parametrize("directory", [K8S_BASE, K8S_OVERLAY], ids=["base", "example"])
def test_kustomize_renders(directory: Path) -> None:
    result = subprocess.run(
        ["kubectl", "kustomize", str(directory)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    docs = [d for d in yaml.safe_load_all(result.stdout) if d]
    config_maps = {d["metadata"]["name"] for d in docs if d["kind"] == "ConfigMap"}
    secrets = {d["metadata"]["name"] for d in docs if d["kind"] == "Secret"}
    for doc in _workloads(docs):
        for container in _containers(doc):
            assert _is_incidentd_image(container["image"]), container["image"]
            for source in container["envFrom"]:
                if "configMapRef" in source:
                    assert source["configMapRef"]["name"] in config_maps
                elif directory == K8S_BASE:
                    assert source["secretRef"]["name"] in secrets
    (scaled,) = [d for d in docs if d["kind"] == "ScaledObject"]
    assert scaled["spec"]["maxReplicaCount"] <= _compose_partitions()
    if directory == K8S_OVERLAY:
        assert not secrets, "the example overlay leaves the Secret to the operator"
        assert {d["metadata"].get("namespace") for d in docs if d["kind"] != "Namespace"} == {
            _kustomization(K8S_OVERLAY)["namespace"]
        }
