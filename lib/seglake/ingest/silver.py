"""bronze -> silver: the orchestration (read, transform, write, measure).

Silver is rebuilt from bronze on every run: bronze keeps every record, so a rebuild is
idempotent by construction and replaying landing files changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import reduce

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession
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
    table,
)
from seglake.config.schema import QualityRule, SeglakeConfig
from seglake.contract import ORDER_COLUMNS, PROFILE_COLUMNS
from seglake.errors import ConfigError
from seglake.ingest import events as ev
from seglake.ingest import rules as rules_mod
from seglake.ingest import sources as src
from seglake.ingest.quality import WORKING_COLUMNS, split_quarantine
from seglake.runs import RunContext


@dataclass(frozen=True)
class SourceCounts:
    source: str
    bronze_rows: int
    silver_rows: int
    quarantined_rows: int
    # valid rows before deduplication minus rows kept: counted, not derived, so
    # silver + quarantined + duplicates == bronze is a real check
    duplicates_removed: int


@dataclass(frozen=True)
class SilverResult:
    sources: list[SourceCounts]
    quarantine_by_reason: dict[str, int]
    bot_events: int
    sessions: int
    identity_links: int
    rule_outcomes: list[rules_mod.RuleOutcome]
    # field -> events carrying it, for fields outside seglake's event schema (drift)
    unparsed_event_fields: dict[str, int]


def build_silver(spark: SparkSession, cfg: SeglakeConfig, catalog: Catalog, run: RunContext) -> SilverResult:
    catalog.require(spark, (BRONZE_EVENTS, BRONZE_TRANSACTIONS, BRONZE_PROFILES, BRONZE_REVIEWS), "bronze")
    mapping = cfg.sources
    secret = cfg.ingest.pii_secret
    # 1. parse and check structure (code-defined: a record that cannot be read).
    parsed = {
        "events": ev.validate_events(ev.parse_events(catalog.read(spark, BRONZE_EVENTS)), cfg.ingest),
        "transactions": src.validate_orders(
            src.canonical_columns(
                catalog.read(spark, BRONZE_TRANSACTIONS), "transactions", ORDER_COLUMNS,
                mapping.transactions.columns,
            ),
            cfg.ingest.future_tolerance_hours,
        ),
        "profiles": src.validate_profiles(
            src.canonical_columns(
                catalog.read(spark, BRONZE_PROFILES), "profiles", PROFILE_COLUMNS, mapping.profiles.columns
            )
        ),
        "reviews": src.validate_reviews(src.parse_reviews(catalog.read(spark, BRONZE_REVIEWS))),
    }  # fmt: skip
    # Parsing is the expensive step: parsed rows are kept (spilling to disk) because rule
    # counts, silver and the quarantine all read them.
    for df in parsed.values():
        df.persist(StorageLevel.MEMORY_AND_DISK)
    structural = {name: split_quarantine(df, name, RAW[name]()) for name, df in parsed.items()}
    # 2. type, then apply the declarative rules of conf `quality:`.
    typed = {
        "events": ev.normalise_events(structural["events"][0], secret),
        "transactions": src.type_orders(structural["transactions"][0]),
        "profiles": src.type_profiles(structural["profiles"][0], secret),
        "reviews": src.type_reviews(structural["reviews"][0], cfg.ingest.max_string_length),
    }
    rules = {name: getattr(cfg.quality, name) for name in typed}
    for name, df in typed.items():
        rules_mod.check_rules(name, rules[name], df.columns)
    references = _references(spark, catalog, typed, rules)
    checked = {name: rules_mod.with_rule_violations(df, rules[name], references) for name, df in typed.items()}
    try:
        drift = {r["field"]: r["records"] for r in ev.unparsed_fields(parsed["events"]).collect()}  # distinct names
        outcomes = {name: rules_mod.count_violations(df, rules[name]) for name, df in checked.items()}
        for name, found in outcomes.items():
            rules_mod.raise_on_failures(name, found)
        declared = {name: _split_on_rules(df, name, rules[name]) for name, df in checked.items()}
        valid_rows = {name: good.count() for name, (good, _) in declared.items()}
        _write_events(spark, cfg, catalog, declared["events"][0])
        catalog.overwrite(_silver(src.deduplicate_orders(declared["transactions"][0])), SILVER_ORDERS)
        catalog.overwrite(_silver(src.latest_profiles(declared["profiles"][0])), SILVER_PROFILES)
        catalog.overwrite(_silver(src.deduplicate_reviews(declared["reviews"][0])), SILVER_REVIEWS)
        quarantine = reduce(
            DataFrame.unionByName,
            [bad for _, bad in structural.values()] + [bad for _, bad in declared.values()],
        )
        catalog.overwrite(
            quarantine.withColumn("quarantined_at", F.lit(run.started_at).cast("timestamp")), SILVER_QUARANTINE
        )
    finally:
        for df in parsed.values():
            df.unpersist()
    return _measure(spark, catalog, [o for found in outcomes.values() for o in found], drift, valid_rows)


# How a quarantined record is shown: the line as received for JSON sources; for CSV
# sources the mapped columns (profiles: only non-PII identifiers). The same expressions
# serve before typing (strings as received) and after it (typed values).
RAW: dict[str, Callable[[], Column]] = {
    "events": lambda: F.col("_raw"),
    "transactions": lambda: F.to_json(F.struct(*ORDER_COLUMNS)),
    "profiles": lambda: F.to_json(F.struct("customer_id", "updated_at")),
    "reviews": lambda: F.col("_raw"),
}


def _references(
    spark: SparkSession, catalog: Catalog, typed: dict[str, DataFrame], rules: dict[str, list[QualityRule]]
) -> dict[str, DataFrame]:
    """Tables named by `exists_in` rules: this run's typed data for silver sources being
    built now, the stored table otherwise."""
    this_run = {"silver.events": "events", "silver.orders": "transactions", "silver.profiles": "profiles",
                "silver.reviews": "reviews"}  # fmt: skip
    out: dict[str, DataFrame] = {}
    for rule in (r for found in rules.values() for r in found if r.check == "exists_in"):
        name = rule.reference.rsplit(".", 1)[0]  # type: ignore[union-attr]
        if name in this_run:
            out[name] = typed[this_run[name]]
            continue
        try:
            t = table(name)
        except KeyError:
            raise ConfigError(f"quality rule '{rule.name}': reference table '{name}' is not a seglake table") from None
        catalog.require(spark, (t,), "pipeline")
        out[name] = catalog.read(spark, t)
    return out


def _split_on_rules(df: DataFrame, source: str, rules: list[QualityRule]) -> tuple[DataFrame, DataFrame]:
    """Rows breaking a quarantine-action rule go to the quarantine with those rule names."""
    names = rules_mod.quarantine_rules(rules)
    quarantine_names = F.array(*[F.lit(n) for n in names]) if names else F.array().cast("array<string>")
    marked = df.withColumn("_reasons", F.array_intersect(F.col(rules_mod.VIOLATIONS), quarantine_names))
    return split_quarantine(marked, source, RAW[source]())


def _silver(df: DataFrame) -> DataFrame:
    return df.drop(*WORKING_COLUMNS)


def _write_events(spark: SparkSession, cfg: SeglakeConfig, catalog: Catalog, valid: DataFrame) -> None:
    """valid events -> deduplicated, bot-flagged -> identity map -> stitched, sessionised -> sessions.
    Each step reads the previous step's table, so no long lineage is recomputed."""
    events = _silver(ev.flag_bots(ev.deduplicate_events(valid), cfg.ingest))
    catalog.overwrite(events, SILVER_EVENTS_UNSTITCHED)
    unstitched = catalog.read(spark, SILVER_EVENTS_UNSTITCHED)
    catalog.overwrite(ev.build_identity_map(unstitched), SILVER_IDENTITY_MAP)
    stitched = ev.stitch_identities(unstitched, catalog.read(spark, SILVER_IDENTITY_MAP))
    catalog.overwrite(ev.sessionize(stitched, cfg.ingest.session_gap_minutes), SILVER_EVENTS)
    catalog.overwrite(ev.session_facts(catalog.read(spark, SILVER_EVENTS)), SILVER_SESSIONS)


def _measure(
    spark: SparkSession,
    catalog: Catalog,
    outcomes: list[rules_mod.RuleOutcome],
    drift: dict[str, int],
    valid_rows: dict[str, int],
) -> SilverResult:
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
    counts = []
    for name, bronze, silver in pairs:
        kept = catalog.read(spark, silver).count()
        counts.append(
            SourceCounts(
                name, catalog.read(spark, bronze).count(), kept, by_source.get(name, 0), valid_rows[name] - kept
            )
        )
    events = catalog.read(spark, SILVER_EVENTS)
    return SilverResult(
        sources=counts,
        quarantine_by_reason=dict(sorted(by_reason.items())),
        bot_events=events.where("is_bot").count(),
        sessions=catalog.read(spark, SILVER_SESSIONS).count(),
        identity_links=catalog.read(spark, SILVER_IDENTITY_MAP).count(),
        rule_outcomes=outcomes,
        unparsed_event_fields=dict(sorted(drift.items())),
    )
