"""Sessionisation and identity stitching on hand-built events (pure transforms)."""

from __future__ import annotations

from chispa import assert_df_equality
from pyspark.sql import functions as F

from seglake.ingest.events import identity_links, merge_identity_links, sessionize, stitch_identities, visitor_key

SCHEMA = (
    "message_id string, customer_id string, anonymous_id string, ts string, "
    "utm_source string, utm_medium string, utm_campaign string"
)


def session_numbers(spark, rows):
    events = spark.createDataFrame(rows, SCHEMA).withColumn("ts", F.to_timestamp("ts"))
    out = sessionize(events.withColumn("visitor_key", visitor_key(F.col("customer_id"), F.col("anonymous_id"))), 30)
    # Number sessions by their first event so the assertion does not depend on hash ids.
    firsts = out.groupBy("session_id").agg(F.min("message_id").alias("session_of"))
    return out.join(firsts, "session_id", "inner").select("message_id", "session_of")


def test_gap_boundary_and_campaign_change(spark) -> None:
    rows = [
        ("e1", "C1", "a1", "2025-03-01 10:00:00", None, None, None),
        ("e2", "C1", "a1", "2025-03-01 10:30:00", None, None, None),  # exactly 30 min: same session
        ("e3", "C1", "a1", "2025-03-01 11:00:01", None, None, None),  # 30 min 1 s: new session
        ("e4", "C1", "a1", "2025-03-01 11:05:00", "mail", "email", "sale"),  # campaign appears: new session
        ("e5", "C1", "a1", "2025-03-01 11:06:00", None, None, None),  # no campaign on the hit: continues
        ("e6", "C1", "a1", "2025-03-01 11:07:00", "ads", "cpc", "brand"),  # other campaign: new session
    ]
    expected = spark.createDataFrame(
        [("e1", "e1"), ("e2", "e1"), ("e3", "e3"), ("e4", "e4"), ("e5", "e4"), ("e6", "e6")],
        "message_id string, session_of string",
    )
    assert_df_equality(session_numbers(spark, rows), expected, ignore_row_order=True, ignore_nullable=True)


def test_session_crossing_midnight_stays_one_session(spark) -> None:
    rows = [
        ("e1", "C1", "a1", "2025-03-01 23:50:00", None, None, None),
        ("e2", "C1", "a1", "2025-03-02 00:10:00", None, None, None),
        ("e3", "C2", "a2", "2025-03-02 00:10:00", None, None, None),  # other person, own session
    ]
    expected = spark.createDataFrame([("e1", "e1"), ("e2", "e1"), ("e3", "e3")], "message_id string, session_of string")
    assert_df_equality(session_numbers(spark, rows), expected, ignore_row_order=True, ignore_nullable=True)


def test_two_devices_merged_after_the_fact(spark) -> None:
    """Phone browsing (a-phone) and laptop browsing (a-laptop) are anonymous until the
    person logs in on each; afterwards all their events belong to C1."""
    events = spark.createDataFrame(
        [
            ("p1", None, "a-phone", "2025-03-01 08:00:00"),
            ("l1", None, "a-laptop", "2025-03-03 20:00:00"),
            ("l2", "C1", "a-laptop", "2025-03-03 20:05:00"),  # login on the laptop
            ("p2", "C1", "a-phone", "2025-03-09 12:00:00"),  # login on the phone, days later
            ("x1", None, "a-other", "2025-03-09 12:00:00"),  # never identified
        ],
        "message_id string, user_id string, anonymous_id string, ts string",
    ).withColumn("ts", F.to_timestamp("ts"))
    stitched = stitch_identities(events, identity_links(events)).select("message_id", "customer_id")
    expected = spark.createDataFrame(
        [("p1", "C1"), ("l1", "C1"), ("l2", "C1"), ("p2", "C1"), ("x1", None)],
        "message_id string, customer_id string",
    )
    assert_df_equality(stitched, expected, ignore_row_order=True, ignore_nullable=True)


def test_shared_device_goes_to_first_linked_customer(spark) -> None:
    events = spark.createDataFrame(
        [
            ("1", "C2", "a-shared", "2025-03-02 08:00:00"),
            ("2", "C1", "a-shared", "2025-03-01 08:00:00"),
        ],
        "message_id string, user_id string, anonymous_id string, ts string",
    ).withColumn("ts", F.to_timestamp("ts"))
    got = identity_links(events).select("anonymous_id", "customer_id", "candidates")
    expected = spark.createDataFrame(
        [("a-shared", "C1", ["C1", "C2"])], "anonymous_id string, customer_id string, candidates array<string>"
    )
    assert_df_equality(got, expected, ignore_nullable=True)


def test_links_merged_across_batches_match_links_of_one_batch(spark) -> None:
    """The map must not depend on how events were split into batches: an earlier link
    arriving later (a late event) still wins."""
    rows = [
        ("1", "C2", "a-shared", "2025-03-02 08:00:00"),
        ("2", "C1", "a-shared", "2025-03-01 08:00:00"),
        ("3", "C3", "a-other", "2025-03-05 08:00:00"),
    ]
    events = spark.createDataFrame(rows, "message_id string, user_id string, anonymous_id string, ts string")
    events = events.withColumn("ts", F.to_timestamp("ts"))
    first, late = events.where("message_id != '2'"), events.where("message_id = '2'")
    merged = merge_identity_links(identity_links(first), identity_links(late))
    assert_df_equality(merged, identity_links(events), ignore_row_order=True, ignore_nullable=True)


def test_a_visit_that_turns_into_a_campaign_visit_starts_a_session(spark) -> None:
    rows = [
        ("e1", "C1", "a1", "2025-03-01 10:00:00", "mail", "email", "sale"),
        ("e2", "C1", "a1", "2025-03-01 11:00:00", None, None, None),  # back after the gap, untagged
        ("e3", "C1", "a1", "2025-03-01 11:05:00", "mail", "email", "sale"),  # then from the campaign again
        ("e4", "C1", "a1", "2025-03-01 11:06:00", "mail", "email", "sale"),  # same campaign: continues
    ]
    expected = spark.createDataFrame(
        [("e1", "e1"), ("e2", "e2"), ("e3", "e3"), ("e4", "e3")], "message_id string, session_of string"
    )
    assert_df_equality(session_numbers(spark, rows), expected, ignore_row_order=True, ignore_nullable=True)


def test_sessionising_from_any_session_start_gives_the_same_sessions(spark) -> None:
    """What incremental silver relies on: re-sessionising only the events from a
    session start onwards reproduces the sessions of the whole history."""
    rows = [
        ("e1", "C1", "a1", "2025-03-01 10:00:00", "ads", "cpc", "brand"),
        ("e2", "C1", "a1", "2025-03-01 10:10:00", None, None, None),
        ("e3", "C1", "a1", "2025-03-01 10:15:00", "mail", "email", "sale"),  # campaign start, same visit
        ("e4", "C1", "a1", "2025-03-01 10:20:00", None, None, None),
        ("e5", "C1", "a1", "2025-03-01 10:25:00", "mail", "email", "sale"),
        ("e6", "C1", "a1", "2025-03-01 12:00:00", None, None, None),
    ]
    whole = {r["message_id"]: r["session_of"] for r in session_numbers(spark, rows).collect()}
    tail = {r["message_id"]: r["session_of"] for r in session_numbers(spark, rows[2:]).collect()}
    assert whole["e3"] == "e3"
    assert tail == {k: v for k, v in whole.items() if k in tail}
