"""Point-in-time customer features from hand-built silver histories, family by family.

One small history (three customers, as_of 2025-04-01) is computed once with the shipped
configuration; each test checks one family value by value.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path

import pytest
from chispa import assert_approx_df_equality, assert_column_equality, assert_df_equality
from pyspark.sql import functions as F

from seglake.catalog import (
    GOLD_CUSTOMER_FEATURES,
    GOLD_FEATURE_DRIFT,
    GOLD_FEATURE_HISTOGRAMS,
    SILVER_EVENTS,
    SILVER_ORDERS,
    SILVER_PROFILES,
    SILVER_SESSIONS,
    Catalog,
)
from seglake.config.schema import EngagementComponent, FeatureTreatment
from seglake.errors import ConfigError
from seglake.features import rfm, spec
from seglake.features.context import region_reference
from seglake.features.drift import (
    MISSING,
    RESOLUTION,
    collect_histograms,
    decile_edges,
    histogram,
    population_stability,
    sample_rate,
)
from seglake.features.engagement import engagement_score
from seglake.features.imputation import treatment_statistics, with_treatments
from seglake.features.snapshot import INPUT_SCHEMAS, FeatureInputs, base_features, customer_features
from seglake.pipeline import JobContext, run_features

from conftest import make_config

AS_OF = date(2025, 4, 1)


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


def history(spark):
    """Three customers. C1 shops and browses, C2 visits once and never orders, C3 orders
    once and never visits; C5's profile arrives exactly at as_of (not known yet)."""
    n = None
    sessions = spark.createDataFrame(
        [
            # customer, start, end, local start, events, pages, product views, scroll, video starts,
            # video completions, cart adds, ordered, referrer, utm source, medium, campaign, device, bot, seconds
            ("C1", ts("2025-03-29 19:00:00"), ts("2025-03-29 19:10:00"), ts("2025-03-29 21:00:00"),
             4, 2, 2, 80.0, 1, 1, 1, True, n, "newsletter", "email", "spring", "mobile", False, 600),
            ("C1", ts("2025-03-25 08:00:00"), ts("2025-03-25 08:01:00"), ts("2025-03-25 10:00:00"),
             1, 1, 0, n, 0, 0, 0, False, "https://www.google.com/", n, n, n, "desktop", False, 60),
            # first visit, from a paid search ad; two carts, no order
            ("C1", ts("2025-01-10 12:00:00"), ts("2025-01-10 12:20:00"), ts("2025-01-10 13:00:00"),
             6, 3, 3, 40.0, 2, 0, 2, False, n, "google", "cpc", "brand", "mobile", False, 1200),
            # still in progress at as_of: not known in full, so not counted
            ("C1", ts("2025-03-31 23:50:00"), ts("2025-04-01 00:20:00"), ts("2025-04-01 01:50:00"),
             9, 9, 9, 99.0, 9, 9, 9, True, n, n, n, n, "tablet", False, 1800),
            ("C1", ts("2025-04-02 09:00:00"), ts("2025-04-02 09:05:00"), ts("2025-04-02 11:00:00"),
             9, 9, 9, 99.0, 9, 9, 9, True, n, n, n, n, "tablet", False, 300),
            ("C2", ts("2025-03-15 12:00:00"), ts("2025-03-15 12:00:00"), ts("2025-03-15 12:00:00"),
             1, 1, 0, n, 0, 0, 0, False, "https://www.bing.com/", n, n, n, "desktop", False, 0),
            # a bot on C2's account is not C2's behaviour
            ("C2", ts("2025-03-16 12:00:00"), ts("2025-03-16 12:01:00"), ts("2025-03-16 12:00:00"),
             99, 99, 0, n, 0, 0, 0, False, n, n, n, n, "mobile", True, 60),
        ],
        INPUT_SCHEMAS["sessions"],
    )  # fmt: skip
    events = spark.createDataFrame(
        [
            ("C1", ts("2025-03-29 19:01:00"), False, "product_view", "electronics", 100.0, n, "iOS"),
            ("C1", ts("2025-03-29 19:02:00"), False, "product_view", "electronics", 100.0, n, "iOS"),
            ("C1", ts("2025-03-29 19:03:00"), False, "product_view", "books", 10.0, n, "iOS"),
            ("C1", ts("2025-03-29 19:04:00"), False, "product_view", "garden", 30.0, n, "iOS"),
            ("C1", ts("2025-03-29 19:05:00"), False, "cart_add", "electronics", 100.0, 2, "iOS"),
            ("C1", ts("2025-01-10 12:01:00"), False, "cart_add", "books", 50.0, n, "Windows"),
            ("C1", ts("2025-01-10 12:02:00"), False, "product_view", "electronics", 100.0, n, "Windows"),
            ("C1", ts("2025-04-01 00:00:00"), False, "product_view", "books", 10.0, n, "Windows"),  # at as_of
            ("C1", ts("2025-03-29 19:06:00"), True, "product_view", "books", 10.0, n, "Windows"),  # bot
            ("C1", ts("2024-03-01 10:00:00"), False, "product_view", "books", 10.0, n, "Windows"),  # > 365 days
            ("C2", ts("2025-03-15 12:00:00"), False, "page_view", n, n, n, "Ubuntu"),
        ],
        INPUT_SCHEMAS["events"],
    )
    orders = spark.createDataFrame(
        [
            ("C1", ts("2025-03-31 23:59:59"), 100),  # one second before as_of: counts
            ("C1", ts("2025-04-01 00:00:01"), 500),  # one second after: does not
            ("C1", ts("2025-01-09 23:59:59"), 50),  # during the winter sales
            ("C3", ts("2025-03-20 10:00:00"), 20),
        ],
        "customer_id string, order_ts timestamp, amount int",
    ).withColumn("amount", F.col("amount").cast("decimal(18,2)"))
    profiles = spark.createDataFrame(
        [
            ("C1", date(1990, 6, 15), "F", "Paris", "75011", "FR", "40-60k", 2, True, True, ts("2025-01-01 00:00:00")),
            # no profiling consent; a town missing from the reference, found by its postal code
            ("C2", date(1980, 1, 1), "M", "Gueret", "23000", "FR", ">100k", 1, True, False, ts("2025-01-01 00:00:00")),
            # history: consent at as_of, withdrawn afterwards
            ("C3", date(1960, 3, 1), "X", n, n, "DE", "20-40k", 4, False, True, ts("2025-02-01 00:00:00")),
            ("C3", date(1960, 3, 1), "X", n, n, "DE", "20-40k", 4, False, False, ts("2025-05-01 00:00:00")),
            ("C5", date(1970, 1, 1), "F", "Lyon", "69003", "FR", "<20k", 1, True, True, ts("2025-04-01 00:00:00")),
        ],
        INPUT_SCHEMAS["profiles"],
    )  # fmt: skip
    return FeatureInputs(events, sessions, orders, profiles, region_reference(spark))


