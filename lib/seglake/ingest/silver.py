"""bronze -> silver: the orchestration (read, transform, write, measure).

Silver is rebuilt from bronze on every run: bronze keeps every record, so a rebuild is
idempotent by construction and replaying landing files changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from seglake.catalog import (
    BRONZE_EVENTS,
    BRONZE_PROFILES,
    BRONZE_REVIEWS,
    BRONZE_TRANSACTIONS,
    SILVER_EVENTS,
    SILVER_EVENTS_UNSTITCHED,
    SILVER_IDENTITY_MAP,
    SILVER_ORDERS,
    SILVER_PROFILES,
    SILVER_QUARANTINE,
    SILVER_REVIEWS,
    SILVER_SESSIONS,
    Catalog,
)
from seglake.config.schema import SeglakeConfig
from seglake.ingest import events as ev
from seglake.ingest import sources as src
from seglake.ingest.quality import split_quarantine
from seglake.runs import RunContext


@dataclass(frozen=True)
class SourceCounts:
    source: str
    bronze_rows: int
    silver_rows: int
    quarantined_rows: int

    @property
    def duplicates_removed(self) -> int:
        return self.bronze_rows - self.silver_rows - self.quarantined_rows


@dataclass(frozen=True)
class SilverResult:
    sources: list[SourceCounts]
    quarantine_by_reason: dict[str, int]
    bot_events: int
    sessions: int
    identity_links: int


def build_silver(spark: SparkSession, cfg: SeglakeConfig, catalog: Catalog, run: RunContext) -> SilverResult:
    catalog.require(spark, (BRONZE_EVENTS, BRONZE_TRANSACTIONS, BRONZE_PROFILES, BRONZE_REVIEWS), "bronze")
    now = F.lit(run.started_at).cast("timestamp")
    secret = cfg.ingest.pii_secret
    quarantined: list[DataFrame] = []

    # events
    checked = ev.validate_events(ev.parse_events(catalog.read(spark, BRONZE_EVENTS)), cfg.ingest)
    good, bad = split_quarantine(checked, "events", F.col("_raw"))
    quarantined.append(bad)
    events = ev.flag_bots(ev.deduplicate_events(ev.normalise_events(good, secret)), cfg.ingest)
    catalog.overwrite(events, SILVER_EVENTS_UNSTITCHED)
    unstitched = catalog.read(spark, SILVER_EVENTS_UNSTITCHED)
    identity_map = ev.build_identity_map(unstitched)
    catalog.overwrite(identity_map, SILVER_IDENTITY_MAP)
    stitched = ev.sessionize(
        ev.stitch_identities(unstitched, catalog.read(spark, SILVER_IDENTITY_MAP)), cfg.ingest.session_gap_minutes
    )
    catalog.overwrite(stitched, SILVER_EVENTS)
    catalog.overwrite(ev.session_facts(catalog.read(spark, SILVER_EVENTS)), SILVER_SESSIONS)

    # orders
    orders = src.canonical_columns(
        catalog.read(spark, BRONZE_TRANSACTIONS),
        "transactions",
        src.ORDER_COLUMNS,
        cfg.sources.transactions.columns,
    )
    good, bad = split_quarantine(
        src.validate_orders(orders, cfg.ingest.future_tolerance_hours),
        "transactions",
        F.to_json(F.struct(*src.ORDER_COLUMNS)),
    )
    quarantined.append(bad)
    catalog.overwrite(src.normalise_orders(good), SILVER_ORDERS)

    # profiles
    profiles = src.canonical_columns(
        catalog.read(spark, BRONZE_PROFILES), "profiles", src.PROFILE_COLUMNS, cfg.sources.profiles.columns
    )
    good, bad = split_quarantine(
        src.validate_profiles(profiles), "profiles", F.to_json(F.struct(F.col("customer_id"), F.col("updated_at")))
    )
    quarantined.append(bad)
    catalog.overwrite(src.normalise_profiles(good, secret), SILVER_PROFILES)

    # reviews
    good, bad = split_quarantine(
        src.validate_reviews(src.parse_reviews(catalog.read(spark, BRONZE_REVIEWS))), "reviews", F.col("_raw")
    )
    quarantined.append(bad)
    catalog.overwrite(src.normalise_reviews(good, cfg.ingest.max_string_length), SILVER_REVIEWS)

    all_bad = quarantined[0]
    for df in quarantined[1:]:
        all_bad = all_bad.unionByName(df)
    catalog.overwrite(all_bad.withColumn("quarantined_at", now), SILVER_QUARANTINE)
    return _measure(spark, catalog)


def _measure(spark: SparkSession, catalog: Catalog) -> SilverResult:
    q = catalog.read(spark, SILVER_QUARANTINE)
    by_source = {r["source"]: r["n"] for r in q.groupBy("source").agg(F.count(F.lit(1)).alias("n")).collect()}
    by_reason = {
        f"{r['source']}:{r['reason']}": r["n"]
        for r in q.select("source", F.explode("reasons").alias("reason"))
        .groupBy("source", "reason")
        .agg(F.count(F.lit(1)).alias("n"))
        .collect()
    }
    pairs = [
        ("events", BRONZE_EVENTS, SILVER_EVENTS),
        ("transactions", BRONZE_TRANSACTIONS, SILVER_ORDERS),
        ("profiles", BRONZE_PROFILES, SILVER_PROFILES),
        ("reviews", BRONZE_REVIEWS, SILVER_REVIEWS),
    ]
    counts = [
        SourceCounts(name, catalog.read(spark, b).count(), catalog.read(spark, s).count(), by_source.get(name, 0))
        for name, b, s in pairs
    ]
    events = catalog.read(spark, SILVER_EVENTS)
    return SilverResult(
        sources=counts,
        quarantine_by_reason=dict(sorted(by_reason.items())),
        bot_events=events.where("is_bot").count(),
        sessions=catalog.read(spark, SILVER_SESSIONS).count(),
        identity_links=catalog.read(spark, SILVER_IDENTITY_MAP).count(),
    )
