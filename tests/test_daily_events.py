"""gold.customer_daily_events follows silver.events: changed days only, whole rebuild when
it cannot know what changed."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from seglake.catalog import GOLD_CUSTOMER_DAILY_EVENTS, SILVER_EVENTS, Catalog
from seglake.features.daily import DaysState, refresh_event_days, update_event_days
from seglake.features.snapshot import INPUT_SCHEMAS, event_days

from conftest import make_config


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


def events(spark, rows):
    return spark.createDataFrame(rows, INPUT_SCHEMAS["events"]).withColumn("event_date", F.to_date("ts"))


FIRST = [
    ("C1", ts("2025-03-01 10:00:00"), False, "product_view", "books", 10.0, None, "iOS"),
    ("C1", ts("2025-03-01 23:59:59"), False, "cart_add", "books", 10.0, 2, "iOS"),
    ("C2", ts("2025-03-02 00:00:00"), False, "product_view", "fashion", 30.0, None, "Android"),
    ("C2", ts("2025-03-05 08:00:00"), False, "product_view", "home", 20.0, None, "Android"),
    ("C3", ts("2025-03-05 09:00:00"), True, "product_view", "home", 20.0, None, "Windows"),  # a bot
    (None, ts("2025-03-06 09:00:00"), False, "product_view", "toys", 5.0, None, "Windows"),  # anonymous
]


@pytest.fixture
def lake(spark, tmp_path: Path):
    cfg = make_config(tmp_path)
    catalog = Catalog(cfg.paths.lake)
    first = events(spark, FIRST)
    catalog.create(first, SILVER_EVENTS)  # with the change feed on, as silver creates it
    catalog.append(first, SILVER_EVENTS)
    return cfg, catalog


def stored(spark, catalog):
    return catalog.read(spark, GOLD_CUSTOMER_DAILY_EVENTS)


def recomputed(spark, cfg, catalog):
    return event_days(catalog.read(spark, SILVER_EVENTS), cfg.features)


def assert_current(spark, cfg, catalog) -> None:
    assert_df_equality(
        stored(spark, catalog), recomputed(spark, cfg, catalog), ignore_row_order=True, ignore_nullable=True
    )


def test_first_run_computes_every_day_then_nothing_until_silver_changes(spark, lake) -> None:
    cfg, catalog = lake
    first = update_event_days(spark, cfg.features, catalog)
    assert (first.rebuilt, first.days, first.reason) == (True, 3, "first run")
    assert_current(spark, cfg, catalog)
    got = {(r["customer_id"], r["day"]): r for r in stored(spark, catalog).collect()}
    # the bot and the anonymous event are not counted; days are UTC days
    assert set(got) == {("C1", date(2025, 3, 1)), ("C2", date(2025, 3, 2)), ("C2", date(2025, 3, 5))}
    c1 = got[("C1", date(2025, 3, 1))]
    assert (c1["month"], c1["_views_books"], c1["_cart_value_books"], c1["_os_ios"]) == (date(2025, 3, 1), 1, 20.0, 2)
    again = update_event_days(spark, cfg.features, catalog)
    assert (again.rebuilt, again.days) == (False, 0)
    assert catalog.version(spark, GOLD_CUSTOMER_DAILY_EVENTS) == 0


def test_only_changed_days_are_recomputed(spark, lake) -> None:
    cfg, catalog = lake
    update_event_days(spark, cfg.features, catalog)

    def fashion_views_of_0302():
        return stored(spark, catalog).where(F.col("day") == date(2025, 3, 2)).select("_views_fashion").first()[0]

    untouched = fashion_views_of_0302()
    # a new day, a late event on 03-01, and the anonymous visitor of 03-06 stitched to C2
    catalog.append(
        events(
            spark,
            [
                ("C1", ts("2025-03-07 10:00:00"), False, "product_view", "books", 10.0, None, "iOS"),
                ("C1", ts("2025-03-01 12:00:00"), False, "product_view", "fashion", 15.0, None, "iOS"),
            ],
        ),
        SILVER_EVENTS,
    )
    catalog.delta(spark, SILVER_EVENTS).update(F.col("customer_id").isNull(), {"customer_id": F.lit("C2")})
    update = update_event_days(spark, cfg.features, catalog)
    assert (update.rebuilt, update.days) == (False, 3)
    assert_current(spark, cfg, catalog)
    c2 = stored(spark, catalog).where((F.col("customer_id") == "C2") & (F.col("day") == date(2025, 3, 6))).first()
    assert c2["_views_toys"] == 1
    # a day outside the change (in the same month as a changed one) keeps its rows
    assert untouched == 1 and fashion_views_of_0302() == untouched
    # the commit records the version of silver.events it reflects
    state = DaysState.from_json(catalog.last_user_metadata(spark, GOLD_CUSTOMER_DAILY_EVENTS))
    assert state is not None and state.events_version == catalog.version(spark, SILVER_EVENTS)


def test_a_rebuilt_silver_or_new_categories_recompute_every_day(spark, lake) -> None:
    cfg, catalog = lake
    update_event_days(spark, cfg.features, catalog)
    fewer = replace(cfg.features, categories=["books", "home"])
    update = update_event_days(spark, fewer, catalog)
    assert (update.rebuilt, update.reason) == (True, "the configured categories or operating systems changed")
    assert "_views_fashion" not in stored(spark, catalog).columns
    assert_df_equality(
        stored(spark, catalog), event_days(catalog.read(spark, SILVER_EVENTS), fewer), ignore_row_order=True,
        ignore_nullable=True,
    )  # fmt: skip
    # silver rebuilt from scratch (a full refresh): another table, versions start again
    catalog.drop(spark, SILVER_EVENTS)
    rebuilt = events(spark, FIRST[:2])
    catalog.create(rebuilt, SILVER_EVENTS)
    catalog.append(rebuilt, SILVER_EVENTS)
    update = update_event_days(spark, fewer, catalog)
    assert (update.rebuilt, update.reason, update.days) == (True, "silver.events was rebuilt", 1)
    assert_df_equality(
        stored(spark, catalog), event_days(catalog.read(spark, SILVER_EVENTS), fewer), ignore_row_order=True,
        ignore_nullable=True,
    )  # fmt: skip


def test_without_a_change_feed_every_day_is_recomputed(spark, tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    catalog = Catalog(cfg.paths.lake)
    catalog.overwrite(events(spark, FIRST), SILVER_EVENTS)  # no change feed
    update_event_days(spark, cfg.features, catalog)
    catalog.append(events(spark, [FIRST[0]]), SILVER_EVENTS)
    update = update_event_days(spark, cfg.features, catalog)
    assert update.rebuilt and update.reason.startswith("no change feed of silver.events since version 1")
    assert_current(spark, cfg, catalog)


def test_a_commit_that_does_not_record_its_source_makes_the_next_run_rebuild(spark, lake) -> None:
    cfg, catalog = lake
    update_event_days(spark, cfg.features, catalog)
    catalog.delta(spark, GOLD_CUSTOMER_DAILY_EVENTS).delete(F.col("customer_id") == "C1")  # by hand
    update = update_event_days(spark, cfg.features, catalog)
    assert update.rebuilt and update.reason.startswith("its latest commit does not say")
    assert_current(spark, cfg, catalog)


def still_kept(spark, df) -> bool:
    """Whether the kept (cached) rows of `df` are still those computed before: Spark
    replaces them by a fresh, not yet computed copy when a table they read is written."""
    cached = spark._jsparkSession.sharedState().cacheManager().lookupCachedData(df._jdf)  # noqa: SLF001
    return cached.isDefined() and cached.get().cachedRepresentation().cacheBuilder().isCachedColumnBuffersLoaded()


def test_rows_kept_from_the_refreshed_days_survive_their_write(spark, lake) -> None:
    """The feature job keeps a snapshot computed from the refreshed days while their
    write runs: the write must not make Spark compute that snapshot again."""
    cfg, catalog = lake
    update_event_days(spark, cfg.features, catalog)
    late = events(spark, [("C1", ts("2025-03-07 10:00:00"), False, "product_view", "books", 10.0, None, "iOS")])
    catalog.append(late, SILVER_EVENTS)
    refresh = refresh_event_days(spark, cfg.features, catalog)
    assert refresh.days is not None
    kept = refresh.days.persist()
    try:
        assert kept.count() == 4
        assert still_kept(spark, kept)
        update = refresh.write()
        assert (update.rebuilt, update.days) == (False, 1)
        assert still_kept(spark, kept)
        assert_df_equality(kept, stored(spark, catalog), ignore_row_order=True, ignore_nullable=True)
    finally:
        kept.unpersist()