@pytest.fixture(scope="module")
def cfg(tmp_path_factory):
    # The shipped configuration with three windows (fewer columns, faster tests).
    return make_config(tmp_path_factory.mktemp("features-cfg"), **{"features.windows_days": [30, 90, 365]})


@pytest.fixture(scope="module")
def snapshot(spark, cfg):
    features = customer_features(history(spark), AS_OF, cfg.features).cache()
    yield features
    features.unpersist()


@pytest.fixture(scope="module")
def later(spark, cfg):
    features = customer_features(history(spark), date(2025, 6, 1), cfg.features).cache()
    yield features
    features.unpersist()


def pick(df, *columns):
    """The columns without their descriptions (compared on values only)."""
    return df.select(*[F.col(c).alias(c, metadata={}) for c in ("customer_id", *columns)])


def test_only_customers_known_before_as_of(snapshot) -> None:
    assert sorted(r.customer_id for r in snapshot.select("customer_id").collect()) == ["C1", "C2", "C3"]
    assert snapshot.select("as_of").distinct().collect()[0][0] == AS_OF


def test_rfm_point_in_time(spark, snapshot) -> None:
    got = pick(
        snapshot, "orders_lifetime", "monetary_lifetime", "orders_30d", "monetary_30d", "orders_365d",
        "monetary_365d", "avg_order_value_365d", "recency_days", "tenure_days", "avg_days_between_orders",
        "orders_trend",
    )  # fmt: skip
    expected = spark.createDataFrame(
        [
            # the order one second after as_of (500) is nowhere; the one a second before is
            ("C1", 2, 150.0, 1, 100.0, 2, 150.0, 75.0, 1, 82, 81.0, 2.0),
            # no orders: zero orders (a fact), but recency, basket and gaps unknown (null, not 0)
            ("C2", 0, 0.0, 0, 0.0, 0, 0.0, None, None, None, None, None),
            ("C3", 1, 20.0, 1, 20.0, 1, 20.0, 20.0, 12, 12, None, None),
        ],
        "customer_id string, orders_lifetime long, monetary_lifetime double, orders_30d long, monetary_30d double, "
        "orders_365d long, monetary_365d double, avg_order_value_365d double, recency_days int, tenure_days int, "
        "avg_days_between_orders double, orders_trend double",
    )
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True, ignore_metadata=True)


