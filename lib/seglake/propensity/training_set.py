"""Training sets over past snapshots: features at as_of joined with labels from after it,
split by time (the newest snapshots are the test period), and guarded against leakage."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from datetime import date, timedelta

from pyspark.ml.evaluation import BinaryClassificationEvaluator
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from seglake.catalog import GOLD_CUSTOMER_FEATURES, SILVER_EVENTS, SILVER_ORDERS, Catalog
from seglake.config.schema import PropensityConfig, PropensityLabel
from seglake.errors import ConfigError, InputError
from seglake.propensity.labels import LABEL_COL, compute_labels

LABEL_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
SPLIT_COL = "split"
TRAIN, VALIDATION, TEST = "train", "validation", "test"
NUMERIC = (T.ByteType, T.ShortType, T.IntegerType, T.LongType, T.FloatType, T.DoubleType, T.DecimalType)


class LeakageError(InputError):
    """A feature knows the label: it was computed from data the snapshot could not see."""


@dataclass(frozen=True)
class SnapshotPlan:
    """Which as_of dates train, validate and test one label."""

    train: tuple[date, ...]
    validation: tuple[date, ...]
    test: tuple[date, ...]

    @property
    def all(self) -> tuple[date, ...]:
        return self.train + self.validation + self.test

    def split_of(self) -> F.Column:
        """The split column for rows carrying `as_of`."""
        col = F.lit(TRAIN)
        for name, dates in ((VALIDATION, self.validation), (TEST, self.test)):
            col = F.when(F.col("as_of").isin([F.lit(d) for d in dates]), F.lit(name)).otherwise(col)
        return col


def label_definition(cfg: PropensityConfig, name: str) -> PropensityLabel:
    if not LABEL_NAME.fullmatch(name):
        raise ConfigError(f"propensity label name {name!r}: use letters, digits and underscores only")
    if name not in cfg.labels:
        hint = difflib.get_close_matches(name, list(cfg.labels), 1)
        raise ConfigError(
            f"propensity label {name!r} is not defined under propensity.labels"
            + (f" (did you mean {hint[0]!r}?)" if hint else "")
            + f"; defined: {', '.join(cfg.labels) or 'none'}"
        )
    return cfg.labels[name]


def observed_until(spark: SparkSession, catalog: Catalog) -> date:
    """Midnight after the newest order or event: label windows must end by then."""
    catalog.require(spark, (SILVER_ORDERS, SILVER_EVENTS), "silver")
    newest_event = catalog.read(spark, SILVER_EVENTS).select(F.max("ts")).first()[0]
    newest_order = catalog.read(spark, SILVER_ORDERS).select(F.max("order_ts")).first()[0]
    newest = max((d for d in (newest_event, newest_order) if d is not None), default=None)
    if newest is None:
        raise InputError("silver.events and silver.orders are empty; nothing to learn labels from")
    return newest.date() + timedelta(days=1)


def plan_snapshots(cfg: PropensityConfig, horizon_days: int, data_end: date) -> SnapshotPlan:
    """`cfg.snapshots` dates, `snapshot_interval_days` apart, the newest first fully observed."""
    newest_possible = data_end - timedelta(days=horizon_days)
    if cfg.last_as_of:
        try:
            last = date.fromisoformat(cfg.last_as_of)
        except ValueError:
            raise ConfigError(f"propensity.last_as_of '{cfg.last_as_of}' is not a date; use YYYY-MM-DD") from None
        if last > newest_possible:
            raise InputError(
                f"propensity.last_as_of {last}: its {horizon_days}-day label window ends after the newest data "
                f"({data_end}); use {newest_possible} or earlier"
            )
    else:
        last = newest_possible
    needed = cfg.test_snapshots + cfg.validation_snapshots + 1
    if cfg.snapshots < needed:
        raise ConfigError(f"propensity.snapshots must be at least test_snapshots + validation_snapshots + 1 = {needed}")
    if cfg.snapshot_interval_days < 1:
        raise ConfigError("propensity.snapshot_interval_days must be >= 1")
    dates = [last - timedelta(days=cfg.snapshot_interval_days * i) for i in range(cfg.snapshots)][::-1]
    n_test, n_val = cfg.test_snapshots, cfg.validation_snapshots
    return SnapshotPlan(
        train=tuple(dates[: -(n_test + n_val)]),
        validation=tuple(dates[-(n_test + n_val) : -n_test]) if n_val else (),
        test=tuple(dates[-n_test:]),
    )


def missing_snapshots(spark: SparkSession, catalog: Catalog, dates: tuple[date, ...]) -> list[date]:
    if not catalog.exists(spark, GOLD_CUSTOMER_FEATURES):
        return list(dates)
    present = {
        r[0]
        for r in catalog.read(spark, GOLD_CUSTOMER_FEATURES)
        .where(F.col("as_of").isin([F.lit(d) for d in dates]))
        .select("as_of")
        .distinct()
        .collect()
    }
    return [d for d in dates if d not in present]


def check_feature_columns(features: DataFrame, cfg: PropensityConfig) -> None:
    if not cfg.features:
        raise ConfigError("propensity.features is empty; list numeric columns of gold.customer_features")
    types = dict((f.name, f.dataType) for f in features.schema.fields)
    missing = [f for f in cfg.features if f not in types]
    if missing:
        hints = [f"{m} (did you mean {difflib.get_close_matches(m, list(types), 1)}?)" for m in missing]
        raise ConfigError(f"propensity.features: not in gold.customer_features: {', '.join(hints)}")
    not_numeric = [f for f in cfg.features if not isinstance(types[f], NUMERIC)]
    if not_numeric:
        raise ConfigError(f"propensity.features must be numeric; not numeric: {', '.join(not_numeric)}")
    unknown = [f for f in list(cfg.log_features) + list(cfg.fill_values) if f not in cfg.features]
    if unknown:
        raise ConfigError(f"propensity: log_features/fill_values name columns not in propensity.features: {unknown}")


def training_set(
    features: DataFrame,
    orders: DataFrame,
    sessions: DataFrame,
    events: DataFrame,
    definition: PropensityLabel,
    plan: SnapshotPlan,
) -> DataFrame:
    """Feature rows of the planned snapshots with their label and split (train/validation/test)."""
    snapshots = features.where(F.col("as_of").isin([F.lit(d) for d in plan.all]))
    labels = compute_labels(snapshots.select("customer_id", "as_of"), definition, orders, sessions, events)
    return snapshots.join(labels, on=["customer_id", "as_of"], how="inner").withColumn(SPLIT_COL, plan.split_of())


def single_feature_auc(df: DataFrame, feature: str) -> float:
    """ROC AUC of one raw feature as a score (nulls last), folded so 0.3 counts as 0.7."""
    scored = df.select(F.coalesce(F.col(feature).cast("double"), F.lit(-1e300)).alias("_s"), LABEL_COL)
    auc = BinaryClassificationEvaluator(rawPredictionCol="_s", labelCol=LABEL_COL).evaluate(
        scored.withColumn(LABEL_COL, F.col(LABEL_COL).cast("double"))
    )
    return max(auc, 1.0 - auc)


def check_leakage(train: DataFrame, features: list[str], max_auc: float) -> dict[str, float]:
    """Refuse features that alone (almost) determine the label: a point-in-time feature
    does not know the future that well. Returns every feature's single-feature AUC."""
    aucs = {f: single_feature_auc(train, f) for f in features}
    leaking = {f: a for f, a in aucs.items() if a > max_auc}
    if leaking:
        named = ", ".join(f"{f} (AUC {a:.3f})" for f, a in sorted(leaking.items(), key=lambda kv: -kv[1]))
        raise LeakageError(
            f"feature(s) separate the label almost perfectly on their own, so they were most likely "
            f"computed from the label window: {named}; fix the feature or raise "
            f"propensity.max_single_feature_auc (now {max_auc})"
        )
    return aucs
