"""Point-in-time customer features: everything is computed from records strictly before
`as_of` (midnight UTC), so any past snapshot can be rebuilt exactly and training sets
never see the future. One aggregation per source, joined on customer.
"""

from __future__ import annotations

from datetime import date

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

EVENING_HOURS = (18, 23)


def _in_window(ts: Column, as_of: Column, days: int) -> Column:
    return ts >= F.date_sub(as_of, days).cast("timestamp")


def _ratio(num: Column, den: Column) -> Column:
    # Undefined (null), not zero, when there is nothing to divide: imputation decides later.
    return F.when(den > 0, num / den)


def order_features(orders: DataFrame, as_of: date, windows: list[int]) -> DataFrame:
    """RFM per customer from orders placed before as_of."""
    cutoff = F.lit(as_of)
    known = orders.where(F.col("order_ts") < cutoff.cast("timestamp"))
    aggs = [
        F.max("order_ts").alias("last_order_ts"),
        F.min("order_ts").alias("first_order_ts"),
        F.count(F.lit(1)).alias("orders_lifetime"),
        F.sum("amount").cast("double").alias("monetary_lifetime"),
    ]
    for w in windows:
        inside = _in_window(F.col("order_ts"), cutoff, w)
        aggs += [
            F.count(F.when(inside, 1)).alias(f"orders_{w}d"),
            F.coalesce(F.sum(F.when(inside, F.col("amount"))), F.lit(0)).cast("double").alias(f"monetary_{w}d"),
        ]
    out = known.groupBy("customer_id").agg(*aggs)
    derived = [_ratio(F.col(f"monetary_{w}d"), F.col(f"orders_{w}d")).alias(f"avg_order_value_{w}d") for w in windows]
    return out.select(
        "*",
        *derived,
        F.datediff(cutoff, F.to_date("last_order_ts")).alias("recency_days"),
        F.datediff(cutoff, F.to_date("first_order_ts")).alias("tenure_days"),
    ).drop("last_order_ts", "first_order_ts")


def session_features(sessions: DataFrame, as_of: date, windows: list[int]) -> DataFrame:
    """Behavioural and contextual features from human (non-bot) sessions before as_of."""
    cutoff = F.lit(as_of)
    known = sessions.where(
        (F.col("session_start") < cutoff.cast("timestamp")) & F.col("customer_id").isNotNull() & ~F.col("is_bot")
    )
    hour = F.hour("local_start")
    dow = F.dayofweek("local_start")  # 1 = Sunday, 7 = Saturday
    flags = {
        "mobile": F.col("device_type") == "mobile",
        "evening": hour.between(*EVENING_HOURS),
        "weekend": dow.isin(1, 7),
        "campaign": F.col("utm_campaign").isNotNull(),
        "cart": F.col("cart_adds") > 0,
        "abandoned": (F.col("cart_adds") > 0) & ~F.col("order_placed"),
    }
    aggs = [F.max("session_start").alias("last_visit_ts")]
    for w in windows:
        inside = _in_window(F.col("session_start"), cutoff, w)

        def within(c: Column) -> Column:
            return F.when(inside, c)  # noqa: B023 - used immediately, inside this iteration

        aggs += [
            F.count(within(F.lit(1))).alias(f"sessions_{w}d"),
            F.coalesce(F.sum(within(F.col("events"))), F.lit(0)).alias(f"events_{w}d"),
            F.avg(within(F.col("duration_seconds") / 60.0)).alias(f"avg_session_minutes_{w}d"),
            F.avg(within(F.col("max_scroll_depth"))).alias(f"max_scroll_depth_avg_{w}d"),
            F.coalesce(F.sum(within(F.col("video_starts"))), F.lit(0)).alias(f"video_plays_{w}d"),
            F.coalesce(F.sum(within(F.col("product_views"))), F.lit(0)).alias(f"product_views_{w}d"),
            F.coalesce(F.sum(within(F.col("cart_adds"))), F.lit(0)).alias(f"cart_adds_{w}d"),
        ]
        aggs += [F.count(within(F.when(cond, 1))).alias(f"_{name}_{w}d") for name, cond in flags.items()]
    grouped = known.groupBy("customer_id").agg(*aggs)
    derived = []
    for w in windows:
        n = F.col(f"sessions_{w}d")
        derived += [
            _ratio(F.col(f"events_{w}d"), n).alias(f"events_per_session_{w}d"),
            _ratio(F.col(f"_mobile_{w}d"), n).alias(f"mobile_share_{w}d"),
            _ratio(F.col(f"_evening_{w}d"), n).alias(f"evening_share_{w}d"),
            _ratio(F.col(f"_weekend_{w}d"), n).alias(f"weekend_share_{w}d"),
            _ratio(F.col(f"_campaign_{w}d"), n).alias(f"campaign_session_share_{w}d"),
            _ratio(F.col(f"_abandoned_{w}d"), F.col(f"_cart_{w}d")).alias(f"cart_abandonment_rate_{w}d"),
        ]
    helper_cols = [c for c in grouped.columns if c.startswith("_")]
    return grouped.select(
        "*", *derived, F.datediff(cutoff, F.to_date("last_visit_ts")).alias("days_since_last_visit")
    ).drop("last_visit_ts", *helper_cols)


def profile_features(profiles: DataFrame, as_of: date) -> DataFrame:
    """Demographics, only for customers whose consent allows profiling."""
    cutoff = F.lit(as_of)
    consented = F.coalesce(F.col("consent_profiling"), F.lit(False))
    age = F.floor(F.months_between(cutoff, F.col("birth_date")) / 12)
    age_band = (
        F.when(age < 18, "under_18")
        .when(age < 25, "18-24")
        .when(age < 35, "25-34")
        .when(age < 45, "35-44")
        .when(age < 55, "45-54")
        .when(age < 65, "55-64")
        .when(age >= 65, "65+")
    )
    return profiles.select(
        "customer_id",
        F.col("country"),
        consented.alias("consent_profiling"),
        F.coalesce(F.col("consent_marketing"), F.lit(False)).alias("consent_marketing"),
        F.when(consented, age_band).alias("age_band"),
        F.when(consented, F.col("gender")).alias("gender"),
        F.when(consented, F.col("income_band")).alias("income_band"),
        F.when(consented, F.col("household_size")).alias("household_size"),
    )


def customer_features(
    orders: DataFrame, sessions: DataFrame, profiles: DataFrame, as_of: date, windows: list[int]
) -> DataFrame:
    """One row per customer known before as_of (profile, order or session)."""
    o = order_features(orders, as_of, windows)
    s = session_features(sessions, as_of, windows)
    p = profile_features(profiles.where(F.col("updated_at") < F.lit(as_of).cast("timestamp")), as_of)
    customers = (
        o.select("customer_id").unionByName(s.select("customer_id")).unionByName(p.select("customer_id")).distinct()
    )
    count_prefixes = ("orders_", "monetary_", "sessions_", "events_", "video_plays_", "product_views_", "cart_adds_")
    count_cols = [c for c in o.columns + s.columns if c.startswith(count_prefixes) and "per_session" not in c]
    joined = (
        customers.join(o, on="customer_id", how="left")
        .join(s, on="customer_id", how="left")
        .join(p, on="customer_id", how="left")
    )
    # A customer with no orders has zero orders (a fact), but no recency (unknown).
    return joined.fillna(0, subset=count_cols).withColumn("as_of", F.lit(as_of))