def test_a_later_snapshot_sees_the_late_purchase(later) -> None:
    got = pick(later.where("customer_id = 'C1'"), "orders_lifetime", "monetary_lifetime", "recency_days")
    assert got.collect()[0].asDict() == {
        "customer_id": "C1",
        "orders_lifetime": 3,
        "monetary_lifetime": 650.0,
        "recency_days": 61,
    }


def test_rfm_quintile_scores_and_groups(spark) -> None:
    # five buyers: R1 ordered 5 times and last 1 day ago ... R5 once, 40 days ago; P never ordered
    customers = spark.createDataFrame(
        [("R1", 1, 5, 50.0), ("R2", 10, 4, 40.0), ("R3", 20, 3, 30.0), ("R4", 30, 2, 20.0), ("R5", 40, 1, 10.0),
         ("P", None, 0, 0.0)],
        "customer_id string, recency_days int, rfm_frequency long, rfm_monetary double",
    )  # fmt: skip
    stats = customers.agg(*[c.alias(n) for n, c in rfm.score_statistics().items()]).first().asDict()
    got = rfm.with_rfm_scores(customers, stats).drop("rfm_frequency", "rfm_monetary")
    expected = spark.createDataFrame(
        [
            ("R1", 1, 5, 5, 5, "555", "Champions"),
            ("R2", 10, 4, 4, 4, "444", "Loyal Customers"),
            ("R3", 20, 3, 3, 3, "333", "Need Attention"),
            ("R4", 30, 2, 2, 2, "222", "Hibernating"),
            ("R5", 40, 1, 1, 1, "111", "Hibernating"),
            ("P", None, None, None, None, None, "Prospects"),
        ],
        "customer_id string, recency_days int, rfm_recency_score int, rfm_frequency_score int, "
        "rfm_monetary_score int, rfm_cell string, rfm_group string",
    )
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


def test_rfm_groups_of_the_history(spark, snapshot) -> None:
    got = pick(snapshot, "rfm_recency_score", "rfm_frequency_score", "rfm_group")
    expected = spark.createDataFrame(
        [("C1", 5, 3, "Potential Loyalists"), ("C2", None, None, "Prospects"), ("C3", 3, 1, "About to Sleep")],
        "customer_id string, rfm_recency_score int, rfm_frequency_score int, rfm_group string",
    )
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True, ignore_metadata=True)


def test_behaviour_per_window(spark, snapshot) -> None:
    got = pick(
        snapshot, "sessions_30d", "events_per_session_30d", "pages_per_session_30d", "bounce_rate_30d",
        "avg_session_minutes_30d", "max_scroll_depth_30d", "max_scroll_depth_avg_30d", "video_plays_30d",
        "video_completions_30d", "product_views_30d", "cart_adds_30d", "cart_abandonment_rate_30d",
        "view_to_cart_rate_30d", "cart_to_purchase_rate_30d", "view_to_purchase_rate_30d",
    )  # fmt: skip
    expected = spark.createDataFrame(
        [
            # the bot session, the visit in progress at as_of and the one after it are not counted
            ("C1", 2, 2.5, 1.5, 0.5, 5.5, 80.0, 80.0, 1, 1, 2, 1, 0.0, 1.0, 1.0, 1.0),
            ("C2", 1, 1.0, 1.0, 1.0, 0.0, None, None, 0, 0, 0, 0, None, None, None, None),
            ("C3", 0, None, None, None, None, None, None, 0, 0, 0, 0, None, None, None, None),
        ],
        "customer_id string, sessions_30d long, events_per_session_30d double, pages_per_session_30d double, "
        "bounce_rate_30d double, avg_session_minutes_30d double, max_scroll_depth_30d double, "
        "max_scroll_depth_avg_30d double, video_plays_30d long, video_completions_30d long, product_views_30d long, "
        "cart_adds_30d long, cart_abandonment_rate_30d double, view_to_cart_rate_30d double, "
        "cart_to_purchase_rate_30d double, view_to_purchase_rate_30d double",
    )
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True, ignore_metadata=True)


