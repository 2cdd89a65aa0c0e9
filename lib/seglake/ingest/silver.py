"""bronze -> silver: incremental, exactly once, orchestration (read, transform, write, measure).

Each source is a Structured Streaming query over its bronze Delta table with
`Trigger.AvailableNow`: a run processes the bronze rows added since the last run (all of
them on the first run) and stops. The checkpoint under `<lake>/_checkpoints/` records
which bronze versions are done; a batch is written with idempotent steps (appends of
records not stored yet, appends tagged with the batch they belong to, MERGEs keyed on
record ids), so a run killed mid-batch is simply finished by the next one. A replayed
landing file is already in bronze, and a re-sent record is a duplicate of the silver row
with its key: neither changes silver.

Sources run side by side, each after the sources its `exists_in` rules read (orders and
reviews after profiles, with the shipped rules); the sessions stream runs with the events,
before (to finish what a killed run left) and after them, from silver.events' change
feed. Every bronze row ends in exactly one of silver, silver.quarantine (with reasons) or
silver.duplicates.
`full_refresh` drops silver and its checkpoints and rebuilds everything in one batch.
"""

from __future__ import annotations

import functools
import json
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from pyspark import StorageLevel
from pyspark.errors import StreamingQueryException
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from seglake.catalog import (
    BRONZE_EVENTS,
    BRONZE_PROFILES,
    BRONZE_REVIEWS,
    BRONZE_TRANSACTIONS,
    SILVER_CHANGED_DATES,
    SILVER_DUPLICATES,
    SILVER_EVENTS,
    SILVER_IDENTITY_MAP,
    SILVER_ORDERS,
    SILVER_PROFILES,
    SILVER_QUARANTINE,
    SILVER_REVIEWS,
    SILVER_SESSIONS,
    Catalog,
    Table,
    WriteOnce,
    table,
)
from seglake.config.schema import QualityRule, SeglakeConfig
from seglake.contract import ORDER_COLUMNS, PROFILE_COLUMNS
from seglake.errors import ConfigError
from seglake.ingest import events as ev
from seglake.ingest import rules as rules_mod
from seglake.ingest import sources as src
from seglake.ingest.quality import (
    WORKING_COLUMNS,
    is_duplicate,
    is_fresh,
    mark_duplicates,
    split_marked,
    split_quarantine,
)
from seglake.ingest.silver_events import apply_events, apply_session_changes, changed_dates
from seglake.runs import RunContext

# source -> (bronze table, silver table, deduplication key, business date column)
SOURCES: dict[str, tuple[Table, Table, tuple[str, ...], str]] = {
    "profiles": (BRONZE_PROFILES, SILVER_PROFILES, ("customer_id", "updated_at"), "updated_at"),
    "transactions": (BRONZE_TRANSACTIONS, SILVER_ORDERS, ("order_id",), "order_ts"),
    "reviews": (BRONZE_REVIEWS, SILVER_REVIEWS, ("review_id",), "review_ts"),
    "events": (BRONZE_EVENTS, SILVER_EVENTS, ("message_id",), "ts"),
}
SILVER_TABLES = (
    SILVER_EVENTS, SILVER_SESSIONS, SILVER_ORDERS, SILVER_PROFILES, SILVER_REVIEWS, SILVER_IDENTITY_MAP,
    SILVER_QUARANTINE, SILVER_DUPLICATES, SILVER_CHANGED_DATES,
)  # fmt: skip
ONE_BATCH_FILES = 1_000_000_000
# Up to this many bronze rows, a batch's keys are broadcast to probe the silver tables
# (a few MB of ids); a larger backlog joins by shuffling instead.
BROADCAST_MAX_ROWS = 1_000_000


@dataclass
class RunCounts:
    """What this run did for one source (all its batches)."""

    bronze_rows: int = 0
    silver_rows: int = 0
    quarantined_rows: int = 0
    duplicates_removed: int = 0
    changed_rows: int = 0
    late_rows: int = 0
    batches: int = 0


