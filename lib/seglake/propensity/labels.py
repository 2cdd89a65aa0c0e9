"""Point-in-time labels: what happened to each customer of a snapshot after its as_of.

A feature snapshot sees records with timestamp < as_of (midnight UTC); its label window is
[as_of, as_of + horizon): the records the features could not see, and nothing before.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from seglake.config.schema import PropensityLabel
from seglake.errors import ConfigError

LABEL_COL = "label"


def window_start(as_of: Column) -> Column:
    return as_of.cast("timestamp")


def window_end(as_of: Column, horizon_days: int) -> Column:
    return F.date_add(as_of, horizon_days).cast("timestamp")


def in_window(ts: Column, as_of: Column, horizon_days: int) -> Column:
    return (ts >= window_start(as_of)) & (ts < window_end(as_of, horizon_days))


def _customers_with(population: DataFrame, facts: DataFrame, ts_col: str, horizon_days: int) -> DataFrame:
    """(customer_id, as_of) of the population with at least one fact in its label window."""
    p = population.select("customer_id", "as_of").alias("p")
    f = facts.select("customer_id", F.col(ts_col).alias("_ts")).alias("f")
    hit = p.join(
        f,
        (F.col("p.customer_id") == F.col("f.customer_id")) & in_window(F.col("f._ts"), F.col("p.as_of"), horizon_days),
        how="inner",
    )
    return hit.select(F.col("p.customer_id").alias("customer_id"), F.col("p.as_of").alias("as_of")).distinct()


def _attach(population: DataFrame, hits: DataFrame, positive_when_hit: bool) -> DataFrame:
    flagged = hits.withColumn("_hit", F.lit(True))
    hit = F.coalesce(F.col("_hit"), F.lit(False))
    label = (hit if positive_when_hit else ~hit).cast("int")
    return (
        population.select("customer_id", "as_of")
        .join(flagged, on=["customer_id", "as_of"], how="left")
        .select("customer_id", "as_of", label.alias(LABEL_COL))
    )


def compute_labels(
    population: DataFrame,
    definition: PropensityLabel,
    orders: DataFrame,
    sessions: DataFrame,
    events: DataFrame,
) -> DataFrame:
    """customer_id, as_of, label (0/1) for every (customer_id, as_of) of `population`.

    purchase: an order in the window. churn: neither an order nor a human session in the
    window. category_purchase: a session in the window that added `category` to the cart
    and placed an order.
    """
    h = definition.horizon_days
    if h < 1:
        raise ConfigError(f"propensity label horizon_days must be >= 1, got {h}")
    if definition.kind == "purchase":
        return _attach(population, _customers_with(population, orders, "order_ts", h), positive_when_hit=True)
    human_sessions = sessions.where(F.col("customer_id").isNotNull() & ~F.coalesce(F.col("is_bot"), F.lit(False)))
    if definition.kind == "churn":
        activity = orders.select("customer_id", F.col("order_ts").alias("ts")).unionByName(
            human_sessions.select("customer_id", F.col("session_start").alias("ts"))
        )
        return _attach(population, _customers_with(population, activity, "ts", h), positive_when_hit=False)
    if definition.kind == "category_purchase":
        if not definition.category:
            raise ConfigError("propensity label of kind category_purchase needs a category")
        carted = (
            events.where((F.col("event") == "Product Added") & (F.lower("category") == definition.category.lower()))
            .select("session_id")
            .distinct()
        )
        buying = human_sessions.where(F.col("order_placed")).join(carted, on="session_id", how="left_semi")
        return _attach(population, _customers_with(population, buying, "session_start", h), positive_when_hit=True)
    raise ConfigError(f"unknown propensity label kind {definition.kind!r}")