def test_behaviour_over_the_year_recency_and_trend(spark, snapshot) -> None:
    got = pick(
        snapshot, "sessions_365d", "events_365d", "max_scroll_depth_avg_365d", "cart_abandonment_rate_365d",
        "view_to_cart_rate_365d", "cart_to_purchase_rate_365d", "days_since_last_visit", "sessions_trend",
    )  # fmt: skip
    expected = spark.createDataFrame(
        [
            # trend: 2 sessions in the last 30 days against 1 in the 60 before -> (2/30) / (1/60)
            ("C1", 3, 11, 60.0, 0.5, 1.0, 0.5, 3, 4.0),
            ("C2", 1, 1, None, None, None, None, 17, None),
            ("C3", 0, 0, None, None, None, None, None, None),
        ],
        "customer_id string, sessions_365d long, events_365d long, max_scroll_depth_avg_365d double, "
        "cart_abandonment_rate_365d double, view_to_cart_rate_365d double, cart_to_purchase_rate_365d double, "
        "days_since_last_visit int, sessions_trend double",
    )
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True, ignore_metadata=True)


def test_category_affinity_and_preferred_os(spark, snapshot) -> None:
    got = pick(
        snapshot, "category_view_share_electronics", "category_view_share_books", "category_view_share_fashion",
        "category_cart_share_electronics", "category_cart_share_books", "top_category", "preferred_os",
    )  # fmt: skip
    expected = spark.createDataFrame(
        [
            # views: 3 electronics, 1 books, 1 unlisted category; cart value 200 electronics, 50 books
            ("C1", 0.6, 0.2, 0.0, 0.8, 0.2, "electronics", "iOS"),
            ("C2", None, None, None, None, None, None, "other"),
            ("C3", None, None, None, None, None, None, None),
        ],
        "customer_id string, category_view_share_electronics double, category_view_share_books double, "
        "category_view_share_fashion double, category_cart_share_electronics double, "
        "category_cart_share_books double, top_category string, preferred_os string",
    )
    assert_approx_df_equality(got, expected, 1e-9, ignore_row_order=True, ignore_nullable=True)


def test_context_devices_time_and_acquisition(spark, snapshot) -> None:
    got = pick(
        snapshot, "preferred_device", "device_share_mobile", "device_share_tablet", "mobile_share_30d",
        "evening_share_30d", "weekend_share_30d", "campaign_session_share_30d", "daypart_share_morning",
        "daypart_share_night", "preferred_daypart", "preferred_weekday", "acquisition_channel", "first_visit_days_ago",
    )  # fmt: skip
    third = 1 / 3
    expected = spark.createDataFrame(
        [
            # local times: Sat 21:00, Tue 10:00, Fri 13:00 (ties go to the first daypart / weekday)
            ("C1", "mobile", 2 * third, 0.0, 0.5, 0.5, 0.5, 0.5, third, 0.0, "morning", 2, "paid_search", 81),
            ("C2", "desktop", 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, "afternoon", 6, "organic_search", 17),
            ("C3", None, None, None, None, None, None, None, None, None, None, None, None, None),
        ],
        "customer_id string, preferred_device string, device_share_mobile double, device_share_tablet double, "
        "mobile_share_30d double, evening_share_30d double, weekend_share_30d double, "
        "campaign_session_share_30d double, daypart_share_morning double, daypart_share_night double, "
        "preferred_daypart string, preferred_weekday int, acquisition_channel string, first_visit_days_ago int",
    )
    assert_approx_df_equality(got, expected, 1e-9, ignore_row_order=True, ignore_nullable=True)


def test_context_seasons_calendar_and_geography(spark, snapshot) -> None:
    got = pick(
        snapshot, "season_share_spring", "season_share_winter", "calendar_session_share_winter_sales",
        "calendar_session_share_christmas", "calendar_orders_winter_sales", "calendar_orders_christmas",
        "country", "region", "area_type",
    )  # fmt: skip
    third = 1 / 3
    expected = spark.createDataFrame(
        [
            ("C1", 2 * third, third, third, 0.0, 1, 0, "FR", "Ile-de-France", "urban"),
            ("C2", 1.0, 0.0, 0.0, 0.0, 0, 0, "FR", "Nouvelle-Aquitaine", "rural"),
            ("C3", None, None, None, None, 0, 0, "DE", None, None),
        ],
        "customer_id string, season_share_spring double, season_share_winter double, "
        "calendar_session_share_winter_sales double, calendar_session_share_christmas double, "
        "calendar_orders_winter_sales long, calendar_orders_christmas long, country string, region string, "
        "area_type string",
    )
    assert_approx_df_equality(got, expected, 1e-9, ignore_row_order=True, ignore_nullable=True)


