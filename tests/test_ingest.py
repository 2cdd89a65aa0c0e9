"""landing -> bronze -> silver on a small hand-built landing folder with dirty records."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from seglake.catalog import (
    BRONZE_EVENTS,
    BRONZE_FILES,
    SILVER_EVENTS,
    SILVER_IDENTITY_MAP,
    SILVER_ORDERS,
    SILVER_PROFILES,
    SILVER_QUARANTINE,
    SILVER_SESSIONS,
    Catalog,
)
from seglake.errors import InputError
from seglake.ingest.bronze import ingest_bronze
from seglake.ingest.events import unparsed_fields
from seglake.ingest.silver import build_silver
from seglake.runs import RunContext

from conftest import make_config
from landing import event, small_landing, write_events


def lake_time() -> datetime:
    return datetime(2025, 6, 1)


@pytest.fixture(scope="module")
def lake(spark, tmp_path_factory):
    """bronze + silver built once from `small_landing`; tests only read."""
    root = tmp_path_factory.mktemp("ingest")
    small_landing(root)
    cfg = make_config(root)
    catalog = Catalog(cfg.paths.lake)
    run = RunContext("run-1", lake_time())
    bronze = {r.source: r for r in ingest_bronze(spark, cfg, catalog, run)}
    silver = build_silver(spark, cfg, catalog, run)
    return cfg, catalog, run, bronze, silver


def test_bronze_keeps_every_input_line(lake) -> None:
    _, _, _, bronze, _ = lake
    assert {s: (r.files_new, r.rows_added) for s, r in bronze.items()} == {
        "events": (1, 11),
        "transactions": (1, 5),
        "profiles": (1, 5),
        "reviews": (1, 3),
    }


def test_bronze_ingests_each_file_once(spark, lake) -> None:
    cfg, catalog, _, _, _ = lake
    version_before = catalog.delta(spark, BRONZE_EVENTS).history(1).first()["version"]
    again = ingest_bronze(spark, cfg, catalog, RunContext("run-2", lake[2].started_at))
    assert [r.rows_added for r in again] == [0, 0, 0, 0]
    assert catalog.delta(spark, BRONZE_EVENTS).history(1).first()["version"] == version_before


def test_new_file_alone_is_ingested(spark, tmp_path: Path) -> None:
    landing = small_landing(tmp_path)
    cfg = make_config(tmp_path)
    catalog = Catalog(cfg.paths.lake)
    ingest_bronze(spark, cfg, catalog, RunContext("r1", lake_time()))
    write_events(landing, "part-1.json", [event("n1", "2025-04-01T10:00:00Z"), event("n2", "2025-04-01T10:01:00Z")])
    second = {r.source: r.rows_added for r in ingest_bronze(spark, cfg, catalog, RunContext("r2", lake_time()))}
    assert second == {"events": 2, "transactions": 0, "profiles": 0, "reviews": 0}
    rows = catalog.read(spark, BRONZE_EVENTS).groupBy("_run_id").count()
    assert_df_equality(
        rows,
        spark.createDataFrame([("r1", 11), ("r2", 2)], "_run_id string, count long"),
        ignore_row_order=True,
        ignore_nullable=True,
    )


def test_file_index_lagging_bronze_is_caught_up_from_bronze(spark, tmp_path: Path) -> None:
    """A run killed between its bronze commit and its index commit: the next run finds the
    committed files in bronze itself, ingests nothing twice and completes the index."""
    landing = small_landing(tmp_path)
    cfg = make_config(tmp_path)
    catalog = Catalog(cfg.paths.lake)
    ingest_bronze(spark, cfg, catalog, RunContext("r1", lake_time()))
    write_events(landing, "part-1.json", [event("n1", "2025-04-01T10:00:00Z")])
    ingest_bronze(spark, cfg, catalog, RunContext("r2", lake_time()))
    index = catalog.delta(spark, BRONZE_FILES)
    index.delete("run_id = 'r2'")  # as if r2 died right after its bronze commit
    again = {r.source: r.rows_added for r in ingest_bronze(spark, cfg, catalog, RunContext("r3", lake_time()))}
    assert again == {"events": 0, "transactions": 0, "profiles": 0, "reviews": 0}
    files = catalog.read(spark, BRONZE_FILES).groupBy("source", "run_id").count()
    assert_df_equality(
        files,
        spark.createDataFrame(
            [
                ("events", "r1", 1),
                ("events", "r2", 1),
                ("transactions", "r1", 1),
                ("profiles", "r1", 1),
                ("reviews", "r1", 1),
            ],
            "source string, run_id string, count long",
        ),  # fmt: skip
        ignore_row_order=True,
        ignore_nullable=True,
    )


def test_missing_landing_folder_is_a_clear_error(spark, tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    with pytest.raises(InputError, match=r"landing folder '.*landing' does not exist; run `seglake generate`"):
        ingest_bronze(spark, cfg, Catalog(cfg.paths.lake), RunContext("r", lake_time()))


def test_every_bronze_row_is_accounted_for(lake) -> None:
    _, _, _, bronze, silver = lake
    for s in silver.sources:
        assert s.bronze_rows == bronze[s.source].rows_added
        assert s.silver_rows + s.quarantined_rows + s.duplicates_removed == s.bronze_rows
    assert {s.source: s.duplicates_removed for s in silver.sources} == {
        "events": 1,
        "transactions": 1,
        "profiles": 1,
        "reviews": 0,
    }


def test_schema_drift_is_reported_not_fatal(lake) -> None:
    _, _, _, _, silver = lake
    assert silver.unparsed_event_fields == {"experiment": 1}


def test_unparsed_fields_include_context(spark) -> None:
    raw = spark.createDataFrame(
        [('{"type": "page", "context": {"ip": "1.2.3.4", "screen": {"width": 390}}}',), ("not json",)], "_raw string"
    )
    got = {r["field"]: r["records"] for r in unparsed_fields(raw).collect()}
    assert got == {"context.screen": 1}


def test_quarantine_says_why(spark, lake) -> None:
    _, catalog, _, _, _ = lake
    got = catalog.read(spark, SILVER_QUARANTINE).select("source", F.array_join("reasons", ",").alias("reasons"))
    expected = spark.createDataFrame(
        [
            ("events", "malformed_json"),
            ("events", "missing_identity"),
            ("events", "invalid_timestamp"),
            ("events", "future_timestamp"),
            ("events", "wrong_type"),
            ("transactions", "missing_customer_id"),
            ("transactions", "invalid_amount"),
            ("profiles", "missing_customer_id"),
            ("reviews", "invalid_rating"),
            ("reviews", "malformed_json"),
        ],
        "source string, reasons string",
    )
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


def test_events_are_typed_in_utc_and_stitched(spark, lake) -> None:
    _, catalog, _, _, _ = lake
    got = catalog.read(spark, SILVER_EVENTS).select(
        "message_id",
        "event_type",
        "customer_id",
        F.date_format("ts", "yyyy-MM-dd HH:mm").alias("utc"),
        F.date_format("local_ts", "HH:mm").alias("local"),
        "is_bot",
    )
    expected = spark.createDataFrame(
        [
            # m1, m2 happened before the login (m3): stitching attributes them to C1.
            ("m1", "page_view", "C1", "2025-03-01 09:00", "10:00", False),
            ("m2", "product_view", "C1", "2025-03-01 09:05", "10:05", False),
            ("m3", "identify", "C1", "2025-03-01 09:06", "10:06", False),
            ("m4", "order", "C1", "2025-03-01 09:07", "10:07", False),
            ("m9", "product_view", None, "2025-03-02 09:00", "09:00", True),
        ],
        "message_id string, event_type string, customer_id string, utc string, local string, is_bot boolean",
    )
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)
    links = catalog.read(spark, SILVER_IDENTITY_MAP).select("anonymous_id", "customer_id")
    assert [tuple(r) for r in links.collect()] == [("a-1", "C1")]


def test_pii_never_reaches_silver_in_clear(spark, lake) -> None:
    _, catalog, _, _, _ = lake
    profiles = catalog.read(spark, SILVER_PROFILES)
    assert not {"email", "phone", "first_name", "last_name"} & set(profiles.columns)
    versions = profiles.where("customer_id = 'C2'").orderBy("updated_at").collect()
    assert [r["consent_profiling"] for r in versions] == [False, True]  # both versions kept, in order
    row = versions[-1]
    assert len(row["email_hash"]) == 64 and "@" not in row["email_hash"]
    assert "ip" not in catalog.read(spark, SILVER_EVENTS).columns


def test_orders_deduplicated_and_typed(spark, lake) -> None:
    _, catalog, _, _, _ = lake
    got = catalog.read(spark, SILVER_ORDERS).select(
        "order_id", "customer_id", F.col("amount").cast("string"), "channel"
    )
    expected = spark.createDataFrame(
        [("O1", "C1", "42.50", "web"), ("O2", "C2", "10.00", "store")],
        "order_id string, customer_id string, amount string, channel string",
    )
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


def test_sessions_have_facts(spark, lake) -> None:
    _, catalog, _, _, _ = lake
    got = catalog.read(spark, SILVER_SESSIONS).select(
        "customer_id", "events", "page_views", "product_views", "order_placed", "duration_seconds", "is_bot"
    )
    expected = spark.createDataFrame(
        [("C1", 4, 1, 1, True, 420, False), (None, 1, 0, 1, False, 0, True)],
        "customer_id string, events long, page_views long, product_views long, order_placed boolean, "
        "duration_seconds long, is_bot boolean",
    )
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


def test_silver_rebuild_is_idempotent(spark, lake) -> None:
    cfg, catalog, run, _, _ = lake
    before = {
        t.name: catalog.read(spark, t).drop("_ingested_at") for t in (SILVER_EVENTS, SILVER_SESSIONS, SILVER_ORDERS)
    }
    snapshot = {name: sorted(map(tuple, df.collect())) for name, df in before.items()}
    build_silver(spark, cfg, catalog, replace(run, run_id="run-3"))
    after = {
        t.name: sorted(map(tuple, catalog.read(spark, t).drop("_ingested_at").collect()))
        for t in (SILVER_EVENTS, SILVER_SESSIONS, SILVER_ORDERS)
    }
    assert after == snapshot
