"""A dataset's connection: its OpenLineage namespace, typed by the namespace's scheme."""

from __future__ import annotations

import pytest

from incidentd.lineage.connections import Connection, connection_of, connections_of


@pytest.mark.parametrize(
    ("dataset", "expected"),
    [
        ("bigquery/proj.sales.orders", Connection("bigquery", "BIGQUERY")),
        ("gs://lake-bucket/raw/orders/2026.parquet", Connection("gs://lake-bucket", "GCS")),
        (
            "snowflake://org-acct/SALES.PUBLIC.ORDERS",
            Connection("snowflake://org-acct", "SNOWFLAKE"),
        ),
        ("postgres://db:5432/shop.public.orders", Connection("postgres://db:5432", "POSTGRES")),
        ("s3://bucket/key", Connection("s3://bucket", "S3")),
        ("warehouse/orders_clean", Connection("warehouse", "WAREHOUSE")),
        ("Kafka://broker:9092/orders", Connection("Kafka://broker:9092", "KAFKA")),
        ("orders", Connection("orders", "ORDERS")),
    ],
)
def test_connection_of_a_dataset(dataset: str, expected: Connection) -> None:
    assert connection_of(dataset) == expected


def test_connections_of_many_datasets_are_distinct_in_first_seen_order() -> None:
    ids, types = connections_of(
        ["gs://b/x", "bigquery/p.d.t", "gs://b/y", "gs://c/z", "bigquery/p.d.u", ""]
    )
    assert ids == ("gs://b", "bigquery", "gs://c")
    assert types == ("GCS", "BIGQUERY")
    assert connections_of([]) == ((), ())
