"""Static checks of deploy/ against the code: the expected files, settings, CLI commands and ports.

Nothing here builds or runs a container.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import typer.main

from incidentd.app.cli import app
from incidentd.schemas.settings import Settings
from tests.support.deploy import (
    ALERT_RULES,
    API_JOB,
    COMPOSE,
    DASHBOARDS,
    DEPLOY,
    DOCKERFILE,
    K8S_BASE,
    K8S_OVERLAY,
    PROMETHEUS,
    ROOT,
    WORKER_JOB,
    _base,
    _base_docs,
    _containers,
    _default,
    _dockerfile_env,
    _generated_config,
    _incidentd_services,
    _is_incidentd_image,
    _json_instruction,
    _load,
    _load_all,
    _main_container,
    _services,
    _workloads,
    _yaml_files,
)

# -- what the code defines -------------------------------------------------------------------


def _settings_env() -> dict[str, str]:
    """Environment variable -> Settings field."""
    return {f"INCIDENTD_{name.upper()}": name for name in Settings.model_fields}


def _validate_settings(values: dict[str, str], where: str) -> None:
    env = _settings_env()
    unknown = sorted(set(values) - set(env))
    assert not unknown, f"{where}: not incidentd settings: {unknown}"
    Settings.model_validate({env[k]: v for k, v in values.items()})


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
