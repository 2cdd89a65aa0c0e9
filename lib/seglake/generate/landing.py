"""Write a synthetic landing zone: events, transactions, profiles, reviews and ground truth.

Customers are processed in chunks; each chunk is one Spark write per source, so driver
and executor memory depend on the chunk size, never on the total number of events.
Layout, for chunk CCCCC and file FF:

    events/part-CCCCC-FF.json.gz        Segment-spec JSON lines (files_per_chunk files)
    transactions/part-CCCCC.csv         order system export, company column names
    profiles/part-CCCCC.csv             CRM export, with updates and broken rows
    reviews/part-CCCCC.json.gz          review JSON lines (French and English)
    _truth/customers/part-CCCCC.csv     planted personas, bots, devices, order counts
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from pyspark.sql import DataFrame, Observation, SparkSession
from pyspark.sql import functions as F

from seglake.config.schema import GeneratorConfig
from seglake.contract import PROFILE_COLUMNS
from seglake.errors import ConfigError, EnvironmentSetupError, InputError
from seglake.generate.columns import Transform
from seglake.generate.commerce import TRANSACTION_COLUMNS, review_rows, transaction_rows
from seglake.generate.context import Chunk, GenContext
from seglake.generate.events import event_lines
from seglake.generate.files import LandingFiles
from seglake.generate.profiles import profile_rows
from seglake.generate.sessions import sessions
from seglake.generate.truth import TRUTH_COLUMNS, truth_rows
from seglake.generate.visitors import chunk_visitors, visitor_traits

EVENTS = "events"
TRANSACTIONS = "transactions"
PROFILES = "profiles"
REVIEWS = "reviews"
# Ground truth sits under an underscore folder, which Spark's file sources skip.
TRUTH = "_truth/customers"
# The folders this module owns and replaces on every run.
OUTPUTS = (EVENTS, TRANSACTIONS, PROFILES, REVIEWS, TRUTH)


@dataclass(frozen=True)
class GenerationSummary:
    """What a run wrote; `lines()` is the short report the CLI prints."""

    landing: str
    customers: int
    bots: int
    events_lines: int
    transactions: int
    profiles: int
    reviews: int
    chunks: int
    seconds: float

    def lines(self) -> list[str]:
        return [
            f"landing zone      {self.landing}",
            f"customers         {self.customers:,} (+ {self.bots:,} bot visitors)",
            f"event lines       {self.events_lines:,} (including duplicates and dirty lines)",
            f"transactions      {self.transactions:,} rows",
            f"profiles          {self.profiles:,} rows",
            f"reviews           {self.reviews:,}",
            f"written in        {self.seconds:.1f}s over {self.chunks} chunk(s)",
        ]

    def __str__(self) -> str:
        return "\n".join(self.lines())


@dataclass(frozen=True)
class _ChunkCounts:
    events_lines: int = 0
    transactions: int = 0
    profiles: int = 0
    reviews: int = 0

    def __add__(self, other: _ChunkCounts) -> _ChunkCounts:
        return _ChunkCounts(*(a + b for a, b in zip(vars(self).values(), vars(other).values(), strict=True)))


def generate_landing(
    spark: SparkSession,
    cfg: GeneratorConfig,
    landing: str,
    progress: Callable[[str], None] = print,
) -> GenerationSummary:
    """Replace the generated sources under `landing` with a fresh, seed-determined set.

    Re-running with the same config gives byte-identical files; other files in the landing
    zone are left alone.
    """
    validate(cfg, landing)
    if spark.conf.get("spark.sql.session.timeZone") != "UTC":
        raise EnvironmentSetupError(
            "the generator needs spark.sql.session.timeZone=UTC (seglake.session.get_spark sets it)"
        )
    ctx = GenContext.of(cfg)
    files = LandingFiles(spark, landing)
    files.delete(OUTPUTS)
    files.delete_scratch()
    started = time.monotonic()
    totals = _ChunkCounts()
    steps = _Steps.of(ctx)
    for chunk in ctx.chunks():
        totals += _write_chunk(spark, ctx, steps, files, chunk)
        progress(
            f"chunk {chunk.index + 1}/{ctx.budget.chunks}: {totals.events_lines:,} event lines, "
            f"{totals.transactions:,} transactions, {totals.profiles:,} profile rows, "
            f"{totals.reviews:,} reviews so far; {time.monotonic() - started:.1f}s elapsed"
        )
    files.delete_scratch()
    return GenerationSummary(
        landing=files.root,
        customers=cfg.customers,
        bots=ctx.budget.bots,
        chunks=ctx.budget.chunks,
        seconds=round(time.monotonic() - started, 1),
        **vars(totals),
    )


def validate(cfg: GeneratorConfig, landing: str) -> None:
    """Reject configs that cannot produce the promised output, naming the key at fault."""
    if not landing or not landing.strip():
        raise InputError("generator: the landing path is empty")
    checks = [
        (cfg.customers >= 1, f"generator.customers must be at least 1, got {cfg.customers}"),
        (
            cfg.events >= cfg.customers,
            f"generator.events ({cfg.events}) must be at least generator.customers ({cfg.customers}): "
            "every customer needs at least one event on average",
        ),
        (cfg.days >= 1, f"generator.days must be at least 1, got {cfg.days}"),
        (
            cfg.customers_per_chunk >= 1,
            f"generator.customers_per_chunk must be at least 1, got {cfg.customers_per_chunk}",
        ),
        (
            1 <= cfg.files_per_chunk <= 100,
            f"generator.files_per_chunk must be between 1 and 100, got {cfg.files_per_chunk}",
        ),
    ]
    for name, rate in vars(cfg.dirty).items():
        checks.append((0.0 <= rate < 1.0, f"generator.dirty.{name} must be in [0, 1), got {rate}"))
    line_rates = (
        cfg.dirty.malformed_json + cfg.dirty.wrong_type + cfg.dirty.late + cfg.dirty.future + cfg.dirty.missing_id
    )
    checks.append(
        (
            line_rates <= 0.5,
            f"generator.dirty: malformed_json + wrong_type + late + future + missing_id is "
            f"{line_rates:g}; at most 0.5 of the lines can be dirty",
        )
    )
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)
    try:
        dt.date.fromisoformat(cfg.start_date)
    except (TypeError, ValueError):
        raise ConfigError(f"generator.start_date must be a date like 2025-01-01, got {cfg.start_date!r}") from None


@dataclass(frozen=True)
class _Steps:
    """The transforms of one run, built once: building their Column expressions costs
    thousands of JVM calls, which would otherwise be repeated for every chunk."""

    visitor_traits: Transform
    sessions: Transform
    events: Transform
    transactions: Callable[[DataFrame, DataFrame], DataFrame]
    profiles: Transform
    reviews: Transform
    truth: Transform

    @classmethod
    def of(cls, ctx: GenContext) -> _Steps:
        return cls(
            visitor_traits=visitor_traits(ctx),
            sessions=sessions(ctx),
            events=event_lines(ctx),
            transactions=transaction_rows(ctx),
            profiles=profile_rows(ctx),
            reviews=review_rows(ctx),
            truth=truth_rows(ctx),
        )


def _write_chunk(
    spark: SparkSession, ctx: GenContext, steps: _Steps, files: LandingFiles, chunk: Chunk
) -> _ChunkCounts:
    c = chunk.index
    visitors = chunk_visitors(spark, ctx, chunk, steps.visitor_traits)
    chunk_sessions = visitors.transform(steps.sessions)

    # Events keep the visitor partitioning made for the session window: one file each.
    events = chunk_sessions.transform(steps.events).sortWithinPartitions("ts_ms", "message_id", "copy")
    n_events = _write(files, events.select("value"), "text", EVENTS, lambda p: f"part-{c:05d}-{p:02d}.json.gz")

    transactions = (
        steps.transactions(chunk_sessions, visitors).coalesce(1).sortWithinPartitions("ts_ms", "order_ref", "copy")
    )
    n_transactions = _write(
        files, transactions.select(*TRANSACTION_COLUMNS), "csv", TRANSACTIONS, lambda _: f"part-{c:05d}.csv"
    )

    profiles = visitors.transform(steps.profiles).coalesce(1).sortWithinPartitions("vkey", "version")
    n_profiles = _write(files, profiles.select(*PROFILE_COLUMNS), "csv", PROFILES, lambda _: f"part-{c:05d}.csv")

    reviews = chunk_sessions.transform(steps.reviews).coalesce(1).sortWithinPartitions("ts_ms", "review_id")
    n_reviews = _write(files, reviews.select("value"), "text", REVIEWS, lambda _: f"part-{c:05d}.json.gz")

    truth = visitors.transform(steps.truth).coalesce(1).sortWithinPartitions("vkey")
    _write(files, truth.select(*TRUTH_COLUMNS), "csv", TRUTH, lambda _: f"part-{c:05d}.csv")
    return _ChunkCounts(n_events, n_transactions, n_profiles, n_reviews)


def _write(
    files: LandingFiles, df: DataFrame, fmt: Literal["text", "csv"], folder: str, name: Callable[[int], str]
) -> int:
    """One Spark write into scratch, then fixed names; returns the rows written.

    The row count comes from an Observation of the write itself, not a second job.
    """
    observation = Observation(folder.replace("/", "_"))
    observed = df.observe(observation, F.count(F.lit(1)).alias("rows"))
    scratch = files.scratch(folder.replace("/", "_"))
    writer = observed.write.mode("overwrite")
    if fmt == "text":
        writer.text(scratch, compression="gzip")
    else:
        writer.csv(scratch, header=True, compression="none")
    files.publish(scratch, folder, name)
    return int(observation.get["rows"])
