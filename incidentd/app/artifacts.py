"""Reading the files monitoring tools write, as the documents their intake mappings take."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

RUN_RESULTS = "run_results.json"
MANIFEST = "manifest.json"


class ArtifactError(ValueError):
    """A file a tool should have written is missing or unreadable (the message says which)."""


def load_json(path: Path) -> Any:
    """A JSON file's content; ArtifactError when missing, a directory, or not JSON."""
    if not path.exists():
        raise ArtifactError(f"{path}: no such file")
    if path.is_dir():
        raise ArtifactError(f"{path}: is a directory, not a JSON file")
    try:
        return orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise ArtifactError(f"{path}: not valid JSON ({exc})") from exc
    except OSError as exc:
        raise ArtifactError(f"{path}: cannot be read ({exc.strerror})") from exc


def load_tool_file(path: Path) -> dict[str, Any]:
    """A tool's JSON document, which must be an object."""
    document = load_json(path)
    if not isinstance(document, dict):
        raise ArtifactError(f"{path}: expected a JSON object, found {type(document).__name__}")
    return document


def load_dbt_target(path: Path) -> dict[str, Any]:
    """`{"run_results", "manifest"}` from dbt's target directory (or its run_results.json)."""
    target = path.parent if path.name == RUN_RESULTS and not path.is_dir() else path
    if not target.is_dir():
        raise ArtifactError(f"{target}: no such directory (pass dbt's target/ directory)")
    run_results = target / RUN_RESULTS
    if not run_results.exists():
        raise ArtifactError(f"{target}: no {RUN_RESULTS} (run `dbt build` or `dbt test` first)")
    manifest = target / MANIFEST
    if not manifest.exists():
        raise ArtifactError(
            f"{run_results} has no {MANIFEST} beside it: dbt writes both into target/, and "
            "the manifest says which model and column each test checks"
        )
    return {"run_results": load_tool_file(run_results), "manifest": load_tool_file(manifest)}
