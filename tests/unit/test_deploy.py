"""Static checks of deploy/: the image, compose, Kubernetes, Prometheus and Grafana files must
agree with the code (settings, CLI, metrics, tables) and with each other (ports, partitions).

Nothing here builds or runs a container. `docker compose config` and `kubectl kustomize` run
when those tools are installed and are skipped otherwise.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from importlib.metadata import packages_distributions
from pathlib import Path
from typing import Any

import pytest
import typer.main
import yaml

from incidentd.app.cli import app
from incidentd.schemas.settings import Settings
from incidentd.storage.tables import Base
from incidentd.worker.metrics import WorkerMetrics

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
# Repositories an image may come from; the incidentd image is `incidentd` or `<registry>/incidentd`.
THIRD_PARTY_IMAGES = {"apache/kafka", "postgres", "prom/prometheus", "grafana/grafana"}
TOPIC_SETTINGS = ("alerts_topic", "incidents_topic", "dlq_topic", "lineage_topic")
PARTITIONS_ANNOTATION = "incidentd.io/alerts-topic-partitions"


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


# -- what the code defines -------------------------------------------------------------------


def _settings_env() -> dict[str, str]:
    """Environment variable -> Settings field."""
    return {f"INCIDENTD_{name.upper()}": name for name in Settings.model_fields}


def _validate_settings(values: dict[str, str], where: str) -> None:
    env = _settings_env()
    unknown = sorted(set(values) - set(env))
    assert not unknown, f"{where}: not incidentd settings: {unknown}"
    Settings.model_validate({env[k]: v for k, v in values.items()})


def _default(field: str) -> Any:
    return Settings.model_fields[field].default


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


def _cli_root() -> Any:
    """The `incidentd` command as typer builds it (typer ships its own click)."""
    command = typer.main.get_command(app)
    assert hasattr(command, "commands"), "incidentd is a command group"
    return command


def _check_cli(argv: list[str], where: str) -> Any:
    """`incidentd <argv>` names a real command whose options and values parse."""
    command = _cli_root()
    rest = list(argv)
    while hasattr(command, "commands"):
        assert rest, f"{where}: `incidentd {' '.join(argv)}` stops at a command group"
        name = rest.pop(0)
        assert name in command.commands, f"{where}: `{name}` is not an incidentd command"
        command = command.commands[name]
    options = {o for p in command.params for o in (*p.opts, *p.secondary_opts)}
    for token in rest:
        if token.startswith("--"):
            assert token.split("=", 1)[0] in options, f"{where}: {command.name} has no {token}"
    command.make_context(str(command.name), rest)  # types, choices and required arguments
    return command


def _option(argv: list[str], name: str) -> str:
    for i, token in enumerate(argv):
        if token == name:
            return argv[i + 1]
        if token.startswith(name + "="):
            return token.split("=", 1)[1]
    raise AssertionError(f"{name} missing from {argv}")


# -- the checks ----------------------------------------------------------------------------------


def test_the_expected_files_exist() -> None:
    for path in (DOCKERFILE, DEPLOY / "Dockerfile.dockerignore", COMPOSE, PROMETHEUS, ALERT_RULES):
        assert path.is_file(), f"{path} missing"
    assert list(DASHBOARDS.glob("*.json")), "no Grafana dashboard"
    assert (K8S_BASE / "kustomization.yaml").is_file()
    assert (K8S_OVERLAY / "kustomization.yaml").is_file()


@pytest.mark.parametrize("path", _yaml_files(), ids=lambda p: str(p.relative_to(DEPLOY)))
def test_every_yaml_file_parses(path: Path) -> None:
    docs = _load_all(path)
    assert docs, f"{path} is empty"
    if K8S_BASE in path.parents or K8S_OVERLAY in path.parents:
        for doc in docs:
            assert "kind" in doc, f"{path}: a document without kind"


def test_every_incidentd_variable_is_a_setting() -> None:
    env = _settings_env()
    named: dict[str, set[str]] = {}
    for path in DEPLOY.rglob("*"):
        if path.is_file():
            for name in re.findall(r"\bINCIDENTD_[A-Z0-9_]+", path.read_text()):
                named.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    unknown = {name: sorted(where) for name, where in named.items() if name not in env}
    assert not unknown, f"not fields of incidentd.schemas.settings.Settings: {unknown}"

    # Where settings are given values, the values must be valid too.
    for name, service in _incidentd_services().items():
        _validate_settings(dict(service.get("environment", {})), f"compose service {name}")
        assert "INCIDENTD_DATABASE_URL" in service["environment"], f"compose {name}: no database"
    _validate_settings(_generated_config(K8S_BASE), "k8s base ConfigMap")
    _validate_settings(_generated_config(K8S_OVERLAY), "k8s example ConfigMap")
    secret = _base("Secret", "incidentd-database")
    _validate_settings(secret["stringData"], "k8s base Secret")
    assert set(secret["stringData"]) == {"INCIDENTD_DATABASE_URL"}
    dockerfile_env = {k: v for k, v in _dockerfile_env().items() if k.startswith("INCIDENTD_")}
    _validate_settings(dockerfile_env, "Dockerfile ENV")


def test_commands_are_real_cli_commands() -> None:
    assert _json_instruction("ENTRYPOINT") == ["incidentd"]
    assert _json_instruction("CMD") == ["worker"]
    _check_cli(_json_instruction("CMD"), "Dockerfile CMD")

    commands = {}
    for name, service in _incidentd_services().items():
        assert "entrypoint" not in service, f"compose {name}: keep the image's entrypoint"
        commands[name] = service["command"]
        _check_cli(service["command"], f"compose service {name}")
    assert {commands["worker"][0], commands["api"][0], commands["migrate"][0]} == {
        "worker",
        "api",
        "migrate",
    }

    seen = set()
    for doc in _workloads(_base_docs()):
        for container in _containers(doc):
            if _is_incidentd_image(container["image"]):
                argv = list(container.get("args", []))
                if "command" in container:
                    assert container["command"][0] == "incidentd", container["command"]
                    argv = container["command"][1:] + argv
                _check_cli(argv, f"k8s {doc['metadata']['name']}/{container['name']}")
                seen.add(argv[0])
    assert seen == {"worker", "api", "migrate"}


def test_api_command_binds_all_interfaces() -> None:
    api = _check_cli(["api", "--host", "0.0.0.0", "--port", "8000"], "the API command")
    assert {"--host", "--port"} <= {o for p in api.params for o in p.opts}
    k8s_api = _main_container(_base("Deployment", "incidentd-api"))["args"]
    for argv in (_services()["api"]["command"], k8s_api):
        assert _option(argv, "--host") == "0.0.0.0", f"{argv}: unreachable from outside the pod"


def test_images_are_the_expected_ones() -> None:
    images = [s["image"] for s in _services().values()]
    for doc in _workloads(_base_docs()):
        images += [c["image"] for c in _containers(doc)]
    for image in images:
        repository, tag = _split_image(image)
        if _is_incidentd_image(image):
            continue
        assert repository in THIRD_PARTY_IMAGES, f"unexpected image {image}"
        assert tag and tag != "latest", f"{image}: pin a version"
    kafka = [_split_image(i)[1] for i in images if _split_image(i)[0] == "apache/kafka"]
    assert kafka, "no Kafka in compose"
    for tag in kafka:
        major, minor = (int(x) for x in str(tag).split(".")[:2])
        assert (major, minor) >= (3, 9), f"apache/kafka:{tag}: KRaft needs 3.9 or newer here"
    for entry in _kustomization(K8S_OVERLAY).get("images", []):
        assert _is_incidentd_image(entry.get("newName", entry["name"])), entry

    # Every build points at deploy/Dockerfile, which exists.
    builds = {n: s["build"] for n, s in _services().items() if "build" in s}
    assert set(builds) == set(_incidentd_services()), "build every incidentd service, only those"
    for name, build in builds.items():
        context = COMPOSE.parent / build["context"]
        assert (context / build["dockerfile"]).resolve() == DOCKERFILE.resolve(), name
        assert (context / "pyproject.toml").is_file(), f"{name}: the context is the repo root"
    assert len({s["image"] for s in _incidentd_services().values()}) == 1, "one incidentd image"


def test_dockerfile_builds_a_slim_non_root_image() -> None:
    stages = _dockerfile_stages()
    assert len(stages) >= 2, "multi-stage: a builder and the final image"
    args = _dockerfile_args()
    bases = [re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], s[0][1].split()[0]) for s in stages]
    assert all(b == "python:3.11-slim" for b in bases), bases
    final = stages[-1]
    runs = " ".join(a for i, a in final if i == "RUN")
    for tool in ("apt-get", "apk ", "gcc", "build-essential", "pip install", "pip wheel"):
        assert tool not in runs, f"the final stage must not install anything ({tool})"
    assert any(i == "COPY" and a.startswith("--from=") and "/opt/venv" in a for i, a in final)
    user = [a for i, a in final if i == "USER"]
    assert user, "the final stage must set USER"
    uid = user[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0, f"USER {user[-1]}: a numeric non-root uid"
    health = [a for i, a in final if i == "HEALTHCHECK"]
    assert health and "/healthz" in health[0] and "urllib" in health[0]
    assert f"'INCIDENTD_METRICS_PORT', '{_default('metrics_port')}'" in health[0]
    exposed = {p for i, a in final if i == "EXPOSE" for p in a.split()}
    assert {str(_default("metrics_port")), "8000"} <= exposed


def _dockerignored(path: str, patterns: list[str]) -> bool:
    excluded = False
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for raw in patterns:
        negated = raw.startswith("!")
        pattern = raw.lstrip("!").strip("/")
        if any(fnmatch.fnmatchcase(c, pattern) for c in candidates):
            excluded = not negated
    return excluded


def test_dockerignore_keeps_what_the_image_copies() -> None:
    ignore = DEPLOY / "Dockerfile.dockerignore"  # BuildKit reads <Dockerfile>.dockerignore
    patterns = [ln.strip() for ln in ignore.read_text().splitlines() if ln.strip() and ln[0] != "#"]
    copied = []
    for instruction, args in _dockerfile():
        if instruction == "COPY" and not args.startswith("--from="):
            copied += [a.rstrip("/") for a in args.split()[:-1] if not a.startswith("--")]
    assert copied
    for source in copied:
        assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
        assert not _dockerignored(source, patterns), f"COPY {source}: excluded by {ignore.name}"
        assert not _dockerignored(f"{source}/x.py", patterns) or (ROOT / source).is_file()
    for heavy in (".venv", ".git", "tests", "incidentd/__pycache__"):
        assert _dockerignored(heavy, patterns), f"{heavy} should stay out of the build context"


def test_dependencies_left_out_of_the_image_are_not_needed_to_run_it() -> None:
    excluded = set(_dockerfile_args()["EXCLUDED_DEPENDENCIES"].split())
    pyproject = (ROOT / "pyproject.toml").read_text()
    for name in excluded:
        assert f'"{name}==' in pyproject, f"{name} is no dependency: drop it from the Dockerfile"
    modules = sorted(
        module
        for module, dists in packages_distributions().items()
        if any(d.lower().replace("_", "-") in excluded for d in dists)
    )
    assert modules, excluded
    script = (
        "import sys\n"
        f"for m in {modules!r}: sys.modules[m] = None\n"
        "import typer.main\n"
        "import incidentd.api.app, incidentd.worker.runner, incidentd.storage.db\n"
        "from incidentd.app.cli import app\n"
        "typer.main.get_command(app)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr


def test_ports_agree() -> None:
    metrics_port = _default("metrics_port")
    assert metrics_port == 9464

    # Prometheus scrapes the workers on the metrics port and the API on its --port.
    scrape = {job["job_name"]: job for job in _load(PROMETHEUS)["scrape_configs"]}
    worker_sd = scrape[WORKER_JOB]["dns_sd_configs"]
    assert [sd["port"] for sd in worker_sd] == [metrics_port]
    assert worker_sd[0]["names"] == ["worker"], "the compose service name resolves to replicas"

    worker = _services()["worker"]
    assert int(worker["environment"].get("INCIDENTD_METRICS_PORT", metrics_port)) == metrics_port
    assert str(metrics_port) in [str(p) for p in worker.get("expose", [])]
    assert int(_dockerfile_env()["INCIDENTD_METRICS_PORT"]) == metrics_port

    api = _services()["api"]
    api_port = int(_option(api["command"], "--port"))
    assert [str(p).rsplit(":", 1)[-1] for p in api["ports"]] == [str(api_port)]
    assert f":{api_port}/healthz" in " ".join(api["healthcheck"]["test"])
    assert scrape[API_JOB]["static_configs"][0]["targets"] == [f"api:{api_port}"]

    # Kubernetes: probes and annotations on the ports the processes listen on.
    assert int(_generated_config(K8S_BASE)["INCIDENTD_METRICS_PORT"]) == metrics_port
    k8s_api_port = int(
        _option(_main_container(_base("Deployment", "incidentd-api"))["args"], "--port")
    )
    for name, port in (("incidentd-worker", metrics_port), ("incidentd-api", k8s_api_port)):
        deployment = _base("Deployment", name)
        container = _main_container(deployment)
        named = {p["name"]: p["containerPort"] for p in container["ports"]}
        for probe in ("readinessProbe", "livenessProbe"):
            get = container[probe]["httpGet"]
            assert get["path"] == "/healthz", f"{name} {probe}"
            assert named.get(get["port"], get["port"]) == port, f"{name} {probe} port"
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        assert int(annotations["prometheus.io/port"]) == port
    service = _base("Service", "incidentd-api")
    api_ports = {
        p["name"]: p["containerPort"]
        for p in _main_container(_base("Deployment", "incidentd-api"))["ports"]
    }
    for port in service["spec"]["ports"]:
        assert api_ports.get(port["targetPort"], port["targetPort"]) == k8s_api_port


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


def _compose_partitions() -> int:
    return int(_services()["topics"]["environment"]["PARTITIONS"])


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
