"""Point-in-time customer features from hand-built silver rows."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from chispa import assert_df_equality
from pyspark.sql import functions as F

from seglake.catalog import GOLD_CUSTOMER_FEATURES, Catalog
from seglake.features.customer import customer_features

AS_OF = date(2025, 4, 1)

ORDERS = "order_id string, customer_id string, order_ts string, amount int"
SESSIONS = (
    "session_id string, customer_id string, session_start string, local_start string, events long, "
    "duration_seconds long, max_scroll_depth double, video_starts long, product_views long, cart_adds long, "
    "order_placed boolean, device_type string, utm_campaign string, is_bot boolean"
)
PROFILES = (
    "customer_id string, birth_date date, gender string, income_band string, household_size int, country string, "
    "consent_profiling boolean, consent_marketing boolean, updated_at timestamp"
)


def frames(spark):
    orders = (
        spark.createDataFrame(
            [
                ("o1", "C1", "2025-03-31 23:59:59", 100),  # one second before as_of: counts
                ("o2", "C1", "2025-04-01 00:00:01", 500),  # one second after: does not
                ("o3", "C1", "2025-01-01 12:00:00", 50),  # inside 365d, outside 30d
                ("o4", "C3", "2025-03-20 10:00:00", 20),
            ],
            ORDERS,
        )
        .withColumn("order_ts", F.to_timestamp("order_ts"))
        .withColumn("amount", F.col("amount").cast("decimal(18,2)"))
    )
    sessions = (
        spark.createDataFrame(
            [
                (
                    "s1",
                    "C1",
                    "2025-03-30 19:00:00",
                    "2025-03-30 21:00:00",
                    4,
                    600,
                    75.0,
                    1,
                    2,
                    1,
                    True,
                    "mobile",
                    None,
                    False,
                ),
                (
                    "s2",
                    "C1",
                    "2025-03-29 08:00:00",
                    "2025-03-29 10:00:00",
                    2,
                    60,
                    25.0,
                    0,
                    1,
                    1,
                    False,
                    "desktop",
                    "sale",
                    False,
                ),
                (
                    "s3",
                    "C2",
                    "2025-03-15 12:00:00",
                    "2025-03-15 12:00:00",
                    1,
                    0,
                    None,
                    0,
                    0,
                    0,
                    False,
                    "mobile",
                    None,
                    False,
                ),
                (
                    "s4",
                    "C2",
                    "2025-03-15 12:00:00",
                    "2025-03-15 12:00:00",
                    99,
                    5,
                    None,
                    0,
                    0,
                    0,
                    False,
                    "desktop",
                    None,
                    True,
                ),
                (
                    "s5",
                    "C1",
                    "2025-04-02 09:00:00",
                    "2025-04-02 09:00:00",
                    9,
                    10,
                    None,
                    0,
                    0,
                    0,
                    False,
                    "desktop",
                    None,
                    False,
                ),
            ],
            SESSIONS,
        )
        .withColumn("session_start", F.to_timestamp("session_start"))
        .withColumn("local_start", F.to_timestamp("local_start"))
    )
    profiles = spark.createDataFrame(
        [
            ("C1", date(1990, 6, 15), "F", "30-50k", 2, "FR", True, True, None),
            ("C2", date(1980, 1, 1), "M", "50-80k", 4, "DE", False, True, None),
        ],
        PROFILES,
    ).withColumn("updated_at", F.to_timestamp(F.lit("2025-01-01 00:00:00")))
    return orders, sessions, profiles


def test_rfm_is_point_in_time(spark) -> None:
    orders, sessions, profiles = frames(spark)
    got = customer_features(orders, sessions, profiles, AS_OF, [30, 365]).select(
        "customer_id",
        "orders_30d",
        "monetary_30d",
        "orders_365d",
        "monetary_365d",
        "avg_order_value_365d",
        "recency_days",
    )
    expected = spark.createDataFrame(
        [
            ("C1", 1, 100.0, 2, 150.0, 75.0, 1),
            # no orders: zero orders (a fact), but recency and basket size unknown (null, not 0)
            ("C2", 0, 0.0, 0, 0.0, None, None),
            ("C3", 1, 20.0, 1, 20.0, 20.0, 12),
        ],
        "customer_id string, orders_30d long, monetary_30d double, orders_365d long, monetary_365d double, "
        "avg_order_value_365d double, recency_days int",
    )
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


def test_behaviour_ignores_bots_and_the_future(spark) -> None:
    orders, sessions, profiles = frames(spark)
    got = customer_features(orders, sessions, profiles, AS_OF, [30]).select(
        "customer_id",
        "sessions_30d",
        "events_per_session_30d",
        "mobile_share_30d",
        "evening_share_30d",
        "campaign_session_share_30d",
        "cart_abandonment_rate_30d",
        "days_since_last_visit",
    )
    expected = spark.createDataFrame(
        [
            ("C1", 2, 3.0, 0.5, 0.5, 0.5, 0.5, 2),
            ("C2", 1, 1.0, 1.0, 0.0, 0.0, None, 17),  # the bot session s4 is not C2's behaviour
            ("C3", 0, None, None, None, None, None, None),
        ],
        "customer_id string, sessions_30d long, events_per_session_30d double, mobile_share_30d double, "
        "evening_share_30d double, campaign_session_share_30d double, cart_abandonment_rate_30d double, "
        "days_since_last_visit int",
    )
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


def test_demographics_only_with_consent(spark) -> None:
    orders, sessions, profiles = frames(spark)
    got = customer_features(orders, sessions, profiles, AS_OF, [30]).select(
        "customer_id", "age_band", "gender", "income_band", "country"
    )
    expected = spark.createDataFrame(
        [("C1", "25-34", "F", "30-50k", "FR"), ("C2", None, None, None, "DE"), ("C3", None, None, None, None)],
        "customer_id string, age_band string, gender string, income_band string, country string",
    )
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


def test_rewriting_a_snapshot_replaces_only_that_snapshot(spark, tmp_path: Path) -> None:
    orders, sessions, profiles = frames(spark)
    catalog = Catalog(str(tmp_path / "lake"))
    for as_of in (date(2025, 3, 1), AS_OF, date(2025, 3, 1)):
        features = customer_features(orders, sessions, profiles, as_of, [30])
        catalog.replace_where(features, GOLD_CUSTOMER_FEATURES, f"as_of = '{as_of.isoformat()}'")
    table = catalog.read(spark, GOLD_CUSTOMER_FEATURES)
    counts = table.groupBy("as_of").count()  # C3 is unknown until its first order on 03-20
    assert_df_equality(
        counts,
        spark.createDataFrame([(date(2025, 3, 1), 2), (AS_OF, 3)], "as_of date, count long"),
        ignore_row_order=True,
        ignore_nullable=True,
    )
    recomputed = customer_features(orders, sessions, profiles, date(2025, 3, 1), [30])
    assert_df_equality(
        table.where(F.col("as_of") == date(2025, 3, 1)).select(*recomputed.columns),
        recomputed,
        ignore_row_order=True,
        ignore_nullable=True,
    )
