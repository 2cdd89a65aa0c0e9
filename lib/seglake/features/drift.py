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


def _bin(column: str, kind: str, edges: list[float] | None) -> Column:
    value = F.col(column)
    if kind == "categorical":
        label = value.cast("string")
    else:
        edge_array = F.array(*[F.lit(float(e)) for e in edges or []]).cast("array<double>")
        # bin k holds values above k edges: (edge_k, edge_k+1]
        label = F.format_string("q%02d", F.size(F.filter(edge_array, lambda e: e < value.cast("double"))))
    return F.when(value.isNull(), F.lit(MISSING)).otherwise(label)


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
    features = list(kinds)
    labelled = [
        df.select(F.lit(side).alias("side"), *[_bin(c, kinds[c], edges.get(c)).alias(c) for c in features])
        for side, df in (("now", current), ("before", previous))
    ]
    long = labelled[0].unionByName(labelled[1]).unpivot("side", features, "feature", "bin")
    counts = long.groupBy("feature", "bin").agg(
        F.count(F.when(F.col("side") == "now", 1)).alias("n_now"),
        F.count(F.when(F.col("side") == "before", 1)).alias("n_before"),
    )
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