def test_demographics_only_with_consent_in_force_at_as_of(spark, snapshot, later) -> None:
    columns = ("consent_profiling", "age_band", "gender", "income_band", "household_size", "household_type")
    expected = spark.createDataFrame(
        [
            ("C1", True, "25-34", "F", "40-60k", 2, "couple"),
            ("C2", False, None, None, None, None, None),  # no consent: nothing demographic
            ("C3", True, "65+", "X", "20-40k", 4, "family"),  # the version in force at as_of consented
        ],
        "customer_id string, consent_profiling boolean, age_band string, gender string, income_band string, "
        "household_size int, household_type string",
    )
    assert_df_equality(
        pick(snapshot, *columns), expected, ignore_row_order=True, ignore_nullable=True, ignore_metadata=True
    )
    # after C3 withdrew consent (profile version of 2025-05-01), C3 has no demographics
    after = pick(later, *columns)
    assert after.where("customer_id = 'C3'").collect()[0].asDict() == {
        "customer_id": "C3", "consent_profiling": False, "age_band": None, "gender": None, "income_band": None,
        "household_size": None, "household_type": None,
    }  # fmt: skip
    assert after.where("customer_id = 'C5'").count() == 1  # its profile is known by then


def test_imputation_keeps_the_raw_null_and_adds_a_treated_copy(spark, snapshot) -> None:
    got = pick(
        snapshot, "recency_days", "recency_days_clean", "recency_days_missing", "avg_order_value_365d",
        "avg_order_value_365d_clean", "avg_order_value_365d_missing",
    )  # fmt: skip
    expected = spark.createDataFrame(
        [
            ("C1", 1, 1.0, False, 75.0, 75.0, False),
            # never ordered: recency stays null, the treated copy gets the configured 730
            # and the basket size the snapshot median (of 20 and 75: 20)
            ("C2", None, 730.0, True, None, 20.0, True),
            ("C3", 12, 12.0, False, 20.0, 20.0, False),
        ],
        "customer_id string, recency_days int, recency_days_clean double, recency_days_missing boolean, "
        "avg_order_value_365d double, avg_order_value_365d_clean double, avg_order_value_365d_missing boolean",
    )
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True, ignore_metadata=True)


def test_outliers_are_capped_before_imputing(spark) -> None:
    spend = spark.createDataFrame(
        [(f"B{i}", 10.0) for i in range(8)] + [("B8", 1000.0), ("B9", None)], "customer_id string, monetary double"
    )
    treatments = {"monetary": FeatureTreatment(impute="median", clip_upper_quantile=0.8)}
    stats = spend.agg(*[c.alias(n) for n, c in treatment_statistics(treatments).items()]).first().asDict()
    got = with_treatments(spend, treatments, stats).where(F.col("customer_id").isin("B0", "B8", "B9"))
    expected = spark.createDataFrame(
        # B8's 1000 is capped at the 80th percentile (10); B9 gets the median, flagged
        [("B0", 10.0, 10.0, False), ("B8", 1000.0, 10.0, False), ("B9", None, 10.0, True)],
        "customer_id string, monetary double, monetary_clean double, monetary_missing boolean",
    )
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


def test_engagement_score_from_configured_weights(spark) -> None:
    components = [
        EngagementComponent("days_since_last_visit", 3.0, zero_at=60, full_at=0),
        EngagementComponent("sessions_30d", 1.0, zero_at=0, full_at=4),
    ]
    rows = spark.createDataFrame(
        [
            # 3 days -> 0.95 (weight 3), 3 sessions -> 0.75 (weight 1): (2.85 + 0.75) / 4
            ("C1", 3, 3, 90.0),
            ("C2", 90, 9, 25.0),  # beyond zero_at: 0; beyond full_at: 1
            ("C3", None, 0, 0.0),  # never visited: no engagement
        ],
        "customer_id string, days_since_last_visit int, sessions_30d long, expected double",
    )
    got = rows.withColumn("engagement_score", engagement_score(components))
    assert_column_equality(got, "engagement_score", "expected")


