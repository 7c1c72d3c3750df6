"""Static checks of the image: pinned third-party images, the Dockerfile, its .dockerignore and the
dependencies it leaves out.

Nothing here builds or runs a container.
"""

from __future__ import annotations

import fnmatch
import re
import subprocess
import sys
from importlib.metadata import packages_distributions

from tests.support.deploy import (
    COMPOSE,
    DEPLOY,
    DOCKERFILE,
    K8S_OVERLAY,
    ROOT,
    _base_docs,
    _containers,
    _default,
    _dockerfile,
    _dockerfile_args,
    _dockerfile_stages,
    _incidentd_services,
    _is_incidentd_image,
    _kustomization,
    _services,
    _split_image,
    _workloads,
)

# Repositories an image may come from; the incidentd image is `incidentd` or `<registry>/incidentd`.
THIRD_PARTY_IMAGES = {"apache/kafka", "postgres", "prom/prometheus", "grafana/grafana"}


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
