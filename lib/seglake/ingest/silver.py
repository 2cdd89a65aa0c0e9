"""bronze -> silver: the orchestration (read, transform, write, measure).

Silver is rebuilt from bronze on every run: bronze keeps every record, so a rebuild is
idempotent by construction and replaying landing files changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce

from pyspark import StorageLevel
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
    mapping = cfg.sources
    checked = {
        "events": ev.validate_events(ev.parse_events(catalog.read(spark, BRONZE_EVENTS)), cfg.ingest),
        "transactions": src.validate_orders(
            src.canonical_columns(
                catalog.read(spark, BRONZE_TRANSACTIONS), "transactions", src.ORDER_COLUMNS,
                mapping.transactions.columns,
            ),
            cfg.ingest.future_tolerance_hours,
        ),
        "profiles": src.validate_profiles(
            src.canonical_columns(
                catalog.read(spark, BRONZE_PROFILES), "profiles", src.PROFILE_COLUMNS, mapping.profiles.columns
            )
        ),
        "reviews": src.validate_reviews(src.parse_reviews(catalog.read(spark, BRONZE_REVIEWS))),
    }  # fmt: skip
    # What a quarantined record looked like; profiles keep only non-PII fields.
    raw = {
        "events": F.col("_raw"),
        "transactions": F.to_json(F.struct(*src.ORDER_COLUMNS)),
        "profiles": F.to_json(F.struct("customer_id", "updated_at")),
        "reviews": F.col("_raw"),
    }
    # Each record is parsed and checked once: the checked rows feed both silver and the
    # quarantine, so they are kept (spilling to disk) until both are written.
    for df in checked.values():
        df.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        split = {name: split_quarantine(df, name, raw[name]) for name, df in checked.items()}
        _write_events(spark, cfg, catalog, split["events"][0])
        catalog.overwrite(src.normalise_orders(split["transactions"][0]), SILVER_ORDERS)
        catalog.overwrite(src.normalise_profiles(split["profiles"][0], cfg.ingest.pii_secret), SILVER_PROFILES)
        catalog.overwrite(src.normalise_reviews(split["reviews"][0], cfg.ingest.max_string_length), SILVER_REVIEWS)
        quarantine = reduce(DataFrame.unionByName, [bad for _, bad in split.values()])
        catalog.overwrite(
            quarantine.withColumn("quarantined_at", F.lit(run.started_at).cast("timestamp")), SILVER_QUARANTINE
        )
    finally:
        for df in checked.values():
            df.unpersist()
    return _measure(spark, catalog)


def _write_events(spark: SparkSession, cfg: SeglakeConfig, catalog: Catalog, valid: DataFrame) -> None:
    """valid events -> deduplicated, bot-flagged -> identity map -> stitched, sessionised -> sessions.
    Each step reads the previous step's table, so no long lineage is recomputed."""
    events = ev.flag_bots(ev.deduplicate_events(ev.normalise_events(valid, cfg.ingest.pii_secret)), cfg.ingest)
    catalog.overwrite(events, SILVER_EVENTS_UNSTITCHED)
    unstitched = catalog.read(spark, SILVER_EVENTS_UNSTITCHED)
    catalog.overwrite(ev.build_identity_map(unstitched), SILVER_IDENTITY_MAP)
    stitched = ev.stitch_identities(unstitched, catalog.read(spark, SILVER_IDENTITY_MAP))
    catalog.overwrite(ev.sessionize(stitched, cfg.ingest.session_gap_minutes), SILVER_EVENTS)
    catalog.overwrite(ev.session_facts(catalog.read(spark, SILVER_EVENTS)), SILVER_SESSIONS)


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