def test_engagement_score_of_the_history(spark, snapshot) -> None:
    # shipped weights: days since visit .3 (60 -> 0), sessions_30d .25 (0 -> 12), events per session
    # 90d .15 (1 -> 15), scroll 90d .1 (0 -> 90), video plays 90d .05 (0 -> 5), orders 90d .15 (0 -> 3)
    c1 = 0.3 * 57 / 60 + 0.25 * 2 / 12 + 0.15 * (11 / 3 - 1) / 14 + 0.1 * 60 / 90 + 0.05 * 3 / 5 + 0.15 * 2 / 3
    c2 = 0.3 * 43 / 60 + 0.25 * 1 / 12
    c3 = 0.15 * 1 / 3
    expected = spark.createDataFrame(
        [("C1", round(100 * c1, 1)), ("C2", round(100 * c2, 1)), ("C3", round(100 * c3, 1))],
        "customer_id string, engagement_score double",
    )
    assert_df_equality(pick(snapshot, "engagement_score"), expected, ignore_row_order=True, ignore_nullable=True)


def test_columns_carry_their_description(snapshot) -> None:
    comments = {f.name: f.metadata.get("comment", "") for f in snapshot.schema.fields}
    assert comments["orders_30d"] == "Orders placed in the 30 days before as_of."
    assert "winter_sales (French winter sales, 01-08 to 02-04 each year)" in comments["calendar_orders_winter_sales"]
    assert all(comments.values()), [c for c, text in comments.items() if not text]


def test_config_mistakes_are_one_line_errors(snapshot, cfg) -> None:
    available = {f.name: f.dataType for f in snapshot.schema.fields}
    families = replace(cfg.features.families, behaviour={**cfg.features.families.behaviour, "sesions_{w}d": "typo"})
    with pytest.raises(ConfigError, match=r"unknown feature 'sesions_30d' \(did you mean 'sessions_30d'\?\)"):
        spec.check_declared(replace(cfg.features, families=families), available)
    families = replace(cfg.features.families, rfm={"orders_{window}d": "x"})
    with pytest.raises(ConfigError, match=r"unknown placeholder \{window\}"):
        spec.check_declared(replace(cfg.features, families=families), available)
    with pytest.raises(ConfigError, match="features.engagement: unknown feature 'sessions_31d'"):
        spec.check_engagement(
            replace(cfg.features, engagement=[EngagementComponent("sessions_31d", 1, 0, 1)]), available
        )
    with pytest.raises(ConfigError, match="features.treatments: 'rfm_group' is not numeric"):
        spec.check_treatments(replace(cfg.features, treatments={"rfm_group": FeatureTreatment()}), available)


def test_each_source_is_aggregated_once_with_hash_aggregation(spark, cfg) -> None:
    plan = base_features(history(spark), AS_OF, cfg.features)._jdf.queryExecution().executedPlan().toString()
    # one partial aggregation per source (orders, sessions, events), no sort-based aggregation
    assert plan.count("HashAggregate(keys=[customer_id") >= 3
    assert "SortAggregate" not in plan
    assert "ObjectHashAggregate" not in plan


def write_silver(spark, catalog: Catalog) -> None:
    h = history(spark)
    for df, t in ((h.events, SILVER_EVENTS), (h.sessions, SILVER_SESSIONS), (h.orders, SILVER_ORDERS),
                  (h.profiles, SILVER_PROFILES)):  # fmt: skip
        catalog.overwrite(df, t)


