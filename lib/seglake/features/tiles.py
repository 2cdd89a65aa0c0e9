"""Aggregates over nested day windows (7, 30, 90, 365 days before as_of ...) in two steps.

Asked directly, every window is its own conditional aggregate: a row is tested against
each window for each measure (some hundred aggregates per session), which is more
aggregation buffer than Spark's generated code handles, so it runs without it. Tiled,
the days before as_of are cut at every window's edge into disjoint tiles; each row falls
in exactly one, so the first step aggregates every measure once per customer and tile
(few enough for generated code), and the second sums, for each window, the few tiles it
covers per customer.

The rows are shuffled by customer once, before the first step: both steps then group
rows already together, and no partial aggregation of a customer's scattered rows (which
barely reduces them) is shuffled.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from seglake.features.common import count_if, ratio, since

TILE = "_tile"
_MEASURE = "_tile_"


class TiledAggregation:
    """Collects the measures a family needs per tile while handing back, for each
    feature, the per-customer aggregate over the tiles of its window.

    A measure is named by its kind and a name chosen by the family: two features asking
    for the same measure (sessions counted for two windows, or by two families) share
    it, so a name must always stand for the same expression.
    """

    def __init__(self, as_of: date, edges: Iterable[int]) -> None:
        self.as_of = as_of
        # Day counts before as_of, ascending: tile k holds [as_of - edges[k],
        # as_of - edges[k-1]) and the last tile everything older than the widest window.
        self.edges = tuple(sorted(set(edges)))
        if not self.edges or self.edges[0] <= 0:
            raise ValueError(f"window edges must be positive day counts, not {self.edges}")
        self._measures: dict[str, Column] = {}

    # -- spans: which tiles a feature covers ----------------------------------------
    def within(self, days: int) -> Column:
        """The last `days` days before as_of."""
        return F.col(TILE) <= self._edge(days)

    def between(self, newest: int, oldest: int) -> Column:
        """From `oldest` days before as_of up to `newest` days before it."""
        return (F.col(TILE) > self._edge(newest)) & (F.col(TILE) <= self._edge(oldest))

    def _edge(self, days: int) -> int:
        if days not in self.edges:
            raise ValueError(f"{days} days is not one of the tiles' edges {self.edges}")
        return self.edges.index(days)

    # -- features: per-customer aggregates over a span (every tile when None) ----------
    def count(self, name: str, cond: Column | None = None, span: Column | None = None) -> Column:
        """Rows (where `cond`) in the span; 0, not null, when there are none."""
        measure = self._measure(f"count_{name}", F.count(F.lit(1)) if cond is None else count_if(cond))
        return F.sum(measure if span is None else F.when(span, measure).otherwise(F.lit(0)))

    def sum(self, name: str, value: Column, span: Column | None = None) -> Column:
        """Sum of `value` in the span; null when it has no value."""
        return F.sum(self._within(self._measure(f"sum_{name}", F.sum(value)), span))

    def max(self, name: str, value: Column, span: Column | None = None) -> Column:
        return F.max(self._within(self._measure(f"max_{name}", F.max(value)), span))

    def min(self, name: str, value: Column, span: Column | None = None) -> Column:
        return F.min(self._within(self._measure(f"min_{name}", F.min(value)), span))

    def avg(self, name: str, value: Column, span: Column | None = None) -> Column:
        """Mean of `value` in the span; null when it has no value."""
        total = F.sum(self._within(self._measure(f"sum_{name}", F.sum(value)), span))
        values = F.sum(self._within(self._measure(f"values_{name}", F.count(value)), span))
        return ratio(total, values)

    def _measure(self, key: str, aggregate: Column) -> Column:
        column = f"{_MEASURE}{key}"
        self._measures.setdefault(column, aggregate.alias(column))
        return F.col(column)

    @staticmethod
    def _within(measure: Column, span: Column | None) -> Column:
        return measure if span is None else F.when(span, measure)

    # -- the two steps ------------------------------------------------------------------
    def tile(self, ts: Column) -> Column:
        """The tile of a row stamped `ts`."""
        index = F.lit(len(self.edges))
        for k in reversed(range(len(self.edges))):
            index = F.when(since(ts, self.as_of, self.edges[k]), k).otherwise(index)
        return index

    def aggregate(self, rows: DataFrame, ts: Column, features: list[Column]) -> DataFrame:
        """One row per customer with `features` (built by this object's methods) over
        `rows`, tiled by `ts`."""
        if not self._measures:
            raise ValueError("no measure was asked for: build the features before aggregating")
        per_tile = (
            rows.repartition("customer_id")
            .withColumn(TILE, self.tile(ts))
            .groupBy("customer_id", TILE)
            .agg(*self._measures.values())
        )
        return per_tile.groupBy("customer_id").agg(*features)
