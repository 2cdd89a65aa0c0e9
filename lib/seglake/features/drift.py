"""Feature drift between consecutive snapshots: the population stability index (PSI).

Each snapshot gets a histogram of every feature when it is written (gold.feature_histograms),
and PSI is computed from two stored histograms, so drift never re-reads a snapshot and a
backfilled snapshot can refresh the drift of the one after it for free.

- Numeric values are counted in fine logarithmic buckets (RESOLUTION per unit of
  log1p|x|: values about 1.6% apart may share a bucket; integers up to 60 never do).
  At comparison time the previous snapshot's buckets are cut at its deciles (`bins`), and
  both histograms are summed into those bins.
- Strings and booleans use their values as bins.
- A missing value is a bin of its own, so a feature that starts arriving empty drifts too.
- Large snapshots are profiled on a deterministic sample of customers (the same hash
  decides for every snapshot, so consecutive samples overlap); PSI's sampling noise at
  20,000 customers is about 0.001, far below the usual 0.1 / 0.2 readings.

PSI = sum over bins of (p_now - p_before) * ln(p_now / p_before); an empty bin counts as
EPSILON so the logarithm stays finite. Common reading: < 0.1 stable, 0.1-0.2 moderate,
> 0.2 large.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from functools import reduce
from typing import NamedTuple

from pyspark.sql import Column, DataFrame, Row
from pyspark.sql import functions as F
from pyspark.sql import types as T

from seglake.errors import ConfigError
from seglake.features.spec import NUMERIC

EPSILON = 1e-4
MISSING = "missing"
RESOLUTION = 64
# Sampling resolution: a customer is in a sample of rate r when hash mod SCALE < r * SCALE.
SAMPLE_SCALE = 1_000_000
_CODE_SPAN = 1 << 32
_MISSING_BUCKET = _CODE_SPAN // 2 - 1
NUMERIC_KIND, CATEGORICAL_KIND = "numeric", "categorical"
DRIFT_SCHEMA = (
    "as_of date, previous_as_of date, feature string, psi double, bins int, "
    "customers long, previous_customers long, large boolean"
)


class DriftRow(NamedTuple):
    """One gold.feature_drift row (the fields of DRIFT_SCHEMA, in its order)."""

    as_of: date
    previous_as_of: date
    feature: str
    psi: float
    bins: int
    customers: int
    previous_customers: int
    large: bool


def drift_features(snapshot: DataFrame, exclude: tuple[str, ...] = ("customer_id", "as_of")) -> dict[str, str]:
    """feature -> 'numeric' | 'categorical' for the columns PSI is computed on."""
    out = {}
    for f in snapshot.schema.fields:
        if f.name in exclude:
            continue
        if isinstance(f.dataType, NUMERIC):
            out[f.name] = NUMERIC_KIND
        elif isinstance(f.dataType, (T.StringType, T.BooleanType)):
            out[f.name] = CATEGORICAL_KIND
    return out


def sample_rate(customers: int, sample_customers: int | None) -> float:
    if sample_customers is not None and sample_customers < 1:
        raise ConfigError(f"features.drift.sample_customers must be at least 1 (null: all), not {sample_customers}")
    if sample_customers is None or customers <= sample_customers:
        return 1.0
    return sample_customers / customers


def _numeric_codes(columns: list[str]) -> Column:
    """Per row, each numeric feature's index and log bucket in one long (index * 2^32 +
    bucket + 2^31), so the features are counted by a hash aggregation on a single
    primitive key. Each column is referenced once (an array transformed element-wise):
    a feature that is itself an expression (a score, a treated value) is evaluated once
    per row, not once per use in the bucket formula."""

    def code(x: Column, index: Column) -> Column:
        bucket = F.round(F.signum(x) * F.log1p(F.abs(x)) * RESOLUTION).cast("long")
        bucket = F.when(x.isNull() | F.isnan(x), F.lit(_MISSING_BUCKET)).otherwise(bucket)
        return index.cast("long") * _CODE_SPAN + _CODE_SPAN // 2 + bucket

    return F.transform(F.array(*[F.col(c).cast("double") for c in columns]), code)


def histogram(snapshot: DataFrame, kinds: dict[str, str], rate: float = 1.0) -> DataFrame:
    """(feature, kind, bucket, value, customers) over the snapshot's customers, or over the
    deterministic sample of them at `rate`: numeric features have a bucket (value null, or
    MISSING), categorical ones a value. One pass per kind, every row yielding one entry
    per feature, counted by a single hash aggregation."""
    rows = snapshot
    if rate < 1.0:
        rows = rows.where(F.pmod(F.xxhash64("customer_id"), F.lit(SAMPLE_SCALE)) < F.lit(int(rate * SAMPLE_SCALE)))
    numeric = [c for c, k in kinds.items() if k == NUMERIC_KIND]
    categorical = [c for c, k in kinds.items() if k != NUMERIC_KIND]
    parts = []
    if numeric:
        codes = rows.select(F.explode(_numeric_codes(numeric)).alias("code"))
        counts = codes.groupBy("code").agg(F.count(F.lit(1)).alias("customers"))
        bucket = F.col("code") % _CODE_SPAN - _CODE_SPAN // 2
        parts.append(
            counts.select(
                _name((F.col("code") / _CODE_SPAN).cast("int"), numeric),
                F.lit(NUMERIC_KIND).alias("kind"),
                F.when(bucket != _MISSING_BUCKET, bucket).alias("bucket"),
                F.when(bucket == _MISSING_BUCKET, F.lit(MISSING)).alias("value"),
                "customers",
            )
        )
    if categorical:
        values = [
            F.struct(F.lit(i).alias("i"), F.coalesce(F.col(c).cast("string"), F.lit(MISSING)).alias("value"))
            for i, c in enumerate(categorical)
        ]
        counts = rows.select(F.inline(F.array(*values))).groupBy("i", "value").agg(F.count(F.lit(1)).alias("customers"))
        parts.append(
            counts.select(
                _name(F.col("i"), categorical),
                F.lit(CATEGORICAL_KIND).alias("kind"),
                F.lit(None).cast("long").alias("bucket"),
                "value",
                "customers",
            )
        )
    return reduce(DataFrame.unionByName, parts)


def _name(index: Column, names: list[str]) -> Column:
    return F.element_at(F.array(*[F.lit(c) for c in names]), index + 1).alias("feature")


@dataclass(frozen=True)
class FeatureHistogram:
    kind: str
    # bucket (numeric, int) or value (categorical, str) or MISSING -> customers
    counts: Counter

    @property
    def customers(self) -> int:
        return sum(self.counts.values())


def collect_histograms(rows: Iterable[Row]) -> dict[str, FeatureHistogram]:
    """Histogram rows (a few per feature and value, never per customer) as dictionaries."""
    out: dict[str, FeatureHistogram] = {}
    for r in rows:
        h = out.setdefault(r["feature"], FeatureHistogram(r["kind"], Counter()))
        key = r["bucket"] if r["bucket"] is not None else r["value"]
        h.counts[key] += r["customers"]
    return out


def decile_edges(previous: FeatureHistogram, bins: int) -> list[int]:
    """The previous snapshot's quantile edges, as buckets: for each k in 1..bins-1 the
    first bucket where the cumulative count reaches k/bins of the observed values."""
    observed = sorted((b, n) for b, n in previous.counts.items() if b != MISSING)
    total = sum(n for _, n in observed)
    edges: list[int] = []
    cumulative, k = 0, 1
    for bucket, n in observed:
        cumulative += n
        while k < bins and cumulative * bins >= k * total:
            if not edges or edges[-1] != bucket:
                edges.append(bucket)
            k += 1
    return edges


def _binned(h: FeatureHistogram, edges: list[int] | None) -> Counter:
    """Counts per bin: numeric bin k holds buckets above k edges, (edge_k, edge_k+1]."""
    if edges is None:
        return Counter(h.counts)
    out: Counter = Counter()
    for key, n in h.counts.items():
        out[-1 if key == MISSING else sum(1 for e in edges if key > e)] += n
    return out


def psi(now: Counter, before: Counter) -> float:
    total_now, total_before = sum(now.values()), sum(before.values())
    value = 0.0
    for b in set(now) | set(before):
        p_now = max(now.get(b, 0) / total_now, EPSILON) if total_now else EPSILON
        p_before = max(before.get(b, 0) / total_before, EPSILON) if total_before else EPSILON
        value += (p_now - p_before) * math.log(p_now / p_before)
    return value


def population_stability(
    current: dict[str, FeatureHistogram],
    previous: dict[str, FeatureHistogram],
    bins: int,
    threshold: float,
    as_of: date,
    previous_as_of: date,
) -> list[DriftRow]:
    """PSI of every feature present in both snapshots."""
    rows = []
    for feature, now in sorted(current.items()):
        before = previous.get(feature)
        if before is None or before.kind != now.kind:
            continue
        edges = decile_edges(before, bins) if now.kind == NUMERIC_KIND else None
        binned_now, binned_before = _binned(now, edges), _binned(before, edges)
        value = psi(binned_now, binned_before)
        seen = len(set(binned_now) | set(binned_before))
        large = value > threshold
        rows.append(DriftRow(as_of, previous_as_of, feature, value, seen, now.customers, before.customers, large))
    return rows
