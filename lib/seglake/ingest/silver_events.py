"""Incremental silver events and sessions: what one batch of new bronze events changes.

A batch of new events can change rows already in silver:
- a new identity link re-attributes a device's earlier anonymous events to a customer;
- an event arriving late, or extending a visit, changes the sessions around it.
Only the visitors a batch touches are re-sessionised, and only from their last session
that started before the batch's earliest event: `events.sessionize` gives the same
sessions from any session start onwards as over the whole history. Rows whose customer,
session or bot flag changed are updated in place (deletion vectors, a MERGE that only
updates), new rows appended. The sessions stage then reads silver.events' change feed and
rebuilds exactly the sessions whose events changed.

Stored events are probed with the batch's keys (message ids, visitors), broadcast while
the batch is small, so an incremental run reads a few columns of silver.events instead of
shuffling all of it.

Every step is computed from the batch and the stored tables, so a batch replayed after a
crash converges to the same tables instead of applying anything twice: updates are
written before the new rows (a replay after only the updates re-derives them unchanged
from the same stored rows plus the same new events), and new rows are those not stored
yet, so a replay finds the ones appended before the crash stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from seglake.catalog import (
    SILVER_CHANGED_DATES,
    SILVER_EVENTS,
    SILVER_IDENTITY_MAP,
    SILVER_SESSIONS,
    Catalog,
    WriteOnce,
)
from seglake.config.schema import IngestConfig
from seglake.ingest import events as ev

# Materialised intermediates go to disk: a first run's batch is all of history.
DISK = StorageLevel.DISK_ONLY
# Columns a batch may change on a stored event.
MUTABLE = ("customer_id", "visitor_key", "session_id", "is_bot")
# What re-stitching, bot flags and sessions read of a stored event (besides MUTABLE);
# only the MUTABLE columns of stored rows are written back.
RESESSION_INPUT = (
    "message_id", "anonymous_id", "user_id", "ts", "event_date", "user_agent",
    "utm_source", "utm_medium", "utm_campaign",
)  # fmt: skip


@dataclass(frozen=True)
class EventsWrite:
    inserted: int
    updated: int
    late: int


def apply_events(
    spark: SparkSession,
    catalog: Catalog,
    cfg: IngestConfig,
    fresh: DataFrame,
    batch_number: int,
    dates_once: WriteOnce,
    run_id: str,
    small_batch: bool = False,
) -> EventsWrite:
    """Stitch, bot-flag and sessionise `fresh` (new, deduplicated, typed events) together
    with the stored events they affect, then write identity map, changed dates and events.
    `small_batch`: the batch's keys are few enough to broadcast when probing silver."""
    stored = catalog.read(spark, SILVER_EVENTS) if catalog.exists(spark, SILVER_EVENTS) else None
    known_map = (
        catalog.read(spark, SILVER_IDENTITY_MAP)
        if catalog.exists(spark, SILVER_IDENTITY_MAP)
        else spark.createDataFrame(
            [], "anonymous_id string, customer_id string, linked_at timestamp, candidates array<string>"
        )
    )
    links = ev.identity_links(fresh)
    touched_links = ev.merge_identity_links(
        known_map.join(links.select("anonymous_id"), "anonymous_id", "left_semi"), links
    )
    # Computed once: MERGE runs its source several times, and this lineage is long.
    touched_links = touched_links.withColumn("candidate_customers", F.size("candidates")).localCheckpoint(
        storageLevel=DISK
    )
    identity_map = known_map.join(touched_links.select("anonymous_id"), "anonymous_id", "left_anti").unionByName(
        touched_links, allowMissingColumns=True
    )
    new_events = ev.stitch_identities(fresh, identity_map).withColumn("_is_new", F.lit(True))

    scope = new_events
    if stored is not None:
        scope = _with_affected_stored(spark, catalog, stored, new_events, touched_links, identity_map, small_batch)
    rows = ev.sessionize(ev.flag_bots(scope, cfg), cfg.session_gap_minutes)
    if stored is not None:
        changed = reduce(Column.__or__, [~F.col(c).eqNullSafe(F.col(f"_was_{c}")) for c in MUTABLE])
        rows = rows.where(F.col("_is_new") | changed)
    writes = rows.localCheckpoint(storageLevel=DISK)
    late_after = F.expr(f"INTERVAL {cfg.late_after_hours} HOURS")
    dates = (
        writes.groupBy(F.col("event_date").alias("date"))
        .agg(
            F.count(F.when(F.col("_is_new"), 1)).alias("rows_added"),
            F.count(F.when(~F.col("_is_new"), 1)).alias("rows_changed"),
            F.count(F.when(F.col("_is_new") & (F.col("received_at") > F.col("ts") + late_after), 1)).alias("late_rows"),
        )
        .localCheckpoint(storageLevel=DISK)
    )
    totals = dates.agg(F.sum("rows_added"), F.sum("rows_changed"), F.sum("late_rows")).first()
    inserted, updated, late = (int(x or 0) for x in totals)
    # Empty writes are skipped (each is a Delta commit), except the one creating a table.
    if inserted or updated or not catalog.exists(spark, SILVER_CHANGED_DATES):
        catalog.append(
            changed_dates(dates, "events", batch_number, run_id),
            SILVER_CHANGED_DATES,
            once=dates_once,
        )
    if touched_links.take(1) or not catalog.exists(spark, SILVER_IDENTITY_MAP):
        catalog.upsert(touched_links, SILVER_IDENTITY_MAP)
    if updated:
        _update_events(spark, catalog, writes.where(~F.col("_is_new")).select("message_id", *MUTABLE))
    new_rows = writes.where(F.col("_is_new")).drop("_is_new", *[f"_was_{c}" for c in MUTABLE])
    if stored is not None:
        new_rows = new_rows.select(*stored.columns)
    if inserted or stored is None:
        catalog.create(new_rows, SILVER_EVENTS)
        # Exactly once without a txn tag, as for the other sources' rows: a replayed batch
        # finds these records stored, so none of them is new again.
        catalog.append(new_rows, SILVER_EVENTS)
    return EventsWrite(inserted, updated, late)


