"""`incidentd lineage import` and `incidentd spaces create` as real CLI subprocesses."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import Engine, text

from incidentd.storage.db import make_engine
from tests.support.cli import run_cli as cli

SPACE = "finance"


def document(owners: list[str]) -> dict[str, Any]:
    """A small lineage document; `owners` go to orders_clean."""
    return {
        "products": [
            {
                "id": "orders_raw",
                "space": SPACE,
                "name": "Orders (raw)",
                "owners": ["ana@example.com"],
                "stewards": [],
                "tier": "medium",
                "tags": ["source"],
                "datasets": ["warehouse/orders_raw"],
            },
            {
                "id": "orders_clean",
                "space": SPACE,
                "name": "Orders (clean)",
                "owners": owners,
                "stewards": ["steward@example.com"],
                "tier": "high",
                "tags": [],
                "datasets": ["warehouse/orders_clean"],
            },
            {"id": "revenue", "space": SPACE, "tier": "critical"},
        ],
        "edges": [
            {"upstream": "orders_raw", "downstream": "orders_clean"},
            {"upstream": "orders_clean", "downstream": "revenue"},
        ],
    }


def dump_yaml(path: Path, data: dict[str, Any]) -> None:
    """Write the document as YAML."""
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def dump_json(path: Path, data: dict[str, Any]) -> None:
    """Write the document as JSON."""
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")


Writer = Callable[[Path, dict[str, Any]], None]
FORMATS: list[Any] = [
    pytest.param("lineage.yaml", dump_yaml, id="yaml"),
    pytest.param("lineage.json", dump_json, id="json"),
]


def describe(result: subprocess.CompletedProcess[str]) -> str:
    """Everything a failed assertion should show."""
    return f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"


def report(result: subprocess.CompletedProcess[str]) -> dict[str, int]:
    """The counts of the import report table."""
    assert result.returncode == 0, describe(result)
    counts = dict(re.findall(r"((?:spaces|products|edges) [a-z]+)\W+(\d+)", result.stdout))
    assert set(counts) == {
        "spaces created",
        "products added",
        "products updated",
        "products unchanged",
        "edges added",
        "edges unchanged",
    }, describe(result)
    return {k: int(v) for k, v in counts.items()}


@pytest.fixture
def engine(migrated_db: str) -> Iterator[Engine]:
    """An engine on the migrated per-test database."""
    eng = make_engine(migrated_db, pool_size=1)
    yield eng
    eng.dispose()


def version(engine: Engine) -> int | None:
    """The lineage version of the space."""
    with engine.connect() as conn:
        value = conn.execute(
            text("SELECT lineage_version FROM spaces WHERE slug = :s"), {"s": SPACE}
        ).scalar()
    return None if value is None else int(value)


def product(engine: Engine, product_id: str) -> Any:
    """One products row."""
    with engine.connect() as conn:
        return conn.execute(
            text("SELECT * FROM products WHERE space = :s AND id = :i"),
            {"s": SPACE, "i": product_id},
        ).one()


@pytest.mark.parametrize(("name", "write"), FORMATS)
def test_import_is_idempotent_and_replaces_changed_products(
    migrated_db: str, engine: Engine, tmp_path: Path, name: str, write: Writer
) -> None:
    path = tmp_path / name
    write(path, document(["bo@example.com"]))

    first = cli(migrated_db, "lineage", "import", str(path))
    assert report(first) == {
        "spaces created": 1,
        "products added": 3,
        "products updated": 0,
        "products unchanged": 0,
        "edges added": 2,
        "edges unchanged": 0,
    }
    assert first.stdout.strip().splitlines()[-1] == "changed"
    after_first = version(engine)
    assert after_first is not None
    assert after_first >= 1
    clean = product(engine, "orders_clean")
    assert clean.name == "Orders (clean)"
    assert clean.owners == ["bo@example.com"]
    assert clean.stewards == ["steward@example.com"]
    assert clean.tier == "high"
    assert clean.datasets == ["warehouse/orders_clean"]
    with engine.connect() as conn:
        edges = conn.execute(
            text("SELECT space, upstream, downstream FROM edges ORDER BY upstream")
        ).all()
    assert [tuple(e) for e in edges] == [
        (SPACE, "orders_clean", "revenue"),
        (SPACE, "orders_raw", "orders_clean"),
    ]

    second = cli(migrated_db, "lineage", "import", str(path))
    assert report(second) == {
        "spaces created": 0,
        "products added": 0,
        "products updated": 0,
        "products unchanged": 3,
        "edges added": 0,
        "edges unchanged": 2,
    }
    assert second.stdout.strip().splitlines()[-1] == "nothing changed"
    assert version(engine) == after_first
    assert product(engine, "orders_clean").updated_at == clean.updated_at

    write(path, document(["bo@example.com", "cy@example.com"]))
    third = cli(migrated_db, "lineage", "import", str(path))
    counts = report(third)
    assert counts["products updated"] == 1
    assert counts["products added"] == 0
    assert counts["products unchanged"] == 2
    assert counts["edges added"] == 0
    assert third.stdout.strip().splitlines()[-1] == "changed"
    assert version(engine) == after_first + 1
    assert product(engine, "orders_clean").owners == ["bo@example.com", "cy@example.com"]
    assert product(engine, "orders_raw").owners == ["ana@example.com"]


# (file name, content, a word the message must contain)
MALFORMED: list[Any] = [
    pytest.param(("bad.yaml", "products: [\n  - id: x\n    space: finance\n", "YAML"), id="yaml"),
    pytest.param(("bad.json", '{"products": [', "JSON"), id="json"),
    pytest.param(
        ("bad_tier.yaml", "products:\n  - id: x\n    space: finance\n    tier: galactic\n", "tier"),
        id="schema",
    ),
    pytest.param(
        (
            "orphan.json",
            '{"edges": [{"upstream": "nowhere_a", "downstream": "nowhere_b"}]}',
            "space",
        ),
        id="edge-of-unknown-products",
    ),
]


@pytest.mark.parametrize("case", MALFORMED)
def test_malformed_file_exits_1_with_a_readable_message(
    migrated_db: str, engine: Engine, tmp_path: Path, case: tuple[str, str, str]
) -> None:
    name, content, hint = case
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    result = cli(migrated_db, "lineage", "import", str(path))
    assert result.returncode == 1, describe(result)
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    assert "lineage import failed" in output
    assert hint in output, describe(result)
    with engine.connect() as conn:
        for table in ("products", "edges", "spaces"):
            assert conn.execute(text(f"SELECT count(*) FROM {table}")).scalar() == 0, table


def test_spaces_create_with_feature(migrated_db: str, engine: Engine) -> None:
    result = cli(migrated_db, "spaces", "create", SPACE, "--feature", "quality.incidents")
    assert result.returncode == 0, describe(result)
    assert "created" in result.stdout
    with engine.connect() as conn:
        row = conn.execute(text("SELECT * FROM spaces WHERE slug = :s"), {"s": SPACE}).one()
    assert row.features == ["quality.incidents"]
    assert row.correlation_window_seconds == 6 * 3600
    assert row.auto_resolve is True
    assert row.lineage_version == 0


@pytest.mark.parametrize("slug", ["Bad Slug", "a/b"])
def test_spaces_create_rejects_an_invalid_slug(migrated_db: str, engine: Engine, slug: str) -> None:
    result = cli(migrated_db, "spaces", "create", slug, "--feature", "quality.incidents")
    assert result.returncode != 0, describe(result)
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    assert "slug" in output.lower(), describe(result)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM spaces")).scalar() == 0
