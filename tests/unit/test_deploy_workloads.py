"""Static checks of how the workers and the API run in compose and Kubernetes: draining on stop,
topics and partitions, KEDA scaling, migrations before start, and hardening.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import yaml

from tests.support.deploy import (
    K8S_BASE,
    K8S_OVERLAY,
    _base,
    _base_docs,
    _compose_partitions,
    _containers,
    _default,
    _generated_config,
    _kustomization,
    _main_container,
    _services,
    _split_image,
    _workloads,
)

TOPIC_SETTINGS = ("alerts_topic", "incidents_topic", "dlq_topic", "lineage_topic")
PARTITIONS_ANNOTATION = "incidentd.io/alerts-topic-partitions"


def test_a_stopping_worker_has_time_to_drain() -> None:
    # On SIGTERM: the batch in hand, then the relay and the mailer for up to
    # INCIDENTD_SHUTDOWN_TIMEOUT_SECONDS each, then the producer closes (10 s).
    config = _generated_config(K8S_BASE)
    shutdown = float(
        config.get("INCIDENTD_SHUTDOWN_TIMEOUT_SECONDS", _default("shutdown_timeout_seconds"))
    )
    needed = 2 * shutdown + 10 + 15
    spec = _base("Deployment", "incidentd-worker")["spec"]["template"]["spec"]
    assert spec["terminationGracePeriodSeconds"] >= needed
    grace = _services()["worker"]["stop_grace_period"]
    assert re.fullmatch(r"\d+s", grace), grace
    assert int(grace[:-1]) >= 2 * _default("shutdown_timeout_seconds") + 10 + 15


def test_topics_and_partitions() -> None:
    topics = _services()["topics"]
    assert _split_image(topics["image"])[0] == "apache/kafka"
    assert "kafka-topics.sh" in " ".join(topics["command"])
    assert topics["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert set(topics["environment"]["TOPICS"].split()) == {_default(t) for t in TOPIC_SETTINGS}
    partitions = _compose_partitions()
    assert partitions >= 1

    scaled = _base("ScaledObject", "incidentd-worker")
    assert int(scaled["metadata"]["annotations"][PARTITIONS_ANNOTATION]) == partitions
    spec = scaled["spec"]
    assert spec["scaleTargetRef"]["name"] == "incidentd-worker"
    assert spec["minReplicaCount"] >= 1
    assert spec["minReplicaCount"] <= spec["maxReplicaCount"] <= partitions
    for patch in _overlay_json_patches("ScaledObject"):
        if patch["path"] == "/spec/maxReplicaCount":
            assert spec["minReplicaCount"] <= patch["value"] <= partitions, patch


def _overlay_json_patches(kind: str) -> Iterator[dict[str, Any]]:
    for entry in _kustomization(K8S_OVERLAY).get("patches", []):
        if entry.get("target", {}).get("kind") == kind and "patch" in entry:
            yield from yaml.safe_load(entry["patch"])


def test_keda_scales_workers_on_the_consumer_group_lag() -> None:
    spec = _base("ScaledObject", "incidentd-worker")["spec"]
    (trigger,) = spec["triggers"]
    assert trigger["type"] == "kafka"
    metadata = trigger["metadata"]
    assert all(isinstance(v, str) for v in metadata.values()), "KEDA metadata values are strings"
    assert int(metadata["lagThreshold"]) > 0
    # The …FromEnv names come from the worker container's environment: the ConfigMap.
    config = _generated_config(K8S_BASE)
    expected = {
        "bootstrapServers": "kafka_bootstrap_servers",
        "consumerGroup": "consumer_group",
        "topic": "alerts_topic",
    }
    for key, field in expected.items():
        variable = metadata.get(f"{key}FromEnv")
        assert variable == f"INCIDENTD_{field.upper()}", f"{key}FromEnv"
        assert variable in config, f"{variable} must be in the ConfigMap for KEDA to read it"
    assert config["INCIDENTD_ALERTS_TOPIC"] == _default("alerts_topic")
    worker = _base("Deployment", "incidentd-worker")
    assert "replicas" not in worker["spec"], "KEDA owns the worker count"
    env_from = _main_container(worker)["envFrom"]
    assert {"configMapRef": {"name": "incidentd-config"}} in env_from


def test_pods_migrate_before_they_start() -> None:
    # A worker on an older schema has its writes refused, and its batches dead-lettered.
    for name in ("incidentd-worker", "incidentd-api"):
        pod = _base("Deployment", name)["spec"]["template"]["spec"]
        assert [c["args"] for c in pod.get("initContainers", [])] == [["migrate"]], name
    job = _base("Job", "incidentd-migrate")["spec"]
    assert _main_container(_base("Job", "incidentd-migrate"))["args"] == ["migrate"]
    assert job["template"]["spec"]["restartPolicy"] in ("Never", "OnFailure")
    assert "ttlSecondsAfterFinished" in job, "a finished Job must go before the next apply"


def test_compose_workers_can_scale() -> None:
    worker = _services()["worker"]
    assert "container_name" not in worker
    assert "ports" not in worker, "fixed host ports collide with --scale worker=N"
    assert worker["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert worker["depends_on"]["topics"]["condition"] == "service_completed_successfully"
    assert _services()["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_kubernetes_workloads_are_hardened() -> None:
    for doc in _workloads(_base_docs()):
        pod = doc["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, doc["metadata"]["name"]
        for container in _containers(doc):
            assert {"requests", "limits"} <= set(container["resources"]), container["name"]
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
            refs = [next(iter(e.values()))["name"] for e in container["envFrom"]]
            assert refs == ["incidentd-config", "incidentd-database"], refs
    for name in ("incidentd-worker", "incidentd-api"):
        pdb = _base("PodDisruptionBudget", name)
        labels = _base("Deployment", name)["spec"]["selector"]["matchLabels"]
        assert pdb["spec"]["selector"]["matchLabels"] == labels
