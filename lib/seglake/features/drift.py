"""Feature drift between consecutive snapshots: the population stability index (PSI).

Numeric features are binned on the previous snapshot's quantiles; strings and booleans
use their values as bins; a missing value is a bin of its own, so a feature that starts
arriving empty drifts too. Everything is computed in Spark on the two snapshots; only the
bin edges (one row of quantiles) come to the driver.

PSI = sum over bins of (p_now - p_before) * ln(p_now / p_before); an empty bin counts as
EPSILON so the logarithm stays finite. Common reading: < 0.1 stable, 0.1-0.2 moderate,
> 0.2 large.
"""

from __future__ import annotations

from datetime import date
from functools import reduce

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from seglake.features.spec import NUMERIC

EPSILON = 1e-4
MISSING = "missing"
DRIFT_SCHEMA = (
    "as_of date, previous_as_of date, feature string, psi double, bins int, "
    "customers long, previous_customers long, large boolean"
)


def drift_features(snapshot: DataFrame, exclude: tuple[str, ...] = ("customer_id", "as_of")) -> dict[str, str]:
    """feature -> 'numeric' | 'categorical' for the columns PSI is computed on."""
    out = {}
    for f in snapshot.schema.fields:
        if f.name in exclude:
            continue
        if isinstance(f.dataType, NUMERIC):
            out[f.name] = "numeric"
        elif isinstance(f.dataType, (T.StringType, T.BooleanType)):
            out[f.name] = "categorical"
    return out


def quantile_edges(previous: DataFrame, numeric: list[str], bins: int) -> dict[str, list[float]]:
    """Distinct inner bin edges per numeric feature, from the previous snapshot."""
    if not numeric:
        return {}
    probs = [i / bins for i in range(1, bins)]
    row = previous.agg(*[F.percentile_approx(F.col(c).cast("double"), probs).alias(c) for c in numeric]).first()
    return {c: sorted(set(row[c] or [])) for c in numeric}


def _numeric_bin(column: str, edges: list[float] | None) -> Column:
    """Bin k holds values above k edges, (edge_k, edge_k+1]; -1 is missing. Plain
    comparisons (no higher-order functions) keep the projection in generated code."""
    value = F.col(column).cast("double")
    above = sum((F.when(value > e, 1).otherwise(0) for e in edges or []), F.lit(0))
    return F.when(value.isNull(), F.lit(-1)).otherwise(above)


def _bin_counts(labelled: DataFrame, features: list[str]) -> DataFrame:
    """(feature, bin, n_now, n_before) over both snapshots."""
    long = labelled.unpivot("side", features, "feature", "bin")
    return long.groupBy("feature", "bin").agg(
        F.count(F.when(F.col("side") == "now", 1)).alias("n_now"),
        F.count(F.when(F.col("side") == "before", 1)).alias("n_before"),
    )


def population_stability(
    current: DataFrame,
    previous: DataFrame,
    kinds: dict[str, str],
    edges: dict[str, list[float]],
    as_of: date,
    previous_as_of: date,
    threshold: float,
) -> DataFrame:
    """One row per feature: PSI of `current` against `previous` (both one snapshot)."""
    numeric = [c for c, k in kinds.items() if k == "numeric"]
    categorical = [c for c, k in kinds.items() if k == "categorical"]
    parts = []
    # Numeric bins are small integers and categorical bins strings: each kind is unpivoted
    # and counted on its own, and only the (small) counts are brought to one type.
    for names, label in (
        (numeric, lambda c: _numeric_bin(c, edges.get(c))),
        (categorical, lambda c: F.coalesce(F.col(c).cast("string"), F.lit(MISSING))),
    ):
        if not names:
            continue
        labelled = [
            df.select(F.lit(side).alias("side"), *[label(c).alias(c) for c in names])
            for side, df in (("now", current), ("before", previous))
        ]
        counts = _bin_counts(labelled[0].unionByName(labelled[1]), names)
        parts.append(counts.withColumn("bin", F.col("bin").cast("string")))
    if not parts:
        return current.sparkSession.createDataFrame([], DRIFT_SCHEMA)
    counts = reduce(DataFrame.unionByName, parts)
    per_feature = Window.partitionBy("feature")
    shares = counts.select(
        "feature",
        F.sum("n_now").over(per_feature).alias("customers"),
        F.sum("n_before").over(per_feature).alias("previous_customers"),
        F.greatest(F.col("n_now") / F.sum("n_now").over(per_feature), F.lit(EPSILON)).alias("p_now"),
        F.greatest(F.col("n_before") / F.sum("n_before").over(per_feature), F.lit(EPSILON)).alias("p_before"),
    )
    psi = shares.groupBy("feature").agg(
        F.sum((F.col("p_now") - F.col("p_before")) * F.ln(F.col("p_now") / F.col("p_before"))).alias("psi"),
        F.count(F.lit(1)).cast("int").alias("bins"),
        F.max("customers").alias("customers"),
        F.max("previous_customers").alias("previous_customers"),
    )
    return psi.select(
        F.lit(as_of).alias("as_of"),
        F.lit(previous_as_of).alias("previous_as_of"),
        "feature",
        "psi",
        "bins",
        "customers",
        "previous_customers",
        (F.col("psi") > threshold).alias("large"),
    )
