"""Quarantine mechanics shared by every silver source: rules produce reasons, records
with any reason are set aside with them, never dropped."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

QUARANTINE_COLUMNS = ("source", "record_id", "reasons", "raw", "source_file", "run_id")
# Among copies of one record, the one received first wins (stable across rebuilds).
FIRST_RECEIVED = ("_ingested_at", "_source_file", "_record_id")
# Working columns that travel with typed rows until the silver write.
WORKING_COLUMNS = ("_raw", "_run_id", "_reasons", "_rule_violations")


def with_reasons(df: DataFrame, rules: Mapping[str, Column]) -> DataFrame:
    """Add `_reasons`: the names of the rules (name -> 'is broken' condition) a row breaks."""
    flags = [F.when(F.coalesce(broken, F.lit(False)), F.lit(name)) for name, broken in rules.items()]
    return df.withColumn("_reasons", F.filter(F.array(*flags), lambda r: r.isNotNull()))


def split_quarantine(df: DataFrame, source: str, raw: Column) -> tuple[DataFrame, DataFrame]:
    """(good rows without `_reasons`, quarantine rows) for a frame built by `with_reasons`."""
    broken = F.size("_reasons") > 0
    good = df.where(~broken).drop("_reasons")
    bad = df.where(broken).select(
        F.lit(source).alias("source"),
        F.col("_record_id").alias("record_id"),
        F.col("_reasons").alias("reasons"),
        raw.alias("raw"),
        F.col("_source_file").alias("source_file"),
        F.col("_run_id").alias("run_id"),
    )
    return good, bad


def mark_duplicates(
    valid: DataFrame, keys: Sequence[str], stored: DataFrame | None, small_batch: bool = False
) -> DataFrame:
    """`valid` with `_kept`: the record id of the copy of the row's key that silver keeps
    (see `split_marked`), and `_stored_record`: that id when it is already stored.

    The first received copy of a key wins; copies of a key already in the silver table
    `stored` are duplicates of the stored record. With `small_batch` the batch's keys are
    broadcast to pick the stored rows, so the stored table is read, not shuffled."""
    everything = (
        Window.partitionBy(*keys)
        .orderBy(*FIRST_RECEIVED)
        .rowsBetween(Window.unboundedPreceding, Window.unboundedFollowing)
    )
    ranked = valid.withColumn("_first_in_batch", F.first("_record_id").over(everything))
    if stored is not None:
        known = stored.select(*keys, F.col("_record_id").alias("_stored_record"))
        if small_batch:
            known = known.join(F.broadcast(valid.select(*keys).distinct()), list(keys), "left_semi")
        ranked = ranked.join(known, on=list(keys), how="left")
    else:
        ranked = ranked.withColumn("_stored_record", F.lit(None).cast("string"))
    return ranked.withColumn("_kept", F.coalesce("_stored_record", "_first_in_batch")).drop("_first_in_batch")


# Over a frame from `mark_duplicates`: a row to insert, and a copy of a kept record. A row
# whose own record id is already stored was applied by an earlier attempt at this batch:
# it is neither, so replaying a batch after a crash adds nothing twice.
def is_fresh() -> Column:
    return F.col("_stored_record").isNull() & (F.col("_record_id") == F.col("_kept"))


def is_duplicate() -> Column:
    return F.col("_record_id") != F.col("_kept")


def split_marked(marked: DataFrame, source: str, keys: Sequence[str]) -> tuple[DataFrame, DataFrame]:
    """(first copies not stored yet, duplicate rows) of a frame from `mark_duplicates`.
    Duplicate rows carry the record id they are a copy of."""
    fresh = marked.where(is_fresh()).drop("_kept", "_stored_record")
    duplicates = marked.where(is_duplicate()).select(
        F.lit(source).alias("source"),
        F.col("_record_id").alias("record_id"),
        F.concat_ws("|", *[F.col(k).cast("string") for k in keys]).alias("key"),
        F.col("_kept").alias("duplicate_of"),
        F.col("_source_file").alias("source_file"),
    )
    return fresh, duplicates


def keep_first(df: DataFrame, key: str, order: Sequence[str | Column]) -> DataFrame:
    """One row per `key` (the first by `order`), for deduplicating replays and re-sends."""
    w = Window.partitionBy(key).orderBy(*order)
    return df.withColumn("_dup_rank", F.row_number().over(w)).where("_dup_rank = 1").drop("_dup_rank")