def changed_dates(per_date: DataFrame, source: str, batch_id: int, run_id: str) -> DataFrame:
    """Rows of silver.changed_dates for one batch (per_date: date + row counts)."""
    return per_date.select(
        F.lit(source).alias("source"),
        F.lit(batch_id).cast("long").alias("batch_id"),
        F.lit(run_id).alias("run_id"),
        "*",
    )


def _with_affected_stored(
    spark: SparkSession,
    catalog: Catalog,
    stored: DataFrame,
    new_events: DataFrame,
    touched_links: DataFrame,
    identity_map: DataFrame,
    small_batch: bool,
) -> DataFrame:
    """New events plus the stored events of every touched visitor from that visitor's
    last session start before the visitor's earliest change; stored rows keep their
    current values as `_was_*` so changes can be told apart. Stored rows carry only the
    columns re-sessionising reads."""
    keys = F.broadcast if small_batch else (lambda df: df)
    links = touched_links.select("anonymous_id", F.col("customer_id").alias("_linked"))
    # Compared with the stored events themselves, not with the stored identity map: a
    # batch replayed after a crash may find the map already written and the events not.
    relinked = (
        stored.where(F.col("user_id").isNull())
        .select("anonymous_id", "customer_id", "visitor_key", "ts")
        .join(keys(links), "anonymous_id")
        .where(~F.col("customer_id").eqNullSafe(F.col("_linked")))
        .localCheckpoint(storageLevel=DISK)  # used twice below; one scan of silver.events
    )
    touched = (
        new_events.select("visitor_key", "ts")
        .unionByName(relinked.select("visitor_key", "ts"))  # the visitor they leave
        .unionByName(
            relinked.select(ev.visitor_key(F.col("_linked"), F.col("anonymous_id")).alias("visitor_key"), "ts")
        )
        .groupBy("visitor_key")
        .agg(F.min("ts").alias("_changed_from"))
    )
    # Sessions are up to date with the stored events (the sessions stage runs before and
    # after every events batch), so a visitor's stored events before its last session
    # start preceding the change are untouched, and a visitor with no session before the
    # change has no stored event before it either.
    if catalog.exists(spark, SILVER_SESSIONS):
        starts = (
            catalog.read(spark, SILVER_SESSIONS)
            .select("visitor_key", "session_start")
            .join(keys(touched.select("visitor_key")), "visitor_key", "left_semi")
        )
        touched = (
            touched.join(starts, "visitor_key", "left")
            .groupBy("visitor_key", "_changed_from")
            .agg(F.max(F.when(F.col("session_start") < F.col("_changed_from"), F.col("session_start"))).alias("_from"))
        )
    else:
        touched = touched.withColumn("_from", F.lit(None).cast("timestamp"))
    touched = touched.select("visitor_key", F.coalesce("_from", "_changed_from").alias("_from")).localCheckpoint(
        storageLevel=DISK
    )
    # A literal lower bound lets Delta skip files by their `ts` statistics.
    earliest = touched.agg(F.min("_from")).first()[0]
    if earliest is not None:
        stored = stored.where(F.col("ts") >= F.lit(earliest))
    affected = (
        stored.select(*RESESSION_INPUT, *MUTABLE)
        .join(keys(touched), "visitor_key")
        .where(F.col("ts") >= F.col("_from"))
        .drop("_from")
        .select("*", *[F.col(c).alias(f"_was_{c}") for c in MUTABLE])
    )
    restitched = ev.stitch_identities(affected, identity_map).withColumn("_is_new", F.lit(False))
    return restitched.unionByName(new_events, allowMissingColumns=True)


def _update_events(spark: SparkSession, catalog: Catalog, changes: DataFrame) -> None:
    """Set the MUTABLE columns of stored events (`changes`: message_id + MUTABLE)."""
    (
        catalog.delta(spark, SILVER_EVENTS)
        .alias("t")
        .merge(changes.alias("s"), "t.message_id = s.message_id")
        .whenMatchedUpdate(set={c: f"s.{c}" for c in MUTABLE})
        .execute()
    )


def apply_session_changes(spark: SparkSession, catalog: Catalog, changes: DataFrame) -> int:
    """Rebuild the sessions named by a batch of silver.events changes (before and after
    images): sessions that still have events get fresh facts, the others are deleted."""
    ids = (
        changes.where(F.col("session_id").isNotNull())
        .select("session_id")
        .distinct()
        .localCheckpoint(storageLevel=DISK)
    )
    events = catalog.read(spark, SILVER_EVENTS).join(ids, "session_id", "left_semi")
    facts = ev.session_facts(events).localCheckpoint(storageLevel=DISK)
    gone = ids.join(facts.select("session_id"), "session_id", "left_anti")
    source = facts.withColumn("_delete", F.lit(False)).unionByName(
        gone.withColumn("_delete", F.lit(True)), allowMissingColumns=True
    )
    catalog.create(facts, SILVER_SESSIONS)
    values = {c: f"s.{c}" for c in facts.columns}
    (
        catalog.delta(spark, SILVER_SESSIONS)
        .alias("t")
        .merge(source.alias("s"), "t.session_id = s.session_id")
        .whenMatchedDelete(condition="s._delete")
        .whenMatchedUpdate(set=values)
        .whenNotMatchedInsert(condition="NOT s._delete", values=values)
        .execute()
    )
    return ids.count()
