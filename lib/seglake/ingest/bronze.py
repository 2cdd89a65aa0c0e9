"""Landing files -> bronze Delta tables, each file exactly once.

The ledger of ingested files is the bronze table itself: every row carries its source
file's path, size and modification time, and one batch is one atomic Delta append. A
run that dies before its commit leaves no trace, so the next run picks the same files
up again; a run that committed is never repeated.

Reading that ledger would scan all of bronze, so `bronze.files` indexes it: one row per
ingested file, appended after each bronze commit. The index may lag bronze (a run killed
between the two commits), never lead it: each run also reads the lineage of the bronze
rows from the index's newest run on, which Delta's per-file statistics on `_run_id`
(run ids sort by start time) narrow to the latest files. The bronze rows stay the truth.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from seglake.catalog import (
    BRONZE_EVENTS,
    BRONZE_FILES,
    BRONZE_PROFILES,
    BRONZE_REVIEWS,
    BRONZE_TRANSACTIONS,
    Catalog,
    Table,
)
from seglake.config.schema import SeglakeConfig, SourceConfig
from seglake.errors import InputError
from seglake.runs import RunContext

SOURCE_TABLES: dict[str, Table] = {
    "events": BRONZE_EVENTS,
    "transactions": BRONZE_TRANSACTIONS,
    "profiles": BRONZE_PROFILES,
    "reviews": BRONZE_REVIEWS,
}

FILE_IDENTITY = ("_source_file", "_file_size", "_file_modified_at")


@dataclass(frozen=True)
class LandingFile:
    path: str
    size: int
    modified_at_ms: int


def list_landing_files(spark: SparkSession, folder: str) -> list[LandingFile]:
    """Data files under `folder`, recursively; names starting with _ or . are skipped the
    way Spark's own readers skip them (markers, checksums, ground truth)."""
    jvm = spark.sparkContext._jvm  # noqa: SLF001 - Hadoop FS reaches every filesystem
    hadoop_conf = spark.sparkContext._jsc.hadoopConfiguration()  # noqa: SLF001
    root = jvm.org.apache.hadoop.fs.Path(folder)
    fs = root.getFileSystem(hadoop_conf)
    if not fs.exists(root):
        return []
    found: list[LandingFile] = []
    pending = [root]
    while pending:
        for status in fs.listStatus(pending.pop()):
            name = status.getPath().getName()
            if name.startswith(("_", ".")):
                continue
            if status.isDirectory():
                pending.append(status.getPath())
            elif status.getLen() > 0:
                found.append(LandingFile(status.getPath().toString(), status.getLen(), status.getModificationTime()))
    return sorted(found, key=lambda f: f.path)


def with_ingest_metadata(df: DataFrame, run: RunContext, payload: Column) -> DataFrame:
    """Replace the reader's `_metadata` struct by where each record came from and which
    run brought it in, and a `_record_id` unique across bronze."""
    return (
        df.withColumn("_source_file", F.col("_metadata.file_path"))
        .withColumn("_file_size", F.col("_metadata.file_size"))
        .withColumn("_file_modified_at", F.unix_millis(F.col("_metadata.file_modification_time")))
        .withColumn("_ingested_at", F.lit(run.started_at).cast("timestamp"))
        .withColumn("_run_id", F.lit(run.run_id))
        # Unique even for two identical lines of one file (a device re-sending an event):
        # the file version and content, plus the row's position in this write.
        .withColumn(
            "_record_id",
            F.concat(
                F.substring(
                    F.sha2(
                        F.concat_ws("\u0001", "_source_file", F.col("_file_modified_at").cast("string"), payload), 256
                    ),
                    1,
                    24,
                ),
                F.lit("-"),
                F.hex(F.monotonically_increasing_id()),
            ),
        )
        .drop("_metadata")
    )


def read_source_files(spark: SparkSession, source: SourceConfig, paths: list[str]) -> DataFrame:
    """Read files as received, keeping the reader's `_metadata`: JSON as raw text lines
    (`_raw`), CSV/Parquet with every column a string so nothing fails to parse here."""
    if source.format == "json":
        df = spark.read.text(paths)
        return df.select(F.col("value").alias("_raw"), "_metadata")
    if source.format == "csv":
        df = spark.read.options(**{"header": "true", **source.options, "inferSchema": "false"}).csv(paths)
    else:
        df = spark.read.options(**source.options).parquet(paths)
    return df.select([F.col(f"`{c}`").cast("string").alias(c) for c in df.columns] + ["_metadata"])


