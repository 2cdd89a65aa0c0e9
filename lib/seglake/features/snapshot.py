"""One point-in-time customer feature snapshot: every family, from records strictly
before `as_of` (00:00 UTC), so any past snapshot can be rebuilt exactly and training sets
never see the future.

Each source is read once and aggregated per customer (all families' aggregates in the
same groupBy; sessions, asked for over every window, per tile of days first: see
`tiles`); the four per-customer results are joined on customer_id. Events come
pre-aggregated per customer and UTC day (`event_days`, kept as gold.customer_daily_events
by the feature job): their aggregates are counts and sums, and as_of is a date, so
summing the days of the window gives exactly what aggregating the events would.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from functools import reduce

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from seglake.config.schema import FeaturesConfig
from seglake.features import behaviour, context, rfm
from seglake.features.common import Aggregation, midnight
from seglake.features.demographics import profile_features, profiles_as_of
from seglake.features.engagement import engagement_score
from seglake.features.imputation import treatment_statistics, with_treatments
from seglake.features.spec import (
    AS_OF_DOC,
    KEY_COLUMNS,
    FeatureDoc,
    check_declared,
    check_engagement,
    check_treatments,
    treatment_docs,
)
from seglake.features.tiles import TiledAggregation

# The statistics entry holding the snapshot's row count.
CUSTOMERS = "customers"
EVENT_COLUMNS = ("customer_id", "ts", "is_bot", "event_type", "category", "price", "quantity", "os_name")
# The silver columns the features read (silver tables carry more).
INPUT_SCHEMAS = {
    "events": "customer_id string, ts timestamp, is_bot boolean, event_type string, category string, "
    "price double, quantity int, os_name string",
    "sessions": "customer_id string, session_start timestamp, session_end timestamp, local_start timestamp, "
    "events long, page_views long, product_views long, max_scroll_depth double, video_starts long, "
    "video_completions long, cart_adds long, order_placed boolean, referrer string, utm_source string, "
    "utm_medium string, utm_campaign string, device_type string, is_bot boolean, duration_seconds long",
    "orders": "customer_id string, order_ts timestamp, amount decimal(18,2)",
    "profiles": "customer_id string, birth_date date, gender string, city string, postal_code string, "
    "country string, income_band string, household_size int, consent_marketing boolean, "
    "consent_profiling boolean, updated_at timestamp",
}


# The key columns of event_days; every other column is a per-day count or sum.
DAY_COLUMNS = ("customer_id", "day", "month")


@dataclass(frozen=True)
class FeatureInputs:
    """Silver tables as read (the snapshot applies the as_of cut itself). `event_days`
    is the events per customer and day (gold.customer_daily_events); when None it is
    computed from `events`."""

    events: DataFrame
    sessions: DataFrame
    orders: DataFrame
    profiles: DataFrame
    regions: DataFrame
    event_days: DataFrame | None = None


def _human(df: DataFrame) -> Column:
    return F.col("customer_id").isNotNull() & ~F.coalesce(F.col("is_bot"), F.lit(False))


def _prepare(rows: DataFrame, parts: list[Aggregation]) -> DataFrame:
    prepared = [c for p in parts for c in p.prepared]
    return rows.select("*", *prepared) if prepared else rows


def _derive(grouped: DataFrame, parts: list[Aggregation]) -> DataFrame:
    out = grouped.select("*", *[d for p in parts for d in p.derived])
    return out.drop(*[c for c in out.columns if c.startswith("_")])


def _aggregate(rows: DataFrame, parts: list[Aggregation]) -> DataFrame:
    grouped = _prepare(rows, parts).groupBy("customer_id").agg(*[a for p in parts for a in p.aggs])
    return _derive(grouped, parts)


def event_parts(cfg: FeaturesConfig) -> list[Aggregation]:
    """The families' event aggregates: counts and sums only, so that they add up over days."""
    return [behaviour.event_aggregation(cfg), context.event_aggregation(cfg)]


def event_days(events: DataFrame, cfg: FeaturesConfig) -> DataFrame:
    """Per customer and UTC day (`day`, and its `month` for partitioning), the event
    families' aggregates over human events with a customer id."""
    parts = event_parts(cfg)
    rows = _prepare(events.select(*EVENT_COLUMNS).where(_human(events)), parts)
    per_day = rows.groupBy("customer_id", F.to_date("ts").alias("day")).agg(*[a for p in parts for a in p.aggs])
    return per_day.select("customer_id", "day", F.trunc("day", "month").alias("month"), *per_day.columns[2:])


def _event_features(days: DataFrame, as_of: date, cfg: FeaturesConfig, parts: list[Aggregation]) -> DataFrame:
    """The event families' features from the days of the profile window before as_of."""
    first = as_of - timedelta(days=cfg.profile_window_days)
    in_window = days.where(
        # month first: it is the partition column of the stored days
        (F.col("month") >= F.lit(first.replace(day=1)))
        & (F.col("month") <= F.lit(as_of.replace(day=1)))
        & (F.col("day") >= F.lit(first))
        & (F.col("day") < F.lit(as_of))
    )
    measures = [c for c in days.columns if c not in DAY_COLUMNS]
    grouped = in_window.groupBy("customer_id").agg(*[F.sum(c).alias(c) for c in measures])
    return _derive(grouped, parts)


