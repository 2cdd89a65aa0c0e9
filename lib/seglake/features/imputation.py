"""Explicit missing-value and outlier handling (`features.treatments`).

Raw feature columns keep their nulls: a customer who never ordered has an unknown
recency, not a recency of 0. For each treated feature the snapshot gets
`<feature>_clean` (outliers capped at quantiles of the snapshot's observed values, then
missing values imputed) and, when asked, `<feature>_missing` (true where imputed).
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from seglake.config.schema import FeatureTreatment

Stats = dict[str, object]


def treatment_statistics(treatments: dict[str, FeatureTreatment]) -> dict[str, Column]:
    """Population figures the treatments need, as aggregates over the snapshot."""
    out: dict[str, Column] = {}
    for name, t in treatments.items():
        observed = F.col(name).cast("double")
        if t.impute == "median":
            out[f"{name}:median"] = F.percentile_approx(observed, 0.5)
        elif t.impute == "mean":
            out[f"{name}:mean"] = F.avg(observed)
        if t.clip_lower_quantile is not None:
            out[f"{name}:lower"] = F.percentile_approx(observed, t.clip_lower_quantile)
        if t.clip_upper_quantile is not None:
            out[f"{name}:upper"] = F.percentile_approx(observed, t.clip_upper_quantile)
    return out


def fill_value(name: str, t: FeatureTreatment, stats: Stats) -> float | None:
    if t.impute == "constant":
        return t.value
    if t.impute in ("median", "mean"):
        found = stats.get(f"{name}:{t.impute}")
        return None if found is None else float(found)  # type: ignore[arg-type]
    return None


def with_treatments(df: DataFrame, treatments: dict[str, FeatureTreatment], stats: Stats) -> DataFrame:
    columns: dict[str, Column] = {}
    for name, t in treatments.items():
        raw = F.col(name).cast("double")
        value = raw
        lower, upper = stats.get(f"{name}:lower"), stats.get(f"{name}:upper")
        if lower is not None:
            value = F.greatest(value, F.lit(float(lower)))  # type: ignore[arg-type]
        if upper is not None:
            value = F.least(value, F.lit(float(upper)))  # type: ignore[arg-type]
        # greatest/least skip nulls: without this guard a missing value would become the cap.
        value = F.when(raw.isNotNull(), value)
        fill = fill_value(name, t, stats)
        if fill is not None:
            value = F.coalesce(value, F.lit(float(fill)))
        columns[f"{name}_clean"] = value
        if t.indicator and t.impute != "none":
            columns[f"{name}_missing"] = F.col(name).isNull()
    return df.withColumns(columns)