@dataclass(frozen=True)
class SourceCounts:
    """Totals over the tables: every bronze row is in exactly one of silver, quarantine
    and duplicates, each counted in its own table, so `balanced` is a real check."""

    source: str
    bronze_rows: int
    silver_rows: int
    quarantined_rows: int
    duplicates_removed: int
    this_run: RunCounts

    @property
    def balanced(self) -> bool:
        return self.bronze_rows == self.silver_rows + self.quarantined_rows + self.duplicates_removed


@dataclass(frozen=True)
class SilverResult:
    sources: list[SourceCounts]
    quarantine_by_reason: dict[str, int]
    bot_events: int
    sessions: int
    sessions_rebuilt: int
    identity_links: int
    rule_outcomes: list[rules_mod.RuleOutcome]
    # field -> events carrying it, for fields outside seglake's event schema (drift)
    unparsed_event_fields: dict[str, int]
    # business dates whose silver rows this run added or changed (late data included)
    changed_dates: list[str]


@dataclass
class _Run:
    """Accumulates what the batches of one run report."""

    counts: dict[str, RunCounts] = field(default_factory=lambda: {name: RunCounts() for name in SOURCES})
    violations: Counter = field(default_factory=Counter)
    drift: Counter = field(default_factory=Counter)
    sessions_rebuilt: int = 0
    # Sources report from their own threads.
    lock: threading.Lock = field(default_factory=threading.Lock)


def build_silver(
    spark: SparkSession, cfg: SeglakeConfig, catalog: Catalog, run: RunContext, full_refresh: bool = False
) -> SilverResult:
    catalog.require(spark, tuple(bronze for bronze, *_ in SOURCES.values()), "bronze")
    rules = {name: getattr(cfg.quality, name) for name in SOURCES}
    deps = source_dependencies(rules)
    stage_order(deps)  # a cycle is a config error before anything is dropped or written
    if full_refresh:
        for t in SILVER_TABLES:
            catalog.drop(spark, t)
        for name in [*SOURCES, "sessions"]:
            catalog.drop_checkpoint(spark, _stream_name(name))
    acc = _Run()

    def update_sessions() -> None:
        """Bring silver.sessions up to date with every committed change of silver.events."""
        if not catalog.exists(spark, SILVER_EVENTS):
            return

        def rebuild(changes: DataFrame, batch: Batch) -> None:
            acc.sessions_rebuilt += apply_session_changes(spark, catalog, changes)

        checkpoint = catalog.checkpoint(_stream_name("sessions"))
        _run_available_now(spark, catalog, SILVER_EVENTS, checkpoint, rebuild, change_feed=True)

    def run_source(name: str) -> None:
        process = _batch_processor(spark, cfg, catalog, run, name, rules[name], acc)
        _run_available_now(spark, catalog, SOURCES[name][0], catalog.checkpoint(_stream_name(name)), process)

    def run_events() -> None:
        # The events stage reads session starts: finish what a killed run left undone first.
        update_sessions()
        run_source("events")
        update_sessions()

    stages: dict[str, Callable[[], None]] = {name: functools.partial(run_source, name) for name in SOURCES}
    run_stages({**stages, "events": run_events}, deps)
    outcomes = [
        rules_mod.RuleOutcome(rule, acc.violations[(name, rule.name)]) for name in SOURCES for rule in rules[name]
    ]
    return _measure(spark, catalog, run, acc, outcomes)


def _stream_name(source: str) -> str:
    return f"silver_{source}"


def source_dependencies(rules: dict[str, list[QualityRule]]) -> dict[str, set[str]]:
    """source -> the sources whose silver table its `exists_in` rules read: those run
    first, so the reference holds this run's rows."""
    by_table = {silver.qualified_name: name for name, (_, silver, *_) in SOURCES.items()}
    references = {
        name: {_reference(rule)[0] for rule in source_rules if rule.check == "exists_in"}
        for name, source_rules in rules.items()
    }
    return {name: {by_table[t] for t in tables if t in by_table} - {name} for name, tables in references.items()}


def _reference(rule: QualityRule) -> tuple[str, str]:
    """(layer.table, column) an `exists_in` rule looks values up in."""
    table_name, column = rule.reference.rsplit(".", 1)  # type: ignore[union-attr]
    return table_name, column