def test_backfill_then_recompute_gives_identical_rows_and_drift(spark, tmp_path: Path, run_context) -> None:
    cfg = make_config(tmp_path, **{"features.windows_days": [30, 90, 365]})
    catalog = Catalog(cfg.paths.lake)
    write_silver(spark, catalog)
    ctx = JobContext(spark, cfg, catalog, run_context, progress=lambda _: None)
    summaries = [run_features(ctx, d)[0] for d in ("2025-01-15", "2025-03-20", "2025-04-01")]
    assert summaries[0][1] == "feature drift: no earlier snapshot to compare with"
    assert summaries[2][1].startswith("feature drift vs 2025-03-20 (PSI over ")
    # the events per customer and day are computed once, then reused by every snapshot
    assert summaries[0][-1].startswith("gold.customer_daily_events rebuilt (") and "first run" in summaries[0][-1]
    assert summaries[1][-1] == summaries[2][-1] == "gold.customer_daily_events: current"
    version = catalog.delta(spark, GOLD_CUSTOMER_FEATURES).history(1).select("version").first()[0]
    run_features(ctx, "2025-03-20")
    before = catalog.read(spark, GOLD_CUSTOMER_FEATURES, version=version)
    after = catalog.read(spark, GOLD_CUSTOMER_FEATURES)
    assert_df_equality(after, before, ignore_row_order=True, ignore_column_order=False, ignore_nullable=True)
    counts = {r["as_of"]: r["count"] for r in after.groupBy("as_of").count().collect()}
    # C3 is first known from its profile of 2025-02-01
    assert counts == {date(2025, 1, 15): 2, date(2025, 3, 20): 3, date(2025, 4, 1): 3}
    # the table documents itself
    schema = {f.name: f.metadata.get("comment") for f in after.schema.fields}
    assert schema["recency_days"].startswith("Days from the last order before as_of")
    drift = catalog.read(spark, GOLD_FEATURE_DRIFT)
    assert {r["as_of"]: r["previous_as_of"] for r in drift.select("as_of", "previous_as_of").distinct().collect()} == {
        date(2025, 3, 20): date(2025, 1, 15),
        date(2025, 4, 1): date(2025, 3, 20),
    }
    # a snapshot backfilled between two others: the later one is now compared with it
    run_features(ctx, "2025-02-15")
    drift = catalog.read(spark, GOLD_FEATURE_DRIFT)
    assert {r["as_of"]: r["previous_as_of"] for r in drift.select("as_of", "previous_as_of").distinct().collect()} == {
        date(2025, 2, 15): date(2025, 1, 15),
        date(2025, 3, 20): date(2025, 2, 15),
        date(2025, 4, 1): date(2025, 3, 20),
    }
    histograms = catalog.read(spark, GOLD_FEATURE_HISTOGRAMS)
    assert {r["as_of"] for r in histograms.select("as_of").distinct().collect()} == {
        date(2025, 1, 15), date(2025, 2, 15), date(2025, 3, 20), date(2025, 4, 1)
    }  # fmt: skip


def test_a_rerun_after_late_events_computes_the_snapshot_as_from_the_events(spark, tmp_path: Path, run_context) -> None:
    """The changed days are recomputed and committed while the snapshot is computed from
    them: the snapshot must be what aggregating every event gives."""
    cfg = make_config(tmp_path, **{"features.windows_days": [30, 90, 365]})
    catalog = Catalog(cfg.paths.lake)
    write_silver(spark, catalog)
    h = history(spark)
    events = h.events.withColumn("event_date", F.to_date("ts"))
    catalog.drop(spark, SILVER_EVENTS)
    catalog.create(events, SILVER_EVENTS)  # with the change feed on, as silver creates it
    catalog.append(events, SILVER_EVENTS)
    ctx = JobContext(spark, cfg, catalog, run_context, progress=lambda _: None)
    run_features(ctx, "2025-04-01")
    late = spark.createDataFrame(
        [
            ("C1", ts("2025-03-29 20:00:00"), False, "product_view", "books", 10.0, None, "iOS"),  # a known day
            ("C2", ts("2025-03-30 08:00:00"), False, "cart_add", "fashion", 40.0, 1, "Android"),  # a new one
            ("C4", ts("2025-03-30 09:00:00"), False, "product_view", "home", 25.0, None, "Linux"),  # a new customer
        ],
        INPUT_SCHEMAS["events"],
    ).withColumn("event_date", F.to_date("ts"))
    catalog.append(late, SILVER_EVENTS)
    summary = run_features(ctx, "2025-04-01")[0]
    assert summary[-1] == "gold.customer_daily_events: 2 changed days recomputed"
    from_events = FeatureInputs(catalog.read(spark, SILVER_EVENTS), h.sessions, h.orders, h.profiles, h.regions)
    expected = customer_features(from_events, AS_OF, cfg.features)
    written = catalog.read(spark, GOLD_CUSTOMER_FEATURES)
    assert_df_equality(
        pick(written, *written.columns[1:]), pick(expected, *expected.columns[1:]),
        ignore_row_order=True, ignore_nullable=True,
    )  # fmt: skip
    c1 = written.where(F.col("customer_id") == "C1").select("category_view_share_books").first()[0]
    assert c1 == pytest.approx(2 / 6)  # 1 of the 5 views before, and the late one
    assert written.where(F.col("customer_id") == "C4").count() == 1


