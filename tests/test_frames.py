from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest
from chispa import assert_df_equality

from seglake.frames import local_frame

SCHEMA = "d date, ts timestamp, n long, x double, s string, b boolean, amount decimal(18,2)"


def test_local_frame_keeps_every_value_type_null_and_row_order(spark) -> None:
    rows = [
        (date(2026, 1, 1), datetime(2026, 1, 1, 23, 59, 58), 2**40, 0.1, "é'\"\\", True, Decimal("12.34")),
        (None, None, None, None, None, None, None),
        (date(1999, 12, 31), datetime(2000, 2, 29, 0, 0, 1), -1, -2.5e-9, "", False, Decimal("-0.01")),
    ]
    got = local_frame(spark, rows, SCHEMA)
    assert_df_equality(got, spark.createDataFrame(rows, SCHEMA))
    assert got.rdd.getNumPartitions() == 1


def test_local_frame_of_no_rows_has_the_schema(spark) -> None:
    got = local_frame(spark, [], SCHEMA)
    assert got.count() == 0
    assert got.schema == spark.createDataFrame([], SCHEMA).schema


def test_local_frame_rejects_a_row_of_the_wrong_width(spark) -> None:
    with pytest.raises(ValueError):
        local_frame(spark, [(1,)], "a long, b string")