def stage_order(deps: dict[str, set[str]]) -> list[str]:
    """The stages, each after its dependencies (otherwise in the given order)."""
    order: list[str] = []
    while len(order) < len(deps):
        ready = [name for name in deps if name not in order and deps[name] <= set(order)]
        if not ready:
            cycle = ", ".join(name for name in deps if name not in order)
            raise ConfigError(f"quality rules: the exists_in references of {cycle} form a cycle; nothing can run first")
        order += ready
    return order


def run_stages(stages: dict[str, Callable[[], None]], deps: dict[str, set[str]]) -> None:
    """Run every stage once the stages it depends on are done, independent ones side by
    side: a small source's batch is mostly driver-side latency (planning, Delta commits,
    starting a streaming query) that overlaps with the events' work instead of adding to
    it. Every started stage ends before the first failure (in stage order) is raised; a
    stage whose dependency failed fails with the same error without running."""
    order = stage_order(deps)
    futures: dict[str, Future] = {}

    def run(name: str) -> None:
        for before in deps[name]:
            futures[before].result()
        stages[name]()

    with ThreadPoolExecutor(max_workers=len(stages), thread_name_prefix="silver") as pool:
        for name in order:  # a stage's dependencies are submitted before it
            futures[name] = pool.submit(run, name)
    for name in stages:
        futures[name].result()


@dataclass(frozen=True)
class Batch:
    """One micro-batch of a silver stream: its number in the stream whose checkpoint id is
    `stream_id`, and whether an interrupted run had started it (`replay`: its offsets are
    logged, its commit is not), in which case some of its writes may be committed."""

    stream_id: str
    number: int
    replay: bool

    def once(self, writer: str) -> WriteOnce:
        return WriteOnce(f"{writer}@{self.stream_id}#{self.number}", check=self.replay)


def _run_available_now(
    spark: SparkSession,
    catalog: Catalog,
    t: Table,
    checkpoint: str,
    process: Callable[[DataFrame, Batch], None],
    change_feed: bool = False,
) -> None:
    """Process what the Delta table `t` gained since `checkpoint`, batch by batch, then
    stop (without starting a query when it gained nothing). A seglake error raised inside
    a batch (a failed quality rule) is raised here as itself, not as Spark's wrapper."""
    progress = _Checkpoint(spark, checkpoint)
    last = progress.last_batch()
    done = last is not None and progress.committed(last)
    if done and _caught_up(spark, catalog, t, progress.offset(last)):  # type: ignore[arg-type]
        return
    # A batch started and not committed is replayed first (same number, same rows).
    pending = last if not done else None
    raised: list[BaseException] = []

    def guarded(df: DataFrame, batch_id: int) -> None:
        try:
            process(df, Batch(progress.stream_id(), batch_id, replay=batch_id == pending))
        except Exception as exc:
            raised.append(exc)
            raise

    # One batch per run: the events stage relies on sessions being current when it starts.
    reader = spark.readStream.format("delta").option("maxFilesPerTrigger", ONE_BATCH_FILES)
    if change_feed:
        reader = reader.option("readChangeFeed", "true")
    query = (
        reader.load(catalog.path(t))
        .writeStream.foreachBatch(guarded)
        .option("checkpointLocation", checkpoint)
        .trigger(availableNow=True)
        .start()
    )
    try:
        query.awaitTermination()
    except StreamingQueryException:
        if raised:
            raise raised[-1] from None
        raise


