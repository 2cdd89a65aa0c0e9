"""silver -> gold.customer_features for one snapshot date, its histogram
(gold.feature_histograms) and its drift against the previous snapshot (gold.feature_drift)."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from seglake.catalog import (
    GOLD_CUSTOMER_DAILY_EVENTS,
    GOLD_CUSTOMER_FEATURES,
    GOLD_FEATURE_DRIFT,
    GOLD_FEATURE_HISTOGRAMS,
    SILVER_EVENTS,
    SILVER_ORDERS,
    SILVER_PROFILES,
    SILVER_SESSIONS,
    Catalog,
)
from seglake.config.schema import FeaturesConfig, SeglakeConfig
from seglake.errors import ConfigError, InputError
from seglake.features.context import region_reference
from seglake.features.daily import DaysUpdate, refresh_event_days
from seglake.features.drift import (
    DRIFT_SCHEMA,
    FeatureHistogram,
    collect_histograms,
    drift_features,
    histogram,
    population_stability,
    sample_rate,
)
from seglake.features.snapshot import CUSTOMERS, FeatureInputs, base_features, finish, statistics
from seglake.frames import local_frame


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
    event_days: DaysUpdate
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


def read_inputs(spark: SparkSession, catalog: Catalog, event_days: DataFrame | None = None) -> FeatureInputs:
    """The silver tables, and the events per customer and day: `event_days` when given,
    else as stored (see `refresh_event_days`)."""
    catalog.require(spark, (SILVER_EVENTS, SILVER_SESSIONS, SILVER_ORDERS, SILVER_PROFILES), "silver")
    return FeatureInputs(
        events=catalog.read(spark, SILVER_EVENTS),
        sessions=catalog.read(spark, SILVER_SESSIONS),
        orders=catalog.read(spark, SILVER_ORDERS),
        profiles=catalog.read(spark, SILVER_PROFILES),
        regions=region_reference(spark),
        event_days=event_days if event_days is not None else catalog.read(spark, GOLD_CUSTOMER_DAILY_EVENTS),
    )


def build_features(spark: SparkSession, cfg: SeglakeConfig, catalog: Catalog, as_of: date) -> FeatureResult:
    """Bring the events per customer and day up to date; write the snapshot for `as_of`
    (replacing exactly that snapshot) and its histogram, then its drift (and the drift
    of the next snapshot when this one is a backfill)."""
    catalog.require(spark, (SILVER_EVENTS,), "silver")
    with ThreadPoolExecutor(max_workers=4) as pool:
        # The stored histograms the drift compares with do not depend on this run: they
        # are read while the days are brought up to date and the snapshot is computed.
        neighbours = pool.submit(neighbour_histograms, spark, cfg.features, catalog, as_of)
        refresh = refresh_event_days(spark, cfg.features, catalog)
        # A few changed days (or none) are committed while the snapshot is computed.
        days_written = pool.submit(refresh.write)
        if refresh.days is None:  # every day recomputed: the snapshot reads them once written
            days_written.result()
        inputs = read_inputs(spark, catalog, refresh.days)
        features, customers, drift = _write_snapshot(spark, cfg.features, catalog, as_of, inputs, pool, neighbours)
        days = days_written.result()
    comments = {f.name: f.metadata["comment"] for f in features.schema.fields if "comment" in f.metadata}
    catalog.set_column_comments(spark, GOLD_CUSTOMER_FEATURES, comments)
    return FeatureResult(as_of, customers, len(features.columns), days, drift)


def _write_snapshot(
    spark: SparkSession,
    cfg: FeaturesConfig,
    catalog: Catalog,
    as_of: date,
    inputs: FeatureInputs,
    pool: ThreadPoolExecutor,
    neighbours: Future[Neighbours],
) -> tuple[DataFrame, int, DriftResult | None]:
    """Write the snapshot, its histogram and its drift; the snapshot as written (its
    plan), its customer count and its drift."""
    # The per-customer table is read three times (population statistics, the write, the
    # histogram): keep it rather than aggregating the events again.
    base = base_features(inputs, as_of, cfg).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        stats = statistics(base, cfg)
        features = finish(base, stats, as_of, cfg)
        customers = int(stats[CUSTOMERS])  # type: ignore[call-overload]
        # Neither the histogram nor the drift reads the written snapshot (the histogram
        # profiles the kept table, the drift compares histograms): they run while the
        # snapshot is written, so their Delta commits and driver-side work overlap the
        # write's tasks. A failure of any fails the run; re-running rewrites all three.
        written = pool.submit(catalog.replace_where, features, GOLD_CUSTOMER_FEATURES, _snapshot(as_of))
        profiled = profile(spark, features, as_of, sample_rate(customers, cfg.drift.sample_customers))
        # Read first: a neighbour whose histogram was missing got it stored meanwhile.
        around = neighbours.result()
        stored = pool.submit(catalog.replace_where, profiled.rows, GOLD_FEATURE_HISTOGRAMS, _snapshot(as_of))
        drift = refresh_drift(spark, cfg, catalog, as_of, profiled.histogram, around)
        stored.result()
        written.result()
        return features, customers, drift
    finally:
        base.unpersist()


def _snapshot(as_of: date) -> str:
    return f"as_of = '{as_of.isoformat()}'"


@dataclass(frozen=True)
class Profile:
    """A snapshot's histogram: its gold.feature_histograms rows, and as the drift reads it."""

    rows: DataFrame
    histogram: dict[str, FeatureHistogram]


