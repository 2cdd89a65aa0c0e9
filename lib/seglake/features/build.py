"""silver -> gold.customer_features for one snapshot date, and its drift against the
previous snapshot (gold.feature_drift)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from pyspark import StorageLevel
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from seglake.catalog import (
    GOLD_CUSTOMER_FEATURES,
    GOLD_FEATURE_DRIFT,
    SILVER_EVENTS,
    SILVER_ORDERS,
    SILVER_PROFILES,
    SILVER_SESSIONS,
    Catalog,
)
from seglake.config.schema import FeaturesConfig, SeglakeConfig
from seglake.errors import ConfigError, InputError
from seglake.features.context import region_reference
from seglake.features.drift import DRIFT_SCHEMA, drift_features, population_stability, quantile_edges
from seglake.features.snapshot import FeatureInputs, base_features, finish, statistics


@dataclass(frozen=True)
class DriftResult:
    previous_as_of: date
    features: int
    # (feature, psi) above the threshold, largest first
    large: list[tuple[str, float]] = field(default_factory=list)


@dataclass(frozen=True)
class FeatureResult:
    as_of: date
    customers: int
    columns: int
    drift: DriftResult | None = None


def resolve_as_of(spark: SparkSession, cfg: SeglakeConfig, catalog: Catalog, as_of: str | None) -> date:
    """The snapshot date asked for, else the configured one, else the day after the
    newest silver event (one aggregate value, read from the table)."""
    text = as_of or cfg.features.as_of
    if text:
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise ConfigError(f"as_of '{text}' is not a date; use YYYY-MM-DD") from None
    catalog.require(spark, (SILVER_EVENTS,), "silver")
    newest = catalog.read(spark, SILVER_EVENTS).select(F.max("event_date")).first()[0]
    if newest is None:
        raise InputError("silver.events is empty; nothing to compute features from")
    return newest + timedelta(days=1)


def read_inputs(spark: SparkSession, catalog: Catalog) -> FeatureInputs:
    catalog.require(spark, (SILVER_EVENTS, SILVER_SESSIONS, SILVER_ORDERS, SILVER_PROFILES), "silver")
    return FeatureInputs(
        events=catalog.read(spark, SILVER_EVENTS),
        sessions=catalog.read(spark, SILVER_SESSIONS),
        orders=catalog.read(spark, SILVER_ORDERS),
        profiles=catalog.read(spark, SILVER_PROFILES),
        regions=region_reference(spark),
    )


def build_features(spark: SparkSession, cfg: SeglakeConfig, catalog: Catalog, as_of: date) -> FeatureResult:
    """Write the snapshot for `as_of` (replacing exactly that snapshot), then its drift."""
    inputs = read_inputs(spark, catalog)
    # The per-customer table is read twice (population statistics, then the write): keep
    # it rather than aggregating the events again.
    base = base_features(inputs, as_of, cfg.features).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        features = finish(base, statistics(base, cfg.features), as_of, cfg.features)
        catalog.replace_where(features, GOLD_CUSTOMER_FEATURES, f"as_of = '{as_of.isoformat()}'")
    finally:
        base.unpersist()
    customers = catalog.last_commit_rows(spark, GOLD_CUSTOMER_FEATURES)
    comments = {f.name: f.metadata["comment"] for f in features.schema.fields if "comment" in f.metadata}
    catalog.set_column_comments(spark, GOLD_CUSTOMER_FEATURES, comments)
    drift = write_drift(spark, cfg.features, catalog, as_of, [f.name for f in features.schema.fields])
    return FeatureResult(as_of, customers, len(features.columns), drift)


def write_drift(
    spark: SparkSession, cfg: FeaturesConfig, catalog: Catalog, as_of: date, columns: list[str]
) -> DriftResult | None:
    """PSI of every feature of `as_of` against the latest snapshot before it."""
    table = catalog.read(spark, GOLD_CUSTOMER_FEATURES).select(*columns)
    previous_as_of = table.where(F.col("as_of") < F.lit(as_of)).agg(F.max("as_of")).first()[0]
    predicate = f"as_of = '{as_of.isoformat()}'"
    if previous_as_of is None:
        # Nothing to compare with: the snapshot's drift rows are cleared (and the table
        # exists from the first snapshot on, so readers can always query it).
        catalog.replace_where(spark.createDataFrame([], DRIFT_SCHEMA), GOLD_FEATURE_DRIFT, predicate)
        return None
    current = table.where(F.col("as_of") == F.lit(as_of))
    previous = table.where(F.col("as_of") == F.lit(previous_as_of))
    kinds = drift_features(current)
    edges = quantile_edges(previous, [c for c, k in kinds.items() if k == "numeric"], cfg.drift.bins)
    psi = population_stability(current, previous, kinds, edges, as_of, previous_as_of, cfg.drift.psi_threshold)
    catalog.replace_where(psi, GOLD_FEATURE_DRIFT, predicate)
    stored = catalog.read(spark, GOLD_FEATURE_DRIFT).where(F.col("as_of") == F.lit(as_of))
    large = [(r["feature"], r["psi"]) for r in stored.where("large").orderBy(F.desc("psi"), "feature").collect()]
    return DriftResult(previous_as_of, len(kinds), large)
