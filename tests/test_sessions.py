"""Sessionisation and identity stitching on hand-built events (pure transforms)."""

from __future__ import annotations

from chispa import assert_df_equality
from pyspark.sql import functions as F

from seglake.ingest.events import build_identity_map, sessionize, stitch_identities

SCHEMA = (
    "message_id string, customer_id string, anonymous_id string, ts string, "
    "utm_source string, utm_medium string, utm_campaign string"
)


def session_numbers(spark, rows):
    events = spark.createDataFrame(rows, SCHEMA).withColumn("ts", F.to_timestamp("ts"))
    out = sessionize(events, gap_minutes=30)
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
    stitched = stitch_identities(events, build_identity_map(events)).select("message_id", "customer_id")
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
    got = build_identity_map(events).select("anonymous_id", "customer_id", "candidate_customers")
    expected = spark.createDataFrame(
        [("a-shared", "C1", 2)], "anonymous_id string, customer_id string, candidate_customers long"
    )
    assert_df_equality(got, expected, ignore_nullable=True)