class _Checkpoint:
    """What a streaming checkpoint records: per batch an offsets file (written when the
    batch starts) and a commits file (when it is done), and the query id in `metadata`.
    Read with Hadoop's FileSystem, which reaches every filesystem Spark does."""

    def __init__(self, spark: SparkSession, location: str) -> None:
        self._jvm = spark.sparkContext._jvm  # noqa: SLF001
        self._conf = spark.sparkContext._jsc.hadoopConfiguration()  # noqa: SLF001
        self._location = location

    def last_batch(self) -> int | None:
        offsets = self._path("offsets")
        fs = offsets.getFileSystem(self._conf)
        if not fs.exists(offsets):
            return None
        batches = [int(f.getPath().getName()) for f in fs.listStatus(offsets) if f.getPath().getName().isdigit()]
        return max(batches, default=None)

    def committed(self, batch: int) -> bool:
        done = self._path(f"commits/{batch}")
        return done.getFileSystem(self._conf).exists(done)

    def offset(self, batch: int) -> dict:
        """The source offset the batch ends at (the last line of its offsets file)."""
        return json.loads(self._read(f"offsets/{batch}").strip().splitlines()[-1])

    def stream_id(self) -> str:
        return json.loads(self._read("metadata"))["id"]

    def _path(self, name: str):
        return self._jvm.org.apache.hadoop.fs.Path(f"{self._location}/{name}")

    def _read(self, name: str) -> str:
        path = self._path(name)
        stream = path.getFileSystem(self._conf).open(path)
        try:
            return self._jvm.org.apache.commons.io.IOUtils.toString(stream, "UTF-8")
        finally:
            stream.close()


def _caught_up(spark: SparkSession, catalog: Catalog, t: Table, offset: dict) -> bool:
    """True when the Delta table `t` has no version after the one a committed stream
    batch ended at (`offset`, Delta source format: the next version to read, `index` -1
    = from its start): starting the query would only find that out, more slowly."""
    if offset.get("index") != -1 or offset.get("isStartingVersion") is not False:
        return False
    next_version = offset.get("reservoirVersion")
    if not isinstance(next_version, int) or offset.get("reservoirId") != catalog.table_id(spark, t):
        return False
    return not catalog.has_commit(spark, t, next_version)


def _batch_processor(
    spark: SparkSession,
    cfg: SeglakeConfig,
    catalog: Catalog,
    run: RunContext,
    name: str,
    rules: list[QualityRule],
    acc: _Run,
) -> Callable[[DataFrame, int], None]:
    _, silver, keys, date_column = SOURCES[name]
    writer = f"silver:{name}"

    def process(bronze_batch: DataFrame, batch: Batch) -> None:
        # Intermediate results are kept on disk, not in memory: a first run is one batch
        # holding all of history, and the sorts of deduplication and sessions need the
        # memory more than these caches do.
        parsed = _parse(bronze_batch, name, cfg).persist(StorageLevel.DISK_ONLY)
        cached = [parsed]
        try:
            counts = acc.counts[name]
            counts.batches += 1
            if name == "events":
                # Rows and schema drift in one pass (the null field counts every row).
                drift = {r["field"]: r["records"] for r in ev.unparsed_fields(parsed, with_total=True).collect()}
                batch_rows = drift.pop(None, 0)
                with acc.lock:
                    acc.drift.update(drift)
            else:
                batch_rows = parsed.count()
            counts.bronze_rows += batch_rows
            small_batch = batch_rows <= BROADCAST_MAX_ROWS
            good, structural_bad = split_quarantine(parsed, name, RAW[name]())
            typed = _type(good, name, cfg)
            rules_mod.check_rules(name, rules, typed.columns)
            checked = rules_mod.with_rule_violations(typed, rules, _references(spark, catalog, name, typed, rules))
            if any(r.check == "exists_in" for r in rules):
                # The reference joins run once, not once per use of the checked rows.
                checked = checked.persist(StorageLevel.DISK_ONLY)
                cached.append(checked)
            tally = rules_mod.tally(checked, rules)
            found = tally.outcomes
            rules_mod.raise_on_failures(name, found)
            with acc.lock:
                acc.violations.update({(name, o.rule.name): o.violations for o in found})
            valid, rules_bad = _split_on_rules(checked, name, rules)
            stored = catalog.read(spark, silver) if catalog.exists(spark, silver) else None
            # Materialised once: the new rows are read several times (counts, identity
            # links, stitching, the write), and the duplicates come from the same ranking.
            marked = mark_duplicates(_silver(valid), keys, stored, small_batch).localCheckpoint(
                storageLevel=StorageLevel.DISK_ONLY
            )
            cached.append(marked)
            fresh, duplicates = split_marked(marked, name, keys)
            fresh_rows, duplicate_rows = marked.agg(F.count_if(is_fresh()), F.count_if(is_duplicate())).first()
            quarantine = structural_bad.unionByName(rules_bad).withColumn(
                "quarantined_at", F.lit(run.started_at).cast("timestamp")
            )
            duplicates = duplicates.withColumn("run_id", F.lit(run.run_id)).withColumn(
                "removed_at", F.lit(run.started_at).cast("timestamp")
            )
            # Rows failing the structural checks, plus rows breaking a quarantine rule.
            quarantined_rows = batch_rows - tally.rows + tally.quarantined
            if quarantined_rows:
                catalog.append(quarantine, SILVER_QUARANTINE, once=batch.once(writer))
            counts.quarantined_rows += quarantined_rows
            if duplicate_rows:
                catalog.append(duplicates, SILVER_DUPLICATES, once=batch.once(writer))
            counts.duplicates_removed += duplicate_rows
            if name == "events":
                dates_once = batch.once(f"{writer}:changed_dates")
                written = apply_events(
                    spark, catalog, cfg.ingest, fresh, batch.number, dates_once, run.run_id, small_batch
                )
                counts.silver_rows += written.inserted
                counts.changed_rows += written.updated
                counts.late_rows += written.late
            else:
                # Empty writes are skipped (each is a Delta commit), except the one creating a table.
                if fresh_rows or not catalog.exists(spark, SILVER_CHANGED_DATES):
                    dates = fresh.groupBy(F.to_date(date_column).alias("date")).agg(
                        F.count(F.lit(1)).alias("rows_added")
                    )
                    catalog.append(
                        changed_dates(dates, name, batch.number, run.run_id),
                        SILVER_CHANGED_DATES,
                        once=batch.once(f"{writer}:changed_dates"),
                    )
                # A plain append is exactly once: fresh rows are those whose record is not
                # stored yet (see mark_duplicates), so a batch replayed after a crash finds
                # its rows stored and appends nothing: no WriteOnce tag needed.
                catalog.create(fresh, silver)
                if fresh_rows:
                    rows = fresh.select(*stored.columns) if stored is not None else fresh
                    catalog.append(rows, silver)
                counts.silver_rows += fresh_rows
        finally:
            for df in cached:
                df.unpersist()

    return process


