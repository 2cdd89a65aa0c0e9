"""Behavioural family: sessions, depth, scroll, video, funnel and cart behaviour per
window, recency of visits, trends, and category affinity."""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

from seglake.config.schema import FeaturesConfig
from seglake.features.common import (
    Aggregation,
    argmax_label,
    count_if,
    label_index,
    ratio,
    slug,
    sum_if,
    trend,
)
from seglake.features.tiles import TiledAggregation


def session_aggregation(tiled: TiledAggregation, cfg: FeaturesConfig) -> Aggregation:
    """From human sessions that ended before as_of, tiled by their start."""
    start = F.col("session_start")
    viewed, carted, ordered = F.col("product_views") > 0, F.col("cart_adds") > 0, F.col("order_placed")
    aggs: list[Column] = [tiled.max("start", start).alias("_last_visit_ts")]
    derived: list[Column] = []
    counts: list[str] = []
    for w in sorted(set(cfg.windows_days)):
        inside = tiled.within(w)
        n = f"sessions_{w}d"
        aggs += [
            tiled.count("sessions", span=inside).alias(n),
            tiled.sum("events", F.col("events"), inside).alias(f"events_{w}d"),
            tiled.sum("pages", F.col("page_views"), inside).alias(f"_pages_{w}d"),
            tiled.avg("minutes", F.col("duration_seconds") / 60.0, inside).alias(f"avg_session_minutes_{w}d"),
            tiled.count("bounces", F.col("events") == 1, inside).alias(f"_bounces_{w}d"),
            tiled.max("scroll", F.col("max_scroll_depth"), inside).alias(f"max_scroll_depth_{w}d"),
            tiled.avg("scroll", F.col("max_scroll_depth"), inside).alias(f"max_scroll_depth_avg_{w}d"),
            tiled.sum("video_starts", F.col("video_starts"), inside).alias(f"video_plays_{w}d"),
            tiled.sum("video_completions", F.col("video_completions"), inside).alias(f"video_completions_{w}d"),
            tiled.sum("product_views", F.col("product_views"), inside).alias(f"product_views_{w}d"),
            tiled.sum("cart_adds", F.col("cart_adds"), inside).alias(f"cart_adds_{w}d"),
            tiled.count("viewing", viewed, inside).alias(f"_viewing_{w}d"),
            tiled.count("carting", carted, inside).alias(f"_carting_{w}d"),
            tiled.count("cart_ordering", carted & ordered, inside).alias(f"_cart_ordering_{w}d"),
            tiled.count("view_carting", viewed & carted, inside).alias(f"_view_carting_{w}d"),
            tiled.count("view_ordering", viewed & ordered, inside).alias(f"_view_ordering_{w}d"),
        ]
        counts += [n, f"events_{w}d", f"video_plays_{w}d", f"video_completions_{w}d"]
        counts += [f"product_views_{w}d", f"cart_adds_{w}d"]
        sessions = F.col(n)
        carting = F.col(f"_carting_{w}d")
        derived += [
            ratio(F.col(f"events_{w}d"), sessions).alias(f"events_per_session_{w}d"),
            ratio(F.col(f"_pages_{w}d"), sessions).alias(f"pages_per_session_{w}d"),
            ratio(F.col(f"_bounces_{w}d"), sessions).alias(f"bounce_rate_{w}d"),
            ratio(carting - F.col(f"_cart_ordering_{w}d"), carting).alias(f"cart_abandonment_rate_{w}d"),
            ratio(F.col(f"_view_carting_{w}d"), F.col(f"_viewing_{w}d")).alias(f"view_to_cart_rate_{w}d"),
            ratio(F.col(f"_cart_ordering_{w}d"), carting).alias(f"cart_to_purchase_rate_{w}d"),
            ratio(F.col(f"_view_ordering_{w}d"), F.col(f"_viewing_{w}d")).alias(f"view_to_purchase_rate_{w}d"),
        ]
    recent = tiled.within(cfg.trend_recent_days)
    previous = tiled.between(cfg.trend_recent_days, cfg.trend_recent_days + cfg.trend_previous_days)
    aggs += [
        tiled.count("sessions", span=recent).alias("_sessions_recent"),
        tiled.count("sessions", span=previous).alias("_sessions_previous"),
        tiled.sum("events", F.col("events"), recent).alias("_events_recent"),
        tiled.sum("events", F.col("events"), previous).alias("_events_previous"),
    ]
    derived += [
        F.datediff(F.lit(tiled.as_of), F.to_date("_last_visit_ts")).alias("days_since_last_visit"),
        trend(F.col("_sessions_recent"), F.col("_sessions_previous"), cfg).alias("sessions_trend"),
        trend(F.col("_events_recent"), F.col("_events_previous"), cfg).alias("events_trend"),
    ]
    return Aggregation(aggs, derived, counts)


def event_aggregation(cfg: FeaturesConfig) -> Aggregation:
    """Category affinity from product views and cart adds in the profile window. The
    aggregates are counted per customer and day and summed over the window's days: they
    must stay counts and sums."""
    kind = F.col("event_type")
    category = F.coalesce(label_index(F.col("category"), cfg.categories), F.lit(0))
    prepared = [
        F.when(kind == "product_view", category).alias("_viewed_category"),
        F.when(kind == "cart_add", category).alias("_carted_category"),
        F.when(kind == "cart_add", F.col("price") * F.coalesce(F.col("quantity"), F.lit(1))).alias("_cart_value"),
    ]
    viewed, carted, value = F.col("_viewed_category"), F.col("_carted_category"), F.col("_cart_value")
    aggs: list[Column] = [F.count(viewed).alias("_views_all"), F.sum(value).alias("_cart_value_all")]
    derived: list[Column] = []
    for i, name in enumerate(cfg.categories, start=1):
        c = slug(name)
        aggs += [count_if(viewed == i).alias(f"_views_{c}"), sum_if(carted == i, value).alias(f"_cart_value_{c}")]
        derived += [
            ratio(F.col(f"_views_{c}"), F.col("_views_all")).alias(f"category_view_share_{c}"),
            ratio(F.coalesce(F.col(f"_cart_value_{c}"), F.lit(0.0)), F.col("_cart_value_all")).alias(
                f"category_cart_share_{c}"
            ),
        ]
    derived.append(
        argmax_label([(name, F.col(f"_views_{slug(name)}")) for name in cfg.categories]).alias("top_category")
    )
    return Aggregation(aggs, derived, prepared=prepared)
