"""RFM family: recency, frequency, monetary, inter-purchase time, trends, quintile scores
and the standard named RFM groups, from orders placed before as_of."""

from __future__ import annotations

from datetime import date

from pyspark.sql import Column
from pyspark.sql import functions as F

from seglake.config.schema import FeaturesConfig
from seglake.features.common import Aggregation, between_days_ago, count_if, ratio, since, sum_if, trend

QUINTILES = [0.2, 0.4, 0.6, 0.8]
# What the frequency and monetary scores rank: orders and spend over the profile window.
RFM_ORDERS = "rfm_frequency"
RFM_MONETARY = "rfm_monetary"

# (recency score, frequency score) -> group; the widely used 10-group RFM grid.
RFM_GROUPS: tuple[tuple[str, tuple[int, ...], tuple[int, ...]], ...] = (
    ("Champions", (5,), (4, 5)),
    ("Loyal Customers", (3, 4), (4, 5)),
    ("Potential Loyalists", (4, 5), (2, 3)),
    ("New Customers", (5,), (1,)),
    ("Promising", (4,), (1,)),
    ("Need Attention", (3,), (3,)),
    ("About to Sleep", (3,), (1, 2)),
    ("Can't Lose Them", (1, 2), (5,)),
    ("At Risk", (1, 2), (3, 4)),
    ("Hibernating", (1, 2), (1, 2)),
)
NO_ORDER_GROUP = "Prospects"


def order_aggregation(as_of: date, cfg: FeaturesConfig) -> Aggregation:
    ts, amount = F.col("order_ts"), F.col("amount").cast("double")
    aggs: list[Column] = [
        F.max(ts).alias("_last_order_ts"),
        F.min(ts).alias("_first_order_ts"),
        F.count(F.lit(1)).alias("orders_lifetime"),
        F.sum(amount).alias("monetary_lifetime"),
    ]
    counts = ["orders_lifetime", "monetary_lifetime"]
    for w in sorted(set(cfg.windows_days)):
        inside = since(ts, as_of, w)
        aggs += [count_if(inside).alias(f"orders_{w}d"), sum_if(inside, amount).alias(f"monetary_{w}d")]
        counts += [f"orders_{w}d", f"monetary_{w}d"]
    recent = since(ts, as_of, cfg.trend_recent_days)
    previous = between_days_ago(ts, as_of, cfg.trend_recent_days, cfg.trend_recent_days + cfg.trend_previous_days)
    profile = since(ts, as_of, cfg.profile_window_days)
    aggs += [
        count_if(recent).alias("_orders_recent"),
        count_if(previous).alias("_orders_previous"),
        sum_if(recent, amount).alias("_monetary_recent"),
        sum_if(previous, amount).alias("_monetary_previous"),
        count_if(profile).alias(RFM_ORDERS),
        sum_if(profile, amount).alias(RFM_MONETARY),
    ]
    counts += [RFM_ORDERS, RFM_MONETARY]
    cutoff = F.lit(as_of)
    span_days = (F.unix_seconds("_last_order_ts") - F.unix_seconds("_first_order_ts")) / 86400.0
    derived = [
        *[
            ratio(F.col(f"monetary_{w}d"), F.col(f"orders_{w}d")).alias(f"avg_order_value_{w}d")
            for w in cfg.windows_days
        ],
        F.datediff(cutoff, F.to_date("_last_order_ts")).alias("recency_days"),
        F.datediff(cutoff, F.to_date("_first_order_ts")).alias("tenure_days"),
        F.when(F.col("orders_lifetime") > 1, span_days / (F.col("orders_lifetime") - 1)).alias(
            "avg_days_between_orders"
        ),
        trend(F.col("_orders_recent"), F.col("_orders_previous"), cfg).alias("orders_trend"),
        trend(F.col("_monetary_recent"), F.col("_monetary_previous"), cfg).alias("monetary_trend"),
    ]
    return Aggregation(aggs, derived, counts)


def score_statistics() -> dict[str, Column]:
    """Population quintile edges (customers who ever ordered) for the RFM scores."""
    buyer = F.col("recency_days").isNotNull()
    return {
        "rfm_recency": F.percentile_approx(F.when(buyer, F.col("recency_days")), QUINTILES),
        "rfm_frequency": F.percentile_approx(F.when(buyer, F.col(RFM_ORDERS)), QUINTILES),
        "rfm_monetary": F.percentile_approx(F.when(buyer, F.col(RFM_MONETARY)), QUINTILES),
    }


def _above(value: Column, edges: list[float] | None) -> Column:
    """How many quintile edges lie strictly below the value (0..4)."""
    edge_array = F.array(*[F.lit(float(e)) for e in (edges or [])]).cast("array<double>")
    return F.size(F.filter(edge_array, lambda e: e < value.cast("double")))


def with_rfm_scores(df, stats: dict[str, list[float] | None]):
    """Quintile scores 1-5 (5 = best), the RFM cell and the named group; customers who
    never ordered have no scores and the group "Prospects"."""
    buyer = F.col("recency_days").isNotNull()
    r = F.when(buyer, 5 - _above(F.col("recency_days"), stats["rfm_recency"]))
    f = F.when(buyer, 1 + _above(F.col(RFM_ORDERS), stats["rfm_frequency"]))
    m = F.when(buyer, 1 + _above(F.col(RFM_MONETARY), stats["rfm_monetary"]))
    scored = df.withColumns({"rfm_recency_score": r, "rfm_frequency_score": f, "rfm_monetary_score": m})
    group = F.lit(None).cast("string")
    for name, rs, fs in reversed(RFM_GROUPS):
        group = F.when(
            F.col("rfm_recency_score").isin(*rs) & F.col("rfm_frequency_score").isin(*fs), F.lit(name)
        ).otherwise(group)
    return scored.withColumns(
        {
            "rfm_cell": F.concat(
                F.col("rfm_recency_score").cast("string"),
                F.col("rfm_frequency_score").cast("string"),
                F.col("rfm_monetary_score").cast("string"),
            ),
            "rfm_group": F.when(buyer, group).otherwise(F.lit(NO_ORDER_GROUP)),
        }
    )