def session_tiles(as_of: date, cfg: FeaturesConfig) -> TiledAggregation:
    """Sessions are many per customer and asked for over every window: their features
    are aggregated per tile, cut at each window the families use."""
    trend_edges = (cfg.trend_recent_days, cfg.trend_recent_days + cfg.trend_previous_days)
    return TiledAggregation(as_of, (*cfg.windows_days, cfg.profile_window_days, *trend_edges))


def base_features(inputs: FeatureInputs, as_of: date, cfg: FeaturesConfig) -> DataFrame:
    """Every feature the families can compute (before population statistics)."""
    cut = F.lit(midnight(as_of))
    orders = inputs.orders.where(F.col("customer_id").isNotNull() & (F.col("order_ts") < cut))
    # A visit still in progress at as_of is not known in full yet: it counts next time.
    sessions = inputs.sessions.where(_human(inputs.sessions) & (F.col("session_end") < cut))
    days = inputs.event_days if inputs.event_days is not None else event_days(inputs.events, cfg)
    order_parts = [rfm.order_aggregation(as_of, cfg), context.order_aggregation(as_of, cfg)]
    tiled = session_tiles(as_of, cfg)
    session_parts = [behaviour.session_aggregation(tiled, cfg), context.session_aggregation(tiled, cfg)]
    # Built once: each Column built is a round trip to the JVM (the plan's hundreds of
    # expressions take about a second to build).
    event_aggregations = event_parts(cfg)
    # A customer known to any source is in the snapshot: full outer joins on the key
    # (no separate pass to list the customers). Each source's aggregate arrives
    # partitioned by customer, but a full outer join's output is not (its key is a
    # coalesce of both sides'), so every later join shuffles what has been joined so far:
    # the narrow sources come first and the widest (sessions) last, never reshuffled.
    per_source = [
        context.with_geography(
            profile_features(profiles_as_of(inputs.profiles, as_of), as_of, cfg), inputs.regions
        ).drop("city", "postal_code"),
        _aggregate(orders, order_parts),
        _event_features(days, as_of, cfg, event_aggregations),
        _derive(
            tiled.aggregate(sessions, F.col("session_start"), [a for p in session_parts for a in p.aggs]), session_parts
        ),
    ]
    joined = reduce(lambda acc, df: acc.join(df, on="customer_id", how="full"), per_source)
    # Counts are facts: a customer without orders placed 0 orders. Everything else that
    # is missing stays null (unknown) until a treatment says otherwise.
    counts = [c for parts in (order_parts, session_parts, event_aggregations) for p in parts for c in p.counts]
    filled = joined.fillna(0, subset=counts).withColumns(
        {consent: F.coalesce(F.col(consent), F.lit(False)) for consent in ("consent_profiling", "consent_marketing")}
    )
    check_engagement(cfg, _types(filled))
    return filled.withColumn("engagement_score", engagement_score(cfg.engagement))


def _types(df: DataFrame) -> dict[str, T.DataType]:
    return {f.name: f.dataType for f in df.schema.fields}


def statistics(base: DataFrame, cfg: FeaturesConfig) -> dict[str, object]:
    """Population figures (customers, RFM quintile edges, medians, caps): one small
    aggregate row."""
    check_treatments(cfg, _types(rfm.with_rfm_scores(base, {k: None for k in rfm.score_statistics()})))
    wanted = {CUSTOMERS: F.count(F.lit(1)), **rfm.score_statistics(), **treatment_statistics(cfg.treatments)}
    row = base.agg(*[c.alias(name) for name, c in wanted.items()]).first()
    return row.asDict() if row else {}


def finish(base: DataFrame, stats: dict[str, object], as_of: date, cfg: FeaturesConfig) -> DataFrame:
    """Scores and treatments from the population figures; then the declared columns, each
    carrying its description as the column comment."""
    scored = with_treatments(rfm.with_rfm_scores(base, stats), cfg.treatments, stats)  # type: ignore[arg-type]
    docs = column_docs(scored, cfg)
    return scored.withColumn("as_of", F.lit(as_of)).select(
        *[F.col(d.column).alias(d.column, metadata={"comment": d.description}) for d in docs + [AS_OF_DOC]]
    )


def column_docs(scored: DataFrame, cfg: FeaturesConfig) -> list[FeatureDoc]:
    return [*KEY_COLUMNS, *check_declared(cfg, _types(scored)), *treatment_docs(cfg.treatments)]


def customer_features(inputs: FeatureInputs, as_of: date, cfg: FeaturesConfig) -> DataFrame:
    """One row per customer known before as_of (a profile, an order, a session or an event)."""
    base = base_features(inputs, as_of, cfg)
    return finish(base, statistics(base, cfg), as_of, cfg)
