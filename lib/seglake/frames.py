"""Small tables built on the driver (a reference list, a histogram, drift rows) as Spark
DataFrames that live in the JVM.

`spark.createDataFrame(rows)` makes a Python-backed RDD: every job that reads it ships the
pickled rows through 8 tasks and costs ~0.5 s even for ten rows. Here the rows travel as
one JSON string literal, parsed by `from_json` in a single JVM task (~0.1 s).
Only for small, driver-side data: the whole table is part of the query plan.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T


def _plain(value: object) -> object:
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot put a {type(value).__name__} in a local frame")


def local_frame(spark: SparkSession, rows: Iterable[Sequence[object]], schema: T.StructType | str) -> DataFrame:
    """A DataFrame of `rows` (tuples or Rows in the schema's column order) with `schema`
    (a StructType or a DDL string such as "a int, b string"), in one partition."""
    struct = T.StructType.fromDDL(schema) if isinstance(schema, str) else schema
    names = struct.fieldNames()
    text = json.dumps([dict(zip(names, row, strict=True)) for row in rows], default=_plain)
    parsed = F.from_json(F.lit(text), T.ArrayType(struct))
    return spark.range(0, 1, 1, numPartitions=1).select(F.inline(parsed)).select(*[F.col(n) for n in names])