def new_files(
    spark: SparkSession, catalog: Catalog, source_name: str, table: Table, files: list[LandingFile]
) -> tuple[list[LandingFile], DataFrame | None]:
    """Files not yet in `table` (same path, size and modification time), and the index
    rows of ingested files the index is missing (None when it is complete)."""
    if not files or not catalog.exists(spark, table):
        return files, None
    indexed = None
    newest_run = None
    if catalog.exists(spark, BRONZE_FILES):
        indexed = catalog.read(spark, BRONZE_FILES).where(F.col("source") == source_name)
        newest_run = indexed.agg(F.max("run_id")).first()[0]
    lineage = catalog.read(spark, table)
    if newest_run is not None:
        lineage = lineage.where(F.col("_run_id") >= F.lit(newest_run))
    # one row per landing file: file-level metadata, never records
    recent = lineage.select(
        F.lit(source_name).alias("source"),
        F.regexp_replace("_source_file", "^file:/+", "file:///").alias("path"),
        F.col("_file_size").alias("size"),
        F.col("_file_modified_at").alias("modified_at_ms"),
        F.col("_run_id").alias("run_id"),
    ).distinct()
    missing = (
        recent if indexed is None else recent.join(indexed, ["source", "path", "size", "modified_at_ms"], "left_anti")
    )
    missing = missing.localCheckpoint()
    known = [] if indexed is None else indexed.select("path", "size", "modified_at_ms").collect()
    seen = {(_same_form(r[0]), r[1], r[2]) for r in known + missing.select("path", "size", "modified_at_ms").collect()}
    new = [f for f in files if (_same_form(f.path), f.size, f.modified_at_ms) not in seen]
    return new, (missing if not missing.isEmpty() else None)


def _same_form(path: str) -> str:
    # Hadoop lists local files as file:/x while Spark's _metadata (and the index) say file:///x.
    return re.sub(r"^file:/+", "file:///", path)


@dataclass(frozen=True)
class BronzeResult:
    source: str
    files_new: int
    rows_added: int


def ingest_source(
    spark: SparkSession, cfg: SeglakeConfig, catalog: Catalog, run: RunContext, source_name: str
) -> BronzeResult:
    source: SourceConfig = getattr(cfg.sources, source_name)
    table = SOURCE_TABLES[source_name]
    folder = f"{cfg.paths.landing.rstrip('/')}/{source.path}"
    files, unindexed = new_files(spark, catalog, source_name, table, list_landing_files(spark, folder))
    if unindexed is not None:
        catalog.append(unindexed, BRONZE_FILES)
    if not files:
        return BronzeResult(source_name, 0, 0)
    raw = read_source_files(spark, source, [f.path for f in files])
    data_columns = [c for c in raw.columns if c != "_metadata"]
    payload = F.col("_raw") if source.format == "json" else F.to_json(F.struct(*data_columns))
    catalog.append(with_ingest_metadata(raw, run, payload), table)
    rows = catalog.last_commit_rows(spark, table)
    index = [(source_name, _same_form(f.path), f.size, f.modified_at_ms, run.run_id) for f in files]
    catalog.append(
        spark.createDataFrame(index, "source string, path string, size long, modified_at_ms long, run_id string"),
        BRONZE_FILES,
    )
    return BronzeResult(source_name, len(files), rows)


def ingest_bronze(spark: SparkSession, cfg: SeglakeConfig, catalog: Catalog, run: RunContext) -> list[BronzeResult]:
    landing = cfg.paths.landing
    if not _folder_exists(spark, landing):
        raise InputError(
            f"landing folder '{landing}' does not exist; run `seglake generate` for sample data "
            "or pass --landing <folder with events/, transactions/, profiles/, reviews/>"
        )
    return [ingest_source(spark, cfg, catalog, run, name) for name in SOURCE_TABLES]


def _folder_exists(spark: SparkSession, folder: str) -> bool:
    jvm = spark.sparkContext._jvm  # noqa: SLF001
    path = jvm.org.apache.hadoop.fs.Path(folder)
    return bool(path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()).exists(path))  # noqa: SLF001
