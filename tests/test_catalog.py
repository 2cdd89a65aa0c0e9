"""Catalog writes: MERGE upsert on a table's keys replaces matches, inserts the rest, and
is idempotent."""

from __future__ import annotations

from pathlib import Path

from chispa import assert_df_equality

from seglake.catalog import SILVER_ORDERS, Catalog

SCHEMA = "order_id string, amount int"


def test_upsert_updates_matches_inserts_the_rest_and_is_idempotent(spark, tmp_path: Path) -> None:
    catalog = Catalog(str(tmp_path / "lake"))
    catalog.upsert(spark.createDataFrame([("O1", 10), ("O2", 20), ("O3", 30)], SCHEMA), SILVER_ORDERS)
    change = spark.createDataFrame([("O2", 25), ("O4", 40)], SCHEMA)
    expected = spark.createDataFrame([("O1", 10), ("O2", 25), ("O3", 30), ("O4", 40)], SCHEMA)
    for _ in range(2):  # the second MERGE of the same rows changes nothing
        catalog.upsert(change, SILVER_ORDERS)
        assert_df_equality(catalog.read(spark, SILVER_ORDERS), expected, ignore_row_order=True, ignore_nullable=True)
