"""Small column helpers shared by the feature families."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from pyspark.sql import Column
from pyspark.sql import functions as F

from seglake.config.schema import FeaturesConfig


@dataclass(frozen=True)
class Aggregation:
    """A family's share of one source's single per-customer aggregation.

    `aggs` are aggregate expressions over the source's rows; `derived` are computed from
    those aggregates (ratios, argmax); columns whose name starts with "_" are helpers and
    dropped afterwards. `counts` name outputs that are a true zero (not unknown) for a
    customer without rows in the source. `prepared` are per-row columns computed once
    before aggregating (e.g. a category's index), so many aggregates can test a small
    integer instead of repeating a string comparison.
    """

    aggs: list[Column]
    derived: list[Column] = field(default_factory=list)
    counts: list[str] = field(default_factory=list)
    prepared: list[Column] = field(default_factory=list)


def midnight(d: date) -> datetime:
    return datetime.combine(d, time.min)


def since(ts: Column, as_of: date, days: int) -> Column:
    """ts falls in the `days` days before as_of (the caller has already cut at as_of)."""
    return ts >= F.lit(midnight(as_of - timedelta(days=days)))


def between_days_ago(ts: Column, as_of: date, newest: int, oldest: int) -> Column:
    """ts falls in [as_of - oldest days, as_of - newest days)."""
    return (ts >= F.lit(midnight(as_of - timedelta(days=oldest)))) & (
        ts < F.lit(midnight(as_of - timedelta(days=newest)))
    )


def ratio(num: Column, den: Column) -> Column:
    # Undefined (null), not zero, when there is nothing to divide by.
    return F.when(den > 0, num.cast("double") / den)


def count_if(cond: Column) -> Column:
    return F.count(F.when(cond, 1))


def sum_if(cond: Column, value: Column) -> Column:
    return F.sum(F.when(cond, value))


def argmax_label(counts: Sequence[tuple[str, Column]]) -> Column:
    """Label of the largest count; ties go to the earlier label; null when all are 0.

    Labels are chosen from numeric counts so the per-source aggregation keeps numeric
    buffers only (Spark's fast hash aggregation); a string buffer (mode, max_by) would
    force a sort of every input row."""
    candidates = [
        F.struct(F.coalesce(c, F.lit(0)).alias("n"), F.lit(-i).alias("rank"), F.lit(label).alias("label"))
        for i, (label, c) in enumerate(counts)
    ]
    best = F.greatest(*candidates) if len(candidates) > 1 else candidates[0]
    return F.when(best["n"] > 0, best["label"])


def label_index(value: Column, labels: Sequence[str]) -> Column:
    """1-based position of the value among the labels; 0 when it is none of them, null
    when the value is null."""
    return F.array_position(F.array(*[F.lit(x) for x in labels]), value).cast("int")


def month_day(ts: Column) -> Column:
    return F.month(ts) * 100 + F.dayofmonth(ts)


def parse_month_day(text: str) -> int:
    month, day = (int(x) for x in text.split("-"))
    return month * 100 + day


def in_period(ts: Column, start: str, end: str) -> Column:
    """ts (a local date-time) falls in the yearly period start..end (MM-DD, inclusive)."""
    md, lo, hi = month_day(ts), parse_month_day(start), parse_month_day(end)
    return md.between(lo, hi) if lo <= hi else (md >= lo) | (md <= hi)


def iso_weekday(ts: Column) -> Column:
    """1 = Monday ... 7 = Sunday."""
    return ((F.dayofweek(ts) + 5) % 7) + 1


def slug(name: str) -> str:
    """A value as it appears in a column name: lower case, non-alphanumerics as '_'."""
    return re.sub(r"[^0-9a-z]+", "_", name.lower()).strip("_")


def trend(recent: Column, previous: Column, cfg: FeaturesConfig) -> Column:
    """Daily rate in the recent window over the daily rate in the previous one; null when
    the previous window is empty (no base to compare with)."""
    per_day_recent = F.coalesce(recent, F.lit(0)).cast("double") / cfg.trend_recent_days
    return F.when(previous > 0, per_day_recent / (previous.cast("double") / cfg.trend_previous_days))