def test_drift_against_a_snapshot_without_a_stored_histogram_profiles_that_snapshot(
    spark, tmp_path: Path, run_context
) -> None:
    cfg = make_config(tmp_path, **{"features.windows_days": [30, 90, 365]})
    catalog = Catalog(cfg.paths.lake)
    write_silver(spark, catalog)
    ctx = JobContext(spark, cfg, catalog, run_context, progress=lambda _: None)
    run_features(ctx, "2025-03-20")
    histograms = catalog.read(spark, GOLD_FEATURE_HISTOGRAMS)
    profiled = spark.createDataFrame(histograms.collect(), histograms.schema)
    # as for a snapshot written before histograms were stored
    catalog.delta(spark, GOLD_FEATURE_HISTOGRAMS).delete("as_of = '2025-03-20'")
    summary = run_features(ctx, "2025-04-01")[0]
    assert summary[1].startswith("feature drift vs 2025-03-20 (PSI over ")
    # the earlier snapshot was profiled from its stored rows, as it was when written
    again = catalog.read(spark, GOLD_FEATURE_HISTOGRAMS).where(F.col("as_of") == F.lit(date(2025, 3, 20)))
    assert_df_equality(again, profiled, ignore_row_order=True, ignore_nullable=True)
    drift = catalog.read(spark, GOLD_FEATURE_DRIFT)
    assert drift.where(F.col("as_of") == F.lit(date(2025, 4, 1))).count() > 0
    assert {r[0] for r in drift.select("previous_as_of").distinct().collect()} == {date(2025, 3, 20)}


def test_psi_of_a_known_shift(spark) -> None:
    before = spark.createDataFrame(
        [(f"c{i}", float(i), "a" if i % 2 else "b") for i in range(100)], "customer_id string, x double, kind string"
    )
    now = spark.createDataFrame(
        [(f"c{i}", float(i + 50), "a" if i % 2 else "b") for i in range(100)],
        "customer_id string, x double, kind string",
    )
    kinds = {"x": "numeric", "kind": "categorical"}
    profiles = [collect_histograms(histogram(df, kinds).collect()) for df in (now, before)]
    # the deciles of 0..99 fall on 9, 19, ..., 89: each value has a bucket of its own
    assert decile_edges(profiles[1]["x"], 10) == [round(math.log1p(v) * RESOLUTION) for v in range(9, 90, 10)]
    rows = population_stability(*profiles, bins=10, threshold=0.2, as_of=date(2025, 2, 1),
                                previous_as_of=date(2025, 1, 1))  # fmt: skip
    got = {r[2]: (r[3], r[7], r[4], r[5], r[6]) for r in rows}
    # the shifted values 50..149 leave the five lowest bins empty (share counted as 1e-4),
    # keep 10% in each of the next four and put 60% in the top one
    eps = 1e-4
    expected = 5 * (eps - 0.1) * math.log(eps / 0.1) + (0.6 - 0.1) * math.log(0.6 / 0.1)
    assert got["x"][0] == pytest.approx(expected, rel=1e-9)
    assert got["x"][1:] == (True, 10, 100, 100)
    assert got["kind"] == (0.0, False, 2, 100, 100)


def test_histogram_keeps_missing_values_and_samples_deterministically(spark) -> None:
    df = spark.createDataFrame(
        [(f"c{i}", None if i % 4 == 0 else float(i % 3), None if i % 5 == 0 else "ab"[i % 2]) for i in range(1000)],
        "customer_id string, x double, kind string",
    )
    kinds = {"x": "numeric", "kind": "categorical"}
    full = collect_histograms(histogram(df, kinds).collect())
    assert full["x"].counts[MISSING] == 250
    assert full["x"].customers == full["kind"].customers == 1000
    assert full["kind"].counts == {"a": 400, "b": 400, MISSING: 200}
    # a missing share that grows is drift even when the observed values do not move
    emptier = df.withColumn("x", F.when(F.col("customer_id") < "c5", None).otherwise(F.col("x")))
    shifted = collect_histograms(histogram(emptier, kinds).collect())
    x = population_stability(shifted, full, 10, 0.2, date(2025, 2, 1), date(2025, 1, 1))
    assert x[1][2] == "x" and x[1][3] > 0.2
    # a sample: the same customers whatever the run, about the asked share of them
    sample = [collect_histograms(histogram(df, kinds, rate=0.3).collect())["kind"].customers for _ in range(2)]
    assert sample[0] == sample[1] and 230 <= sample[0] <= 370
    assert sample_rate(1000, 300) == 0.3 and sample_rate(1000, None) == 1.0 and sample_rate(10, 300) == 1.0
    with pytest.raises(ConfigError, match="sample_customers"):
        sample_rate(1000, 0)
