"""The demo's committed dbt artifact (incidentd/app/demo_data/dbt_target/) and how it is made.

`dbt seed/run/test --vars '{broken: true}'` on the intake tests' shop project (tests/tools/
dbt_shop, run by tests/support/tools.py) writes `target/run_results.json` and
`target/manifest.json`. The demo keeps the test run's pair with the manifest trimmed to what
a mapping reads (`metadata`, `nodes`, `sources`, `parent_map`, `child_map`: dbt's macros are
nine tenths of it) and the run's local paths made relative.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

DEMO_TARGET = Path(__file__).resolve().parents[2] / "incidentd" / "app" / "demo_data" / "dbt_target"
MANIFEST_KEYS = ("metadata", "nodes", "sources", "parent_map", "child_map")


def demo_files(run_dir: Path, out_dir: Path, project_dir: Path) -> dict[str, bytes]:
    """The demo's two files from a run's `run_dir/{run_results,manifest}.json`."""
    manifest = orjson.loads((run_dir / "manifest.json").read_bytes())
    trimmed = {key: manifest[key] for key in MANIFEST_KEYS if key in manifest}
    documents: dict[str, Any] = {
        "manifest.json": trimmed,
        "run_results.json": orjson.loads((run_dir / "run_results.json").read_bytes()),
    }
    files = {}
    for name, document in documents.items():
        content = orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
        content = content.replace(str(out_dir).encode() + b"/", b"").replace(
            str(project_dir).encode(), b"dbt_shop"
        )
        files[name] = content.replace(str(out_dir).encode(), b".") + b"\n"
    return files