def _parse(bronze: DataFrame, name: str, cfg: SeglakeConfig) -> DataFrame:
    """Bronze rows with `_reasons` for what makes them unreadable (code-defined checks)."""
    mapping = cfg.sources
    if name == "events":
        return ev.validate_events(ev.parse_events(bronze), cfg.ingest)
    if name == "transactions":
        orders = src.canonical_columns(bronze, name, ORDER_COLUMNS, mapping.transactions.columns)
        return src.validate_orders(orders, cfg.ingest.future_tolerance_hours)
    if name == "profiles":
        return src.validate_profiles(src.canonical_columns(bronze, name, PROFILE_COLUMNS, mapping.profiles.columns))
    return src.validate_reviews(src.parse_reviews(bronze))


def _type(good: DataFrame, name: str, cfg: SeglakeConfig) -> DataFrame:
    secret = cfg.ingest.pii_secret
    if name == "events":
        return ev.normalise_events(good, secret)
    if name == "transactions":
        return src.type_orders(good)
    if name == "profiles":
        return src.type_profiles(good, secret)
    return src.type_reviews(good, cfg.ingest.max_string_length)


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
    spark: SparkSession, catalog: Catalog, source: str, typed: DataFrame, rules: list[QualityRule]
) -> dict[str, DataFrame]:
    """Tables named by `exists_in` rules, as stored (sources earlier in the run are already
    merged); a rule on the source being processed also sees this batch's rows."""
    own = SOURCES[source][1].qualified_name
    out: dict[str, DataFrame] = {}
    for rule in (r for r in rules if r.check == "exists_in"):
        name, column = _reference(rule)
        try:
            t = table(name)
        except KeyError:
            raise ConfigError(f"quality rule '{rule.name}': reference table '{name}' is not a seglake table") from None
        if catalog.exists(spark, t):
            keys = catalog.read(spark, t).select(column)
        elif t.layer == "silver":
            keys = typed.sparkSession.createDataFrame([], f"`{column}` string")  # nothing stored yet: no match
        else:
            catalog.require(spark, (t,), "pipeline")
        if name == own:
            keys = keys.unionByName(typed.select(column))
        out[name] = keys
    return out


