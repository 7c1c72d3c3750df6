"""The demo's dbt cascade: a real dbt test run's artifact fed through the intake path.

`demo_data/dbt_target/` holds `run_results.json` and `manifest.json` from `dbt test` on a small
shop project on DuckDB whose source lost a customer id: the source's not_null test fails, and so
do the tests downstream of it (staged orders, enriched orders). The products of the `shop` space
claim dbt's nodes by `unique_id`, so the alerts land on them and form one incident rooted at the
source. dbt itself is not needed to run the demo.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from sqlalchemy import Engine

from incidentd.app.artifacts import load_dbt_target
from incidentd.intake import registry
from incidentd.lineage.document import load_document
from incidentd.schemas.settings import Settings
from incidentd.storage.intake import ingest
from incidentd.storage.lineage import import_document
from incidentd.storage.spaces import INCIDENTS_FEATURE, upsert_space

DATA = Path(__file__).parent / "demo_data"
DBT_TARGET = DATA / "dbt_target"
SHOP_LINEAGE = DATA / "shop_lineage.yaml"
SHOP_SPACE = "shop"


def feed_dbt_run(engine: Engine, settings: Settings, console: Console) -> int:
    """Import the shop's lineage and queue the dbt run's alerts; returns how many."""
    source = registry.source("dbt")
    if source is None:
        raise RuntimeError("the dbt intake mapping is not installed")
    with engine.begin() as conn:
        upsert_space(conn, SHOP_SPACE, name="Shop", features=[INCIDENTS_FEATURE])
        import_document(conn, load_document(SHOP_LINEAGE))
        result = ingest(
            conn, source, load_dbt_target(DBT_TARGET), space=SHOP_SPACE, topic=settings.alerts_topic
        )
    firing = sum(1 for a in result.alerts if a.status.value == "firing")
    console.print(
        f"dbt: {len(result.alerts)} alerts ({firing} failing) from a dbt test run's "
        f"{DBT_TARGET.name}/run_results.json queued for {settings.alerts_topic} "
        f"(space '{SHOP_SPACE}'; `incidentd ingest dbt` does the same)"
    )
    return len(result.alerts)
