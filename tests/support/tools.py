"""Real monitoring tools for the intake tests: dbt in its own cached virtualenv.

dbt-core 1.10 pins `pathspec<0.13` while the project's mypy needs `pathspec>=1`, so dbt cannot
live in the project's venv. `tool_python("dbt")` builds a venv from
`tests/tools/requirements-dbt.txt` once per machine, under `$INCIDENTD_TOOLS_CACHE` (default
`~/.cache/incidentd/tools`), keyed by the requirements' hash and guarded by a file lock so
parallel test runs share one build. Great Expectations and Soda install beside the project and
run in-process.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

from incidentd.correlation.model import Alert
from incidentd.intake.base import ProductRef
from incidentd.worker.parsing import parse_alert

TOOLS = Path(__file__).resolve().parents[1] / "tools"
DBT_PROJECT = TOOLS / "dbt_shop"
INSTALL_TIMEOUT = 900
RUN_TIMEOUT = 300


def cache_root() -> Path:
    """Where tool venvs live (outside the work tree, so fresh clones reuse them)."""
    default = Path.home() / ".cache" / "incidentd" / "tools"
    return Path(os.environ.get("INCIDENTD_TOOLS_CACHE", default))


@contextmanager
def locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def tool_python(tool: str) -> Path:
    """The interpreter of `tool`'s venv, built from tests/tools/requirements-TOOL.txt if needed."""
    requirements = TOOLS / f"requirements-{tool}.txt"
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()[:12]
    venv = cache_root() / f"{tool}-{digest}"
    python = venv / "bin" / "python"
    stamp = venv / ".installed"
    with locked(cache_root() / f"{tool}.lock"):
        if not stamp.exists():
            _run([sys.executable, "-m", "venv", "--clear", str(venv)], INSTALL_TIMEOUT)
            pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
            _run([*pip, "-r", str(requirements)], INSTALL_TIMEOUT)
            stamp.touch()
    return python


def _run(command: list[str], timeout: float) -> None:
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command[:4])}… exited {done.returncode}:\n{done.stderr[-4000:]}"
        )


def run_dbt(out: Path, *, broken: bool) -> subprocess.Popen[str]:
    """Start `dbt seed`, `dbt run`, `dbt test` on the shop project; artifacts go to OUT/run and
    OUT/test (see tests/tools/run_dbt.py). Wait with `finish_dbt`."""
    command = [str(tool_python("dbt")), str(TOOLS / "run_dbt.py"), str(DBT_PROJECT), str(out)]
    env = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DO_NOT_TRACK": "1"}
    return subprocess.Popen(
        [*command, *(["--broken"] if broken else [])],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )


def finish_dbt(process: subprocess.Popen[str]) -> None:
    """Wait for a `run_dbt` process; fail with dbt's output if it could not run the project."""
    output, _ = process.communicate(timeout=RUN_TIMEOUT)
    if process.returncode != 0:
        raise RuntimeError(f"dbt exited {process.returncode}:\n{output[-6000:]}")


def dbt_document(out: Path, command: str) -> dict[str, Any]:
    """`{"run_results", "manifest"}` as dbt wrote them after `command` (run or test)."""
    return {
        "run_results": orjson.loads((out / command / "run_results.json").read_bytes()),
        "manifest": orjson.loads((out / command / "manifest.json").read_bytes()),
    }


def dbt_lineage(manifest: dict[str, Any]) -> list[tuple[str, str]]:
    """Edges between the project's models, seeds, snapshots and sources by `depends_on`, product
    ids being unique_ids: what a catalog built from this manifest would hold."""
    kinds = ("model.", "seed.", "snapshot.", "source.")
    edges = set()
    for unique_id, node in manifest["nodes"].items():
        if not unique_id.startswith(kinds):
            continue
        for upstream in node.get("depends_on", {}).get("nodes", []):
            if upstream.startswith(kinds):
                edges.add((upstream, unique_id))
    return sorted(edges)


class Catalog:
    """A product resolver over a fixed claim table, as the catalog resolves (the `Products`
    protocol): a claimed dataset name or a product id."""

    def __init__(self, space: str, claims: dict[str, str], products: tuple[str, ...] = ()) -> None:
        self.space = space
        self.claims = claims
        self.products = set(products) | set(claims.values())
        self.asked: list[str] = []

    def resolve(self, name: str) -> ProductRef | None:
        """The product claiming `name`, else the product whose id is `name`, else None."""
        self.asked.append(name)
        if name in self.claims:
            return ProductRef(self.space, self.claims[name])
        return ProductRef(self.space, name) if name in self.products else None


def correlation_alert(event: dict[str, Any]) -> Alert:
    """The correlation engine's view of a mapped alert event, as the worker parses it."""
    return parse_alert(orjson.dumps(event)).alert