def profile(spark: SparkSession, snapshot: DataFrame, as_of: date, rate: float) -> Profile:
    """Profile the snapshot once. The histogram is a few rows per feature and value (never
    per customer): it is collected once, and stored from the driver, rather than profiling
    the snapshot a second time for the write or reading the written rows back."""
    profiled = histogram(snapshot, drift_features(snapshot), rate)
    rows = profiled.collect()
    stored = local_frame(spark, rows, profiled.schema).select(F.lit(as_of).alias("as_of"), "*")
    return Profile(stored, collect_histograms(rows))


def _stored_histogram(spark: SparkSession, catalog: Catalog, as_of: date) -> dict[str, FeatureHistogram]:
    stored = catalog.read(spark, GOLD_FEATURE_HISTOGRAMS).where(F.col("as_of") == F.lit(as_of))
    return collect_histograms(stored.collect())


def _histogram_of(
    spark: SparkSession, cfg: FeaturesConfig, catalog: Catalog, as_of: date
) -> dict[str, FeatureHistogram]:
    """A stored snapshot's histogram; profiled from the snapshot (and stored) when the
    snapshot predates histograms."""
    if catalog.exists(spark, GOLD_FEATURE_HISTOGRAMS):
        stored = _stored_histogram(spark, catalog, as_of)
        if stored:
            return stored
    snapshot = catalog.read(spark, GOLD_CUSTOMER_FEATURES).where(F.col("as_of") == F.lit(as_of))
    customers = snapshot.count()
    profiled = profile(spark, snapshot, as_of, sample_rate(customers, cfg.drift.sample_customers))
    catalog.replace_where(profiled.rows, GOLD_FEATURE_HISTOGRAMS, _snapshot(as_of))
    return profiled.histogram


@dataclass(frozen=True)
class Neighbours:
    """The stored snapshots just before and just after a snapshot date, with their
    histograms (None when there is none)."""

    earlier: tuple[date, dict[str, FeatureHistogram]] | None
    later: tuple[date, dict[str, FeatureHistogram]] | None


def neighbour_histograms(spark: SparkSession, cfg: FeaturesConfig, catalog: Catalog, as_of: date) -> Neighbours:
    """The stored snapshots around `as_of` with their histograms. Reads only stored
    tables, so it can run while `as_of` is being computed; it writes only when a
    neighbour predates histograms (its histogram is then profiled and stored), which is
    why the caller stores the current histogram only after this has returned."""
    dates = _snapshot_dates(spark, catalog)
    earlier = max((d for d in dates if d < as_of), default=None)
    later = min((d for d in dates if d > as_of), default=None)
    return Neighbours(
        None if earlier is None else (earlier, _histogram_of(spark, cfg, catalog, earlier)),
        None if later is None else (later, _histogram_of(spark, cfg, catalog, later)),
    )


def refresh_drift(
    spark: SparkSession,
    cfg: FeaturesConfig,
    catalog: Catalog,
    as_of: date,
    current: dict[str, FeatureHistogram],
    neighbours: Neighbours,
) -> DriftResult | None:
    """PSI of `as_of` against the latest snapshot before it; and, when a later snapshot
    exists (a backfill), that snapshot's PSI against this one, whose histogram changed."""
    result = _write_drift(spark, cfg, catalog, as_of, current, neighbours.earlier)
    if neighbours.later:
        later_as_of, later = neighbours.later
        _write_drift(spark, cfg, catalog, later_as_of, later, (as_of, current))
    return result


def _snapshot_dates(spark: SparkSession, catalog: Catalog) -> list[date]:
    """The stored snapshots' dates (none before the first snapshot's write commits)."""
    if not catalog.exists(spark, GOLD_CUSTOMER_FEATURES):
        return []
    return sorted(r[0] for r in catalog.read(spark, GOLD_CUSTOMER_FEATURES).select("as_of").distinct().collect())


def _write_drift(
    spark: SparkSession,
    cfg: FeaturesConfig,
    catalog: Catalog,
    as_of: date,
    current: dict[str, FeatureHistogram],
    previous: tuple[date, dict[str, FeatureHistogram]] | None,
) -> DriftResult | None:
    if previous is None:
        # Nothing to compare with: the snapshot's drift rows are cleared (and the table
        # exists from the first snapshot on, so readers can always query it).
        catalog.replace_where(local_frame(spark, [], DRIFT_SCHEMA), GOLD_FEATURE_DRIFT, _snapshot(as_of))
        return None
    previous_as_of, before = previous
    rows = population_stability(current, before, cfg.drift.bins, cfg.drift.psi_threshold, as_of, previous_as_of)
    catalog.replace_where(local_frame(spark, rows, DRIFT_SCHEMA), GOLD_FEATURE_DRIFT, _snapshot(as_of))
    large = sorted(((r.feature, r.psi) for r in rows if r.large), key=lambda fp: (-fp[1], fp[0]))
    return DriftResult(previous_as_of, len(rows), large)
