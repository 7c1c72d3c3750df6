"""The demo's committed dbt artifact is what dbt writes today: run the shop project broken
again and compare the alerts both artifacts map to (ids aside: a new run is a new invocation).

`INCIDENTD_WRITE_DEMO_ARTIFACT=1` rewrites incidentd/app/demo_data/dbt_target/ from the run.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from incidentd.app.artifacts import load_dbt_target
from incidentd.intake import registry
from incidentd.storage.intake import CatalogProducts, map_document
from tests.support.demo_artifact import DEMO_TARGET, demo_files
from tests.support.tools import DBT_PROJECT, finish_dbt, run_dbt


def alerts_of(target: Path) -> list[tuple[Any, ...]]:
    """What the dbt mapping makes of a target directory, without the run's own ids."""
    source = registry.source("dbt")
    assert source is not None
    result = map_document(
        source, load_dbt_target(target), space="shop", products=CatalogProducts("shop", {}, ())
    )
    assert not result.rejected
    return sorted(
        (
            a.fingerprint,
            a.product_id,
            a.status.value,
            a.severity.value,
            a.check.name if a.check else None,
            a.attribute,
        )
        for a in result.alerts
    )


def test_the_committed_demo_artifact_matches_a_new_dbt_run(tmp_path: Path) -> None:
    out = tmp_path / "dbt"
    finish_dbt(run_dbt(out, broken=True))
    regenerated = tmp_path / "dbt_target"
    regenerated.mkdir()
    files = demo_files(out / "test", out, DBT_PROJECT)
    for name, content in files.items():
        (regenerated / name).write_bytes(content)
    if os.environ.get("INCIDENTD_WRITE_DEMO_ARTIFACT") == "1":
        for name, content in files.items():
            (DEMO_TARGET / name).write_bytes(content)
    fresh = alerts_of(regenerated)
    assert [a[2] for a in fresh].count("firing") == 4, fresh
    assert fresh == alerts_of(DEMO_TARGET)
