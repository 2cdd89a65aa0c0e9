"""Every table seglake reads or writes: its name, location, layout and keys, plus the
Delta I/O that writes it. Jobs, notebooks and tests ask this module for tables; nobody
else builds a path or calls `.write`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Literal

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from seglake.errors import InputError

Layer = Literal["bronze", "silver", "gold"]
# Held while a table is being created (its version 0, its metastore entry): stages that
# run side by side may make the first write to the same table, and two creations would
# conflict. Writes to existing tables do not take it.
_CREATING = threading.Lock()


@dataclass(frozen=True)
class WriteOnce:
    """Names a write that must land once although the streaming batch making it may run
    again after a crash. `tag` is stored in the commit (Delta's userMetadata); `check`,
    set when this attempt may repeat one that committed, makes the write look for the tag
    in the table's history first and skip itself when it is there. (Delta's own
    txnAppId/txnVersion does the same, but reconstructs the table's state on every write
    to look the version up: three more Spark jobs per append, in every run.)"""

    tag: str
    check: bool


@dataclass(frozen=True)
class Table:
    layer: Layer
    name: str
    description: str
    keys: tuple[str, ...] = ()
    partition_by: tuple[str, ...] = ()
    # Delta table properties set when the table is created (change feed, deletion vectors).
    properties: tuple[tuple[str, str], ...] = ()

    @property
    def qualified_name(self) -> str:
        return f"{self.layer}.{self.name}"


# --- bronze: raw records as received, plus where and when they came in -------------
BRONZE_EVENTS = Table("bronze", "events", "Raw event JSON lines as received, one row per line.")
BRONZE_TRANSACTIONS = Table("bronze", "transactions", "Raw order rows (all columns as strings).")
BRONZE_PROFILES = Table("bronze", "profiles", "Raw CRM profile rows (all columns as strings).")
BRONZE_REVIEWS = Table("bronze", "reviews", "Raw review JSON lines as received.")
BRONZE_FILES = Table(
    "bronze",
    "files",
    "Landing files already ingested (path, size, modification time, run): an index of the "
    "bronze tables' own lineage columns, so finding new files does not scan bronze.",
    keys=("source", "path", "size", "modified_at_ms"),
)

# --- silver: typed, deduplicated, stitched, sessionised ------------------------------
# Silver is maintained incrementally: each run merges only the bronze rows it has not seen.
# Deletion vectors make the few rows a batch changes (a late event re-sessionising a
# visit, a device linked to a customer after the fact) cheap to update in place; the
# change feed of silver.events tells the sessions stage exactly which sessions changed.
_UPDATABLE = (("delta.enableDeletionVectors", "true"),)
# Silver events are not partitioned by date: a year of daily partitions of a mid-size
# shop is thousands of small files; Delta's per-file min/max on `ts` already prunes reads.
SILVER_EVENTS = Table(
    "silver",
    "events",
    "Typed, deduplicated, bot-flagged, identity-stitched, sessionised events (UTC).",
    keys=("message_id",),
    properties=_UPDATABLE + (("delta.enableChangeDataFeed", "true"),),
)
SILVER_SESSIONS = Table(
    "silver",
    "sessions",
    "One row per session with session-level facts.",
    keys=("session_id",),
    properties=_UPDATABLE,
)
SILVER_ORDERS = Table("silver", "orders", "Typed, deduplicated orders.", keys=("order_id",))
SILVER_PROFILES = Table(
    "silver",
    "profiles",
    "Every distinct version of each customer's profile (PII pseudonymised); the version in "
    "force at a date is the latest with updated_at before it.",
    keys=("customer_id", "updated_at"),
)
SILVER_REVIEWS = Table("silver", "reviews", "Typed, deduplicated reviews.", keys=("review_id",))
SILVER_IDENTITY_MAP = Table(
    "silver",
    "identity_map",
    "anonymous id -> customer id links; earlier versions stay readable with Delta time travel.",
    keys=("anonymous_id",),
    properties=_UPDATABLE,
)
SILVER_QUARANTINE = Table(
    "silver",
    "quarantine",
    "Rejected records with the reason they were rejected.",
    keys=("source", "record_id"),
)
SILVER_DUPLICATES = Table(
    "silver",
    "duplicates",
    "Records dropped as copies of a record already kept (re-sends, replayed files), with the kept one.",
    keys=("source", "record_id"),
)
SILVER_CHANGED_DATES = Table(
    "silver",
    "changed_dates",
    "Per silver batch, the business dates whose rows were added or changed: snapshots after "
    "the earliest of them are stale (late events).",
    keys=("source", "batch_id", "date"),
)

# --- gold: what models, rules and marketing tools consume ----------------------------
GOLD_CUSTOMER_FEATURES = Table(
    "gold",
    "customer_features",
    "Point-in-time customer features, one row per customer per as_of.",
    keys=("customer_id", "as_of"),
    partition_by=("as_of",),
)
GOLD_CUSTOMER_DAILY_EVENTS = Table(
    "gold",
    "customer_daily_events",
    "Per customer and UTC day, the events' share of the feature snapshots (product views and "
    "cart value per listed category, events per operating system) from human events with a "
    "customer id; kept current from silver.events' change feed by the feature job.",
    keys=("customer_id", "day"),
    partition_by=("month",),
)
GOLD_FEATURE_DRIFT = Table(
    "gold",
    "feature_drift",
    "Population stability index (PSI) of each customer feature between a snapshot and the previous one.",
    keys=("as_of", "feature"),
    partition_by=("as_of",),
)
GOLD_FEATURE_HISTOGRAMS = Table(
    "gold",
    "feature_histograms",
    "Histogram of each customer feature per snapshot (log buckets, values, missing), the basis of its drift.",
    keys=("as_of", "feature", "bucket", "value"),
    partition_by=("as_of",),
)
GOLD_SEGMENT_ASSIGNMENTS = Table(
    "gold",
    "segment_assignments",
    "Segment id and persona per customer per as_of, with the distance to the segment's centre "
    "and the model version and run behind it.",
    keys=("customer_id", "as_of"),
    partition_by=("as_of",),
)
GOLD_SEGMENT_PROFILES = Table(
    "gold",
    "segment_profiles",
    "Per as_of and segment: persona, description, size, share, centroid in original units and "
    "in z-scores, top distinguishing features.",
    keys=("as_of", "segment_id"),
    partition_by=("as_of",),
)
GOLD_SEGMENT_TRANSITIONS = Table(
    "gold",
    "segment_transitions",
    "Customers moving from each segment of the previous as_of to each segment of this one "
    "(null: not segmented on that side, i.e. entered or left).",
    keys=("as_of", "from_segment_id", "to_segment_id"),
    partition_by=("as_of",),
)
GOLD_PROPENSITY_SCORES = Table(
    "gold",
    "propensity_scores",
    "Score and decile per customer per label per as_of, from the champion model (name, version, MLflow run).",
    keys=("customer_id", "as_of", "label"),
    partition_by=("as_of",),
)
GOLD_RUN_METRICS = Table(
    "gold",
    "run_metrics",
    "Rows and data-quality figures per job run.",
    keys=("run_id", "stage", "table_name", "metric"),
)

ALL_TABLES: tuple[Table, ...] = (
    BRONZE_EVENTS,
    BRONZE_TRANSACTIONS,
    BRONZE_PROFILES,
    BRONZE_REVIEWS,
    BRONZE_FILES,
    SILVER_EVENTS,
    SILVER_SESSIONS,
    SILVER_ORDERS,
    SILVER_PROFILES,
    SILVER_REVIEWS,
    SILVER_IDENTITY_MAP,
    SILVER_QUARANTINE,
    SILVER_DUPLICATES,
    SILVER_CHANGED_DATES,
    GOLD_CUSTOMER_FEATURES,
    GOLD_CUSTOMER_DAILY_EVENTS,
    GOLD_FEATURE_DRIFT,
    GOLD_FEATURE_HISTOGRAMS,
    GOLD_SEGMENT_ASSIGNMENTS,
    GOLD_SEGMENT_PROFILES,
    GOLD_SEGMENT_TRANSITIONS,
    GOLD_PROPENSITY_SCORES,
    GOLD_RUN_METRICS,
)


def table(qualified_name: str) -> Table:
    """Look a table up by `layer.name`."""
    for t in ALL_TABLES:
        if t.qualified_name == qualified_name:
            return t
    raise KeyError(qualified_name)


class Catalog:
    """Locations of the tables of one lake, and the only code that writes them."""

    def __init__(self, lake_root: str, database: str | None = None) -> None:
        self.lake_root = lake_root.rstrip("/")
        self.database = database

    def path(self, t: Table) -> str:
        return f"{self.lake_root}/{t.layer}/{t.name}"

    def metastore_name(self, t: Table) -> str | None:
        return f"{self.database}.{t.layer}_{t.name}" if self.database else None

    def exists(self, spark: SparkSession, t: Table) -> bool:
        return DeltaTable.isDeltaTable(spark, self.path(t))

    def require(self, spark: SparkSession, tables: tuple[Table, ...], producer: str) -> None:
        """Fail with the command to run when an input table has not been produced yet."""
        for t in tables:
            if not self.exists(spark, t):
                raise InputError(f"{t.qualified_name} does not exist at {self.path(t)}; run `seglake {producer}` first")

    def read(self, spark: SparkSession, t: Table, version: int | None = None) -> DataFrame:
        reader = spark.read.format("delta")
        if version is not None:
            reader = reader.option("versionAsOf", version)
        return reader.load(self.path(t))

    def delta(self, spark: SparkSession, t: Table) -> DeltaTable:
        return DeltaTable.forPath(spark, self.path(t))

    def last_commit_rows(self, spark: SparkSession, t: Table) -> int:
        """Rows written by the table's latest commit, from Delta's operation metrics."""
        metrics = self.delta(spark, t).history(1).select("operationMetrics").first()[0] or {}
        return int(metrics.get("numOutputRows", 0))

    def table_id(self, spark: SparkSession, t: Table) -> str:
        """The table's Delta id (what a streaming read of it checkpoints), from the log
        Delta keeps cached per path: no Spark job, unlike DeltaTable.detail()."""
        return self._delta_log(spark, t).tableId()

    def _delta_log(self, spark: SparkSession, t: Table):
        return spark.sparkContext._jvm.org.apache.spark.sql.delta.DeltaLog.forTable(  # noqa: SLF001
            spark._jsparkSession,  # noqa: SLF001
            self.path(t),
        )

    def version(self, spark: SparkSession, t: Table) -> int:
        """The table's latest committed version (from its log; no Spark job)."""
        empty = spark.sparkContext._jvm.scala.Option.empty()  # noqa: SLF001
        return int(self._delta_log(spark, t).update(False, empty, empty).version())

    def last_user_metadata(self, spark: SparkSession, t: Table) -> str | None:
        """The `userMetadata` of the table's latest commit (None when it has none)."""
        row = self.delta(spark, t).history(1).select("userMetadata").first()
        return row[0] if row else None

    def changes(self, spark: SparkSession, t: Table, first: int, last: int) -> DataFrame:
        """The table's change feed (inserted, updated before/after, deleted rows) of
        versions first..last (the table must have the change feed on since `first`)."""
        return (
            spark.read.format("delta")
            .option("readChangeFeed", "true")
            .option("startingVersion", first)
            .option("endingVersion", last)
            .load(self.path(t))
        )

    def has_commit(self, spark: SparkSession, t: Table, version: int) -> bool:
        """Whether version `version` of the table is committed (its log entry exists)."""
        entry = spark.sparkContext._jvm.org.apache.hadoop.fs.Path(f"{self.path(t)}/_delta_log/{version:020d}.json")  # noqa: SLF001
        return entry.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()).exists(entry)  # noqa: SLF001

    # -- writes -------------------------------------------------------------------
    def append(self, df: DataFrame, t: Table, once: WriteOnce | None = None) -> None:
        """Append; with `once`, an append already committed under its tag is not repeated."""
        spark = df.sparkSession
        if once is not None and once.check and self._committed(spark, t, once.tag):
            return
        if t.properties:
            self.create(df, t)
        writer = self._writer(df, t, "append").option("mergeSchema", "true")
        if once is not None:
            writer = writer.option("userMetadata", once.tag)
        if self.exists(spark, t):
            writer.save(self.path(t))
        else:
            with _CREATING:
                writer.save(self.path(t))
        self._register(spark, t)

    def create(self, df: DataFrame, t: Table) -> None:
        """Create `t` empty with `df`'s schema and the table's properties, if it does not
        exist, so properties such as the change feed hold from its first version on."""
        spark = df.sparkSession
        if self.exists(spark, t):
            return
        builder = DeltaTable.createIfNotExists(spark).location(self.path(t)).addColumns(df.schema)
        if t.partition_by:
            builder = builder.partitionedBy(*t.partition_by)
        for key, value in t.properties:
            builder = builder.property(key, value)
        with _CREATING:
            builder.execute()

    def insert_new(self, df: DataFrame, t: Table) -> None:
        """MERGE that only inserts rows whose keys are not in the table yet."""
        self._merge_on_keys(df, t, update_matches=False)

    def overwrite(self, df: DataFrame, t: Table, user_metadata: str | None = None) -> None:
        """Replace the whole table (schema included): for tables rebuilt from scratch.
        `user_metadata` is recorded in the commit (e.g. what the rows were computed from)."""
        writer = self._writer(df, t, "overwrite").option("overwriteSchema", "true")
        if user_metadata is not None:
            writer = writer.option("userMetadata", user_metadata)
        writer.save(self.path(t))
        self._register(df.sparkSession, t)

    def replace_where(self, df: DataFrame, t: Table, predicate: str, user_metadata: str | None = None) -> None:
        """Atomically replace exactly the rows matching `predicate` (e.g. one as_of)."""
        writer = self._writer(df, t, "overwrite").option("replaceWhere", predicate).option("mergeSchema", "true")
        if user_metadata is not None:
            writer = writer.option("userMetadata", user_metadata)
        writer.save(self.path(t))
        self._register(df.sparkSession, t)

    def set_column_comments(self, spark: SparkSession, t: Table, comments: dict[str, str]) -> int:
        """Make the table's column comments match `comments`; only columns whose comment
        differs are altered (usually none: writes carry the comments in their schema).
        Returns how many were changed."""
        current = {f.name: f.metadata.get("comment") for f in self.read(spark, t).schema.fields}
        changed = {c: text for c, text in comments.items() if c in current and current[c] != text}
        for column, text in changed.items():
            quoted = text.replace("\\", "\\\\").replace("'", "\\'")
            spark.sql(f"ALTER TABLE delta.`{self.path(t)}` ALTER COLUMN `{column}` COMMENT '{quoted}'")
        return len(changed)

    def upsert(self, df: DataFrame, t: Table) -> None:
        """MERGE on the table's keys: update matches, insert the rest."""
        self._merge_on_keys(df, t, update_matches=True)

    def _committed(self, spark: SparkSession, t: Table, tag: str) -> bool:
        """Whether a commit of `t` carries `tag` (reads the commit log, not the data)."""
        if not self.exists(spark, t):
            return False
        return not self.delta(spark, t).history().where(F.col("userMetadata") == tag).isEmpty()

    def _merge_on_keys(self, df: DataFrame, t: Table, update_matches: bool) -> None:
        self.create(df, t)
        merge = self.delta(df.sparkSession, t).alias("t").merge(df.alias("s"), self._key_match(t))
        if update_matches:
            merge = merge.whenMatchedUpdateAll()
        merge.whenNotMatchedInsertAll().execute()

    def checkpoint(self, name: str) -> str:
        """Where the streaming query `name` keeps its progress (offsets, commits)."""
        return f"{self.lake_root}/_checkpoints/{name}"

    def drop(self, spark: SparkSession, t: Table) -> None:
        """Delete the table's files (full refresh); its metastore entry is kept."""
        self._delete_path(spark, self.path(t))
        # Delta caches each table's log per path; a cached log would outlive the files.
        spark.sparkContext._jvm.org.apache.spark.sql.delta.DeltaLog.clearCache()  # noqa: SLF001

    def drop_checkpoint(self, spark: SparkSession, name: str) -> None:
        self._delete_path(spark, self.checkpoint(name))

    @staticmethod
    def _key_match(t: Table) -> str:
        return " AND ".join(f"t.`{k}` <=> s.`{k}`" for k in t.keys)

    @staticmethod
    def _delete_path(spark: SparkSession, path: str) -> None:
        jvm = spark.sparkContext._jvm  # noqa: SLF001 - Hadoop FS reaches every filesystem
        target = jvm.org.apache.hadoop.fs.Path(path)
        target.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()).delete(target, True)  # noqa: SLF001

    def _writer(self, df: DataFrame, t: Table, mode: str):
        writer = df.write.format("delta").mode(mode)
        if t.partition_by:
            writer = writer.partitionBy(*t.partition_by)
        return writer

    def _register(self, spark: SparkSession, t: Table) -> None:
        name = self.metastore_name(t)
        if name is None:
            return
        with _CREATING:
            spark.sql(f"CREATE DATABASE IF NOT EXISTS `{self.database}`")
            spark.sql(f"CREATE TABLE IF NOT EXISTS {name} USING DELTA LOCATION '{self.path(t)}'")
