"""Aggregates over nested day windows computed per tile give what the windows asked
directly give: edges exact to the second, zero counts, null sums and means."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from seglake.features.tiles import TiledAggregation

AS_OF = date(2025, 4, 1)


def rows(spark):
    # as_of - 7 days = 2025-03-25 00:00; as_of - 30 days = 2025-03-02 00:00.
    return spark.createDataFrame(
        [
            ("A", datetime(2025, 3, 31, 23, 59, 59), 2.0),  # newest tile
            ("A", datetime(2025, 3, 25, 0, 0, 0), 4.0),  # first second of the 7 days
            ("A", datetime(2025, 3, 24, 23, 59, 59), None),  # last second before them
            ("A", datetime(2025, 3, 2, 0, 0, 0), 9.0),  # first second of the 30 days
            ("A", datetime(2024, 1, 1, 12, 0, 0), 100.0),  # older than every window
            ("B", datetime(2025, 3, 10, 8, 0, 0), None),  # 7 to 30 days, no value
            ("C", datetime(2023, 6, 1, 0, 0, 0), 5.0),  # only older than every window
        ],
        "customer_id string, ts timestamp, value double",
    )


def test_windows_from_tiles_match_the_windows_asked_directly(spark):
    tiled = TiledAggregation(AS_OF, [30, 7])
    week, month = tiled.within(7), tiled.within(30)
    older = tiled.between(7, 30)
    features = [
        tiled.count("rows", span=week).alias("rows_7d"),
        tiled.count("rows", span=month).alias("rows_30d"),
        tiled.count("valued", F.col("value").isNotNull(), older).alias("valued_7_to_30d"),
        tiled.sum("value", F.col("value"), week).alias("value_7d"),
        tiled.avg("value", F.col("value"), month).alias("mean_30d"),
        tiled.max("value", F.col("value"), month).alias("max_30d"),
        tiled.min("ts", F.col("ts")).alias("first_ts"),
        tiled.count("rows").alias("rows_all"),
    ]
    out = tiled.aggregate(rows(spark), F.col("ts"), features).orderBy("customer_id")

    expected = spark.createDataFrame(
        [
            ("A", 2, 4, 1, 6.0, 5.0, 9.0, datetime(2024, 1, 1, 12, 0, 0), 5),
            ("B", 0, 1, 0, None, None, None, datetime(2025, 3, 10, 8, 0, 0), 1),
            ("C", 0, 0, 0, None, None, None, datetime(2023, 6, 1, 0, 0, 0), 1),
        ],
        "customer_id string, rows_7d long, rows_30d long, valued_7_to_30d long, value_7d double, "
        "mean_30d double, max_30d double, first_ts timestamp, rows_all long",
    )
    assert_df_equality(out, expected, ignore_nullable=True)


def test_a_window_that_is_not_an_edge_is_refused():
    tiled = TiledAggregation(AS_OF, [7, 30])
    with pytest.raises(ValueError, match="90 days is not one of the tiles' edges"):
        tiled.within(90)


def test_aggregating_before_asking_for_features_is_refused(spark):
    with pytest.raises(ValueError, match="no measure"):
        TiledAggregation(AS_OF, [7]).aggregate(rows(spark), F.col("ts"), [])
