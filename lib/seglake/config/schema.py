"""Typed configuration objects.

Every YAML key maps onto a field here; the loader rejects anything else. Defaults are the
laptop defaults; `conf/base.yml` states the same values explicitly so users see them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

DELTA_PACKAGE = "io.delta:delta-spark_4.1_2.13:4.4.0"


@dataclass(frozen=True)
class SparkConfig:
    app_name: str = "seglake"
    # Used only when seglake starts Spark itself; spark-submit and Databricks decide.
    master: str = "local[*]"
    driver_memory: str = "4g"
    # Partitions per shuffle (and default parallelism) of a session seglake starts itself;
    # None: one per core of a local master (see session.local_partitions).
    shuffle_partitions: int | None = None
    ui_enabled: bool = False
    log_level: str = "WARN"
    packages: list[str] = field(default_factory=lambda: [DELTA_PACKAGE])
    # Ivy cache for spark.jars.packages; jars land in <ivy_dir>/jars, and seglake notes
    # which ones each package set needs so later starts skip resolution entirely.
    ivy_dir: str = "~/.ivy2.5.2"
    # Fail fast instead of reaching for Maven Central when the jars are not cached yet.
    offline: bool = False
    conf: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PathsConfig:
    landing: str
    lake: str


@dataclass(frozen=True)
class MlflowConfig:
    tracking_uri: str
    experiment: str = "seglake"
    registered_model_prefix: str = "seglake"


@dataclass(frozen=True)
class CatalogConfig:
    # When set, every table is also registered as <database>.<layer>_<name> in the
    # metastore; paths stay the source of truth so delta-rs readers need no metastore.
    database: str | None = None


@dataclass(frozen=True)
class SourceConfig:
    path: str
    format: Literal["json", "csv", "parquet"]
    # canonical column -> column name in this company's files
    columns: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SourcesConfig:
    events: SourceConfig
    transactions: SourceConfig
    profiles: SourceConfig
    reviews: SourceConfig


@dataclass(frozen=True)
class DirtyRates:
    """Share of generated records made dirty in each way (0 disables it)."""

    malformed_json: float = 0.002
    wrong_type: float = 0.002
    duplicate: float = 0.01
    late: float = 0.01
    future: float = 0.001
    missing_id: float = 0.002
    bot_visitors: float = 0.01


@dataclass(frozen=True)
class GeneratorConfig:
    customers: int = 2000
    events: int = 200_000
    seed: int = 42
    start_date: str = "2025-01-01"
    days: int = 365
    # Customers per Spark job; bounds the work in flight and drives progress reporting.
    customers_per_chunk: int = 25_000
    files_per_chunk: int = 4
    dirty: DirtyRates = field(default_factory=DirtyRates)


@dataclass(frozen=True)
class IngestConfig:
    session_gap_minutes: int = 30
    future_tolerance_hours: int = 24
    # An event received more than this long after it happened counts as late: reported,
    # and the dates it changed are recorded so stale snapshots can be rebuilt.
    late_after_hours: int = 24
    bot_user_agent_patterns: list[str] = field(default_factory=lambda: ["bot", "crawler", "spider", "headless"])
    bot_max_events_per_minute: int = 60
    max_string_length: int = 4096
    # Key for pseudonymising PII (keyed SHA-256); production reads it from a secret.
    pii_secret: str = "local-only-secret"


@dataclass(frozen=True)
class QualityRule:
    """One declarative check on a typed silver column.

    check: not_null | range (min and/or max) | accepted_values (values) | regex (pattern)
    | max_length (length) | exists_in (reference: "<layer>.<table>.<column>").
    action: warn (keep the row, count it) | quarantine (set the row aside with the rule
    name) | fail (stop the run before anything is written).
    """

    name: str
    column: str
    check: Literal["not_null", "range", "accepted_values", "regex", "max_length", "exists_in"]
    action: Literal["warn", "quarantine", "fail"] = "quarantine"
    min: float | None = None
    max: float | None = None
    values: list[str] = field(default_factory=list)
    pattern: str | None = None
    length: int | None = None
    reference: str | None = None


@dataclass(frozen=True)
class QualityConfig:
    """Rules per source, applied after parsing and typing, before deduplication."""

    events: list[QualityRule] = field(default_factory=list)
    transactions: list[QualityRule] = field(default_factory=list)
    profiles: list[QualityRule] = field(default_factory=list)
    reviews: list[QualityRule] = field(default_factory=list)


@dataclass(frozen=True)
class CalendarPeriod:
    """A yearly period (sale, holiday): month-day bounds, inclusive; may wrap the new year."""

    name: str
    start: str  # MM-DD
    end: str  # MM-DD
    description: str = ""


@dataclass(frozen=True)
class EngagementComponent:
    """One part of the engagement score: linear from 0 at `zero_at` to 1 at `full_at`
    (clamped; `zero_at` > `full_at` means lower is better, as for days since a visit)."""

    feature: str
    weight: float
    zero_at: float
    full_at: float


@dataclass(frozen=True)
class FeatureTreatment:
    """Explicit missing-value and outlier handling for one feature. The raw column keeps
    its nulls; `<feature>_clean` holds the treated value and `<feature>_missing` says
    whether it was imputed."""

    impute: Literal["none", "constant", "median", "mean"] = "none"
    value: float | None = None
    indicator: bool = True
    # Cap observed values at these quantiles of the snapshot (before imputing).
    clip_lower_quantile: float | None = None
    clip_upper_quantile: float | None = None


@dataclass(frozen=True)
class FeatureDriftConfig:
    # PSI above this between consecutive snapshots is reported as large drift.
    psi_threshold: float = 0.2
    # Numeric features are binned on the previous snapshot's quantiles into this many bins.
    bins: int = 10
    # Snapshots with more customers are profiled on a deterministic sample of this many
    # (PSI noise ~0.001 at 20,000); null profiles every customer.
    sample_customers: int | None = 20_000


@dataclass(frozen=True)
class FeatureFamilies:
    """Feature columns per family: name (template) -> description. `{w}` expands to each
    window, `{category}`, `{os}`, `{device}`, `{daypart}`, `{season}`, `{event}` to the
    configured values."""

    rfm: dict[str, str] = field(default_factory=dict)
    behaviour: dict[str, str] = field(default_factory=dict)
    context: dict[str, str] = field(default_factory=dict)
    demographics: dict[str, str] = field(default_factory=dict)
    engagement: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class FeaturesConfig:
    # Snapshot date (YYYY-MM-DD); empty means the day after the newest silver event.
    as_of: str | None = None
    windows_days: list[int] = field(default_factory=lambda: [30, 90, 365])
    # RFM frequency/monetary scores, context and affinity features use this window.
    profile_window_days: int = 365
    trend_recent_days: int = 30
    trend_previous_days: int = 60
    categories: list[str] = field(default_factory=list)
    os_names: list[str] = field(default_factory=list)
    device_types: list[str] = field(default_factory=lambda: ["desktop", "mobile", "tablet"])
    # name -> [first hour, last hour] of local time, inclusive
    dayparts: dict[str, list[int]] = field(default_factory=dict)
    # name -> months
    seasons: dict[str, list[int]] = field(default_factory=dict)
    calendar: list[CalendarPeriod] = field(default_factory=list)
    # acquisition channel -> utm_medium values (first match wins)
    channels: dict[str, list[str]] = field(default_factory=dict)
    # referrer host fragments that make an untagged first visit "organic_search"
    search_referrers: list[str] = field(default_factory=list)
    # lower bounds of the age bands (years)
    age_bands: list[int] = field(default_factory=lambda: [18, 25, 35, 45, 55, 65])
    engagement: list[EngagementComponent] = field(default_factory=list)
    treatments: dict[str, FeatureTreatment] = field(default_factory=dict)
    drift: FeatureDriftConfig = field(default_factory=FeatureDriftConfig)
    families: FeatureFamilies = field(default_factory=FeatureFamilies)


@dataclass(frozen=True)
class OutlierConfig:
    """Winsorising of every model input at quantiles of the data the model is fitted on
    (approxQuantile); the bounds are part of the fitted pipeline. 0 and 1 disable it."""

    lower_quantile: float = 0.01
    upper_quantile: float = 0.99
    relative_error: float = 0.001


@dataclass(frozen=True)
class StabilityConfig:
    """Each k is refitted on sub-samples drawn without replacement; every refit assigns all
    customers and its adjusted Rand index against the reference fit is the sub-sample
    stability (robustness to noise), beside the stability across seeds (initialisation)."""

    subsamples: int = 3
    subsample_fraction: float = 0.8


@dataclass(frozen=True)
class PersonaConfig:
    # A feature describes a segment when its centroid is this many standard deviations
    # from the population mean; at most max_words features make the name.
    threshold: float = 0.5
    max_words: int = 3
    # A new segment whose centroid (z-scores, root mean square over shared features) is
    # this close to a previous run's segment keeps that segment's id and persona name.
    match_max_distance: float = 0.5


@dataclass(frozen=True)
class SegmentationConfig:
    features: list[str] = field(default_factory=list)
    # Used when gold.customer_features has them, skipped (and reported) otherwise.
    optional_features: list[str] = field(default_factory=list)
    log_features: list[str] = field(default_factory=list)
    # Value for a feature that is missing for a reason (no order yet: recency unknown);
    # features not listed here are imputed with the median.
    fill_values: dict[str, float] = field(default_factory=dict)
    # Multiplier of a feature after scaling (1 when not listed): its say in the distance.
    weights: dict[str, float] = field(default_factory=dict)
    scaler: Literal["standard", "minmax"] = "standard"
    algorithm: Literal["kmeans", "bisecting_kmeans", "gaussian_mixture"] = "kmeans"
    k_min: int = 2
    k_max: int = 8
    seeds: list[int] = field(default_factory=lambda: [1, 2, 3])
    # Fits per seed, keeping the one with the lowest cost: k-means stops in local minima.
    n_init: int = 5
    # Rounds of k-means|| initialisation.
    init_steps: int = 2
    max_iter: int = 60
    tol: float = 1e-4
    min_segment_share: float = 0.02
    # Adjusted Rand index (across seeds and across sub-samples) below which a k is unstable.
    min_stability: float = 0.8
    # Among acceptable k, the largest whose silhouette is within this of the best one is
    # chosen (0: plain best silhouette): finer segments when they separate almost as well.
    silhouette_tolerance: float = 0.03
    sample_fraction_for_selection: float = 1.0
    # Clustering is profiling: only customers who consented to it are segmented.
    require_profiling_consent: bool = True
    # Alias a newly trained model gets: champion publishes it at once; challenger leaves it
    # for review while `seglake score-segments` keeps publishing with score_alias.
    register_alias: str = "champion"
    # Registered-model alias `seglake score-segments` scores with.
    score_alias: str = "champion"
    outliers: OutlierConfig = field(default_factory=OutlierConfig)
    stability: StabilityConfig = field(default_factory=StabilityConfig)
    personas: PersonaConfig = field(default_factory=PersonaConfig)


@dataclass(frozen=True)
class PropensityLabel:
    """What a label means. The label window of a snapshot is [as_of, as_of + horizon_days)
    at midnight UTC: exactly what the snapshot's features could not see.

    kind: purchase (places an order) | churn (no order and no human session)
    | category_purchase (places an order in a session that added `category` to the cart).
    """

    kind: Literal["purchase", "churn", "category_purchase"]
    horizon_days: int = 30
    category: str | None = None


@dataclass(frozen=True)
class PropensitySearch:
    """Hyper-parameter search for the tree model (the same names drive GBT and XGBoost)."""

    strategy: Literal["grid", "random"] = "grid"
    # random: how many combinations to draw from the grid
    candidates: int = 4
    seed: int = 7
    # Candidates fitted at once (Spark runs their jobs side by side); xgboost always uses 1.
    parallelism: int = 2
    # > 1: choose by k-fold cross-validation over the training period instead of the
    # validation snapshots.
    cv_folds: int = 0
    max_depth: list[int] = field(default_factory=lambda: [3, 5])
    n_trees: list[int] = field(default_factory=lambda: [40])
    learning_rate: list[float] = field(default_factory=lambda: [0.1])
    subsample: list[float] = field(default_factory=lambda: [1.0])
    # The logistic baseline's L2 strengths, chosen on the same validation data.
    baseline_reg_param: list[float] = field(default_factory=lambda: [0.0, 0.01])


@dataclass(frozen=True)
class PropensityPromotion:
    """When a new model (alias `challenger`) takes over `champion`."""

    metric: Literal["roc_auc", "pr_auc"] = "roc_auc"
    # The challenger must beat the champion on the same test snapshots by at least this.
    min_improvement: float = 0.005
    min_roc_auc: float = 0.65
    max_brier: float = 0.25


@dataclass(frozen=True)
class PropensityConfig:
    labels: dict[str, PropensityLabel] = field(
        default_factory=lambda: {"purchase_30d": PropensityLabel(kind="purchase", horizon_days=30)}
    )
    # Labels the train job fits (one registered model each) and the score job scores.
    train_labels: list[str] = field(default_factory=lambda: ["purchase_30d"])
    # Numeric columns of gold.customer_features; other columns are ignored.
    features: list[str] = field(default_factory=list)
    # Log1p before scaling, for the logistic baseline only (trees do not care).
    log_features: list[str] = field(default_factory=list)
    fill_values: dict[str, float] = field(default_factory=dict)
    backend: Literal["gbt", "xgboost"] = "xgboost"
    xgboost_workers: int = 2
    # Training snapshots: `snapshots` as_of dates `snapshot_interval_days` apart, the newest
    # being `last_as_of` or else the newest whose label window is fully observed.
    snapshots: int = 6
    snapshot_interval_days: int = 30
    last_as_of: str | None = None
    # The newest snapshots are the test period, the ones before them validation.
    test_snapshots: int = 1
    validation_snapshots: int = 1
    # Build gold.customer_features for training snapshots that do not exist yet.
    build_missing_features: bool = True
    class_weight: Literal["balanced", "none"] = "balanced"
    # A feature that alone separates the label this well is taken for leakage.
    max_single_feature_auc: float = 0.95
    min_positives: int = 20
    search: PropensitySearch = field(default_factory=PropensitySearch)
    promotion: PropensityPromotion = field(default_factory=PropensityPromotion)


@dataclass(frozen=True)
class SeglakeConfig:
    env: str
    paths: PathsConfig
    mlflow: MlflowConfig
    sources: SourcesConfig
    spark: SparkConfig = field(default_factory=SparkConfig)
    catalog: CatalogConfig = field(default_factory=CatalogConfig)
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    ingest: IngestConfig = field(default_factory=IngestConfig)
    quality: QualityConfig = field(default_factory=QualityConfig)
    features: FeaturesConfig = field(default_factory=FeaturesConfig)
    segmentation: SegmentationConfig = field(default_factory=SegmentationConfig)
    propensity: PropensityConfig = field(default_factory=PropensityConfig)