def _split_on_rules(df: DataFrame, source: str, rules: list[QualityRule]) -> tuple[DataFrame, DataFrame]:
    """Rows breaking a quarantine-action rule go to the quarantine with those rule names."""
    names = rules_mod.quarantine_rules(rules)
    quarantine_names = F.array(*[F.lit(n) for n in names]) if names else F.array().cast("array<string>")
    marked = df.withColumn("_reasons", F.array_intersect(F.col(rules_mod.VIOLATIONS), quarantine_names))
    return split_quarantine(marked, source, RAW[source]())


def _silver(df: DataFrame) -> DataFrame:
    return df.drop(*WORKING_COLUMNS)


def _measure(
    spark: SparkSession, catalog: Catalog, run: RunContext, acc: _Run, outcomes: list[rules_mod.RuleOutcome]
) -> SilverResult:
    def count_by(t: Table, *cols: str) -> list[tuple]:
        if not catalog.exists(spark, t):
            return []
        picked = catalog.read(spark, t).select(*cols)
        # a handful of rows: sources, combinations of reasons
        return [tuple(r) for r in picked.groupBy(*cols).agg(F.count(F.lit(1))).collect()]

    def rows(t: Table) -> int:
        return catalog.read(spark, t).count() if catalog.exists(spark, t) else 0

    def changed() -> list[str]:
        if not catalog.exists(spark, SILVER_CHANGED_DATES):
            return []
        mine = catalog.read(spark, SILVER_CHANGED_DATES).where(F.col("run_id") == run.run_id)
        return [r[0].isoformat() for r in mine.select("date").distinct().orderBy("date").collect()]

    def bots() -> int:
        return catalog.read(spark, SILVER_EVENTS).where("is_bot").count() if catalog.exists(spark, SILVER_EVENTS) else 0

    counted = (
        SILVER_SESSIONS,
        SILVER_IDENTITY_MAP,
        *(t for bronze, silver, *_ in SOURCES.values() for t in (bronze, silver)),
    )
    queries: dict[str, Callable[[], object]] = {
        "quarantine": lambda: count_by(SILVER_QUARANTINE, "source", "reasons"),
        "duplicates": lambda: count_by(SILVER_DUPLICATES, "source"),
        "changed": changed,
        "bots": bots,
        **{t.qualified_name: (lambda t=t: rows(t)) for t in counted},
    }
    # A dozen small queries, each mostly Delta log reading and planning on the driver:
    # run side by side, they overlap instead of adding up.
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {name: pool.submit(query) for name, query in queries.items()}
        got = {name: future.result() for name, future in futures.items()}
    quarantined: Counter = Counter()
    by_reason: Counter = Counter()
    for source, reasons, n in got["quarantine"]:
        quarantined[source] += n
        by_reason.update({(source, reason): n for reason in reasons})
    duplicates = {source: n for source, n in got["duplicates"]}
    counts = [
        SourceCounts(
            name,
            got[bronze.qualified_name],
            got[silver.qualified_name],
            quarantined[name],
            duplicates.get(name, 0),
            acc.counts[name],
        )
        for name, (bronze, silver, *_) in SOURCES.items()
    ]
    return SilverResult(
        sources=counts,
        quarantine_by_reason={f"{s}:{r}": n for (s, r), n in sorted(by_reason.items())},
        bot_events=got["bots"],
        sessions=got[SILVER_SESSIONS.qualified_name],
        sessions_rebuilt=acc.sessions_rebuilt,
        identity_links=got[SILVER_IDENTITY_MAP.qualified_name],
        rule_outcomes=outcomes,
        unparsed_event_fields=dict(sorted(acc.drift.items())),
        changed_dates=got["changed"],
    )
